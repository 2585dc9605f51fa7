//! An error as one line with every cause in it.
//!
//! Where the solver turns a library error into a message, `to_string()` alone keeps only the
//! outermost layer ("store I/O error at …/work") and drops why ("No space left on device").
//! [`with_causes`] keeps the chain, and says which file system is full when one is.

/// `e: cause: cause…`, each distinct layer once.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut full = false;
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            full |= io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded;
        }
        cause = c.source();
    }
    if full {
        out.push_str(
            " (the file system of that path is full: free space or point --root elsewhere)",
        );
    }
    out
}

/// A store error as a [`crate::SolveError`], causes kept.
pub(crate) fn store_err(e: impl std::error::Error + 'static) -> crate::SolveError {
    crate::SolveError::Store(with_causes(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("store I/O error at /store/tmp/work")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_cause_and_a_full_disk_are_named() {
        let e = Outer(std::io::Error::from_raw_os_error(28));
        let text = with_causes(&e);
        assert!(
            text.starts_with("store I/O error at /store/tmp/work: "),
            "{text}"
        );
        assert!(text.contains("No space left on device"), "{text}");
        assert!(text.contains("file system of that path is full"), "{text}");
        let e = Outer(std::io::Error::from_raw_os_error(13));
        assert!(with_causes(&e).contains("Permission denied"));
    }
}
