//! A `.dockerignore` (before the first NUL) and paths to match (after it, one per line):
//! compiling and matching — whole-path, legacy, and incremental as the context walk does it —
//! never panic.
//!
//! No differential between the whole-path and the incremental forms: upstream's own differ
//! (`MatchesUsingParentResults` skips an exclusion that cannot change the parent's result and
//! records it as unmatched, so `docs/**` + `!docs` ignores `docs/x` walking, not whole), and
//! cairn keeps both as upstream has them.
#![no_main]

use cairn_context::{IgnoreMatcher, MatchInfo, read_ignore_file};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (ignore, paths) = text.split_once('\0').unwrap_or((&text, "a/b/c"));
    let Ok(matcher) = IgnoreMatcher::new(read_ignore_file(ignore)) else {
        return;
    };
    for path in paths.split('\n').filter(|p| !p.is_empty()) {
        let _ = matcher.matches_legacy(path);
        let _ = matcher.matches(path);
        let mut info = MatchInfo::default();
        let mut walked = String::new();
        for part in path.split('/') {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            match matcher.matches_using_parent(&walked, &info) {
                Ok((_, next)) => info = next,
                Err(_) => break,
            }
        }
    }
});
