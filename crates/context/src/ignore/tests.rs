//! Unit tests of the matcher itself; the upstream tables run from
//! `tests/conformance_dockerignore.rs`.

use proptest::prelude::*;

use super::*;

fn m(patterns: &[&str]) -> IgnoreMatcher {
    IgnoreMatcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
}

#[test]
fn exclusions_and_order() {
    let pm = m(&["docs", "!docs/README.md", "*.tmp"]);
    assert!(pm.has_exclusions());
    assert_eq!(pm.matches("docs/a.md"), Ok(true));
    assert_eq!(pm.matches("docs/README.md"), Ok(false));
    assert_eq!(pm.matches("x.tmp"), Ok(true));
    assert_eq!(pm.patterns()[1].text(), "docs/README.md");
    assert!(pm.patterns()[1].is_exclusion());
    assert!(!m(&["a"]).has_exclusions());
}

#[test]
fn bang_is_checked_after_cleaning() {
    assert_eq!(
        IgnoreMatcher::new(["!"]).err(),
        Some(PatternError::IllegalExclusion)
    );
    assert_eq!(
        IgnoreMatcher::new(["  !  "]).err(),
        Some(PatternError::IllegalExclusion)
    );
    assert!(IgnoreMatcher::new(["!./"]).is_ok_and(|p| p.patterns()[0].text() == "."));
}

#[test]
fn empty_and_blank_patterns_are_dropped() {
    let pm = m(&["", "   ", "a"]);
    assert_eq!(pm.patterns().len(), 1);
    assert_eq!(pm.patterns()[0].original(), "a");
}

#[test]
fn regex_only_errors_surface_on_use() {
    // `filepath.Match` accepts `[Local-Only]` but the regex range `l-O` is invalid.
    let pm = m(&["[Local-Only]/"]);
    assert!(pm.matches("x").is_err());
    assert!(pm.matches("x").is_err());
    // Not evaluated: an earlier inclusion already matched and this is an inclusion too.
    let pm = m(&["*", "[Local-Only]"]);
    assert_eq!(pm.matches("x"), Ok(true));
}

#[test]
fn bang_class_is_not_negation() {
    let pm = m(&["[!a]b"]);
    assert_eq!(pm.matches("!b"), Ok(true));
    assert_eq!(pm.matches("ab"), Ok(true));
    assert_eq!(pm.matches("cb"), Ok(false));
}

#[test]
fn using_parent_results_walk() {
    let pm = m(&["build", "!build/keep", "**/*.o"]);
    let (root_m, root) = pm
        .matches_using_parent("build", &MatchInfo::default())
        .unwrap_or_default();
    assert!(root_m);
    let (keep, keep_info) = pm
        .matches_using_parent("build/keep", &root)
        .unwrap_or_default();
    assert!(!keep);
    let (obj, _) = pm
        .matches_using_parent("build/keep/x.o", &keep_info)
        .unwrap_or_default();
    assert!(obj);
    let other = m(&["a"]);
    assert_eq!(
        other.matches_using_parent("a/b", &root).err(),
        Some(PatternError::WrongParentInfo)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn never_panics(
        patterns in prop::collection::vec("[a-c!*?/\\\\\\[\\]^\\-.:{}()$|+ \n☺]{0,10}", 0..4),
        path in "[a-c*?/\\\\\\[\\]^\\-. \n☺]{0,12}",
    ) {
        if let Ok(pm) = IgnoreMatcher::new(&patterns) {
            let _ = pm.matches(&path);
            let _ = pm.matches_legacy(&path);
            let _ = pm.matches_using_parent(&path, &MatchInfo::default());
        }
    }

    #[test]
    fn incremental_agrees_with_direct(
        // One pattern: with several, upstream's incremental API can legitimately differ
        // (an inclusion skipped at the parent is not re-checked against ancestors).
        patterns in prop::collection::vec("(\\*\\*/)?[ab*?]{1,3}(/[ab*]{1,2})?(/\\*\\*)?", 1..2),
        path in "[ab]{1,2}(/[ab]{1,2}){0,3}",
    ) {
        let Ok(pm) = IgnoreMatcher::new(&patterns) else { return Ok(()) };
        let direct = pm.matches(&path);
        let parts: Vec<&str> = path.split('/').collect();
        let mut info = MatchInfo::default();
        let mut walked = Ok(false);
        for n in 1..=parts.len() {
            match pm.matches_using_parent(&parts[..n].join("/"), &info) {
                Ok((hit, next)) => { walked = Ok(hit); info = next; }
                Err(e) => { walked = Err(e); break; }
            }
        }
        prop_assert_eq!(direct, walked);
    }

    #[test]
    fn any_text_never_panics(pattern in any::<String>(), path in any::<String>()) {
        if let Ok(pm) = IgnoreMatcher::new([pattern]) {
            let _ = pm.matches(&path);
            let _ = pm.matches_legacy(&path);
        }
        let _ = read_ignore_file(&path);
    }
}
