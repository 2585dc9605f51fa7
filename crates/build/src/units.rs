//! Sizes as docker prints them, for every driver's output (progress notes, image lists).

/// Docker's `units.HumanSize`: decimal units, three significant digits (`4.26MB`, `723kB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let mut text = format!("{v:.digits$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS.get(i).copied().unwrap_or("EB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_050_000), "1.05MB");
        assert_eq!(human_size(723_400), "723kB");
        assert_eq!(human_size(2_000_000), "2MB");
    }
}
