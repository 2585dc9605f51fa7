//! Independent stages run at the same time: checked from the progress events' intervals, not
//! from wall time.

use super::fixture::{Env, context};

#[test]
fn independent_stages_overlap() {
    let env = Env::new();
    let df = "\
FROM busybox AS one
RUN sleep 1 && echo one > /one
FROM busybox AS two
RUN sleep 1 && echo two > /two
FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
";
    let c = context(&[("Dockerfile", df)]);
    let b = env.build_ok(c.path(), &["--jobs", "4"]);
    let iv = b.intervals();
    let find = |needle: &str| {
        iv.iter()
            .find(|(n, _, _)| n.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no {needle} in {iv:?}"))
    };
    let (_, s1, e1) = find("echo one");
    let (_, s2, e2) = find("echo two");
    assert!(e1 > s1 && e2 > s2, "{iv:?}");
    assert!(s1 < e2 && s2 < e1, "the two stages did not overlap: {iv:?}");
}

#[test]
fn jobs_one_serialises() {
    let env = Env::new();
    let df = "\
FROM busybox AS one
RUN sleep 0.3 && echo one > /one
FROM busybox AS two
RUN sleep 0.3 && echo two > /two
FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
";
    let c = context(&[("Dockerfile", df)]);
    let b = env.build_ok(c.path(), &["--jobs", "1"]);
    let mut iv = b.intervals();
    iv.sort_by_key(|x| x.1);
    for w in iv.windows(2) {
        assert!(w[0].2 <= w[1].1, "steps overlapped with --jobs 1: {iv:?}");
    }
}
