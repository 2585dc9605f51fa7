//! Table tests for the forms BuildKit only covers in Go tables (`${v-w}`, `${v+w}`, the
//! pattern forms, matched/unmatched tracking), the backtick escape token, and a
//! no-panic property test. The data-file conformance runs live in
//! `tests/conformance_shell.rs`.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `(input, env, expected or None for an error, matched, unmatched)`.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static [&'static str],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    ("plain", &[("UNUSED", "u")], Some("plain"), &[], &[]),
    (
        "a ${MISSING}",
        &[("OTHER", "o")],
        Some("a "),
        &[],
        &["MISSING"],
    ),
    ("a ${V}", &[("V", "b")], Some("a b"), &["V"], &[]),
    // `-` and `+` without colon: only unset counts.
    (
        "${S-d1}|${E-d2}|${U-d3}",
        &[("S", "set"), ("E", "")],
        Some("set||d3"),
        &["S", "E"],
        &["U"],
    ),
    (
        "${S:-d1}|${E:-d2}|${U:-d3}",
        &[("S", "set"), ("E", "")],
        Some("set|d2|d3"),
        &["S", "E"],
        &["U"],
    ),
    ("${S:-}", &[("S", "v")], Some("v"), &["S"], &[]),
    ("${S:-}", &[], Some(""), &[], &["S"]),
    (
        "${S+p1}|${E+p2}|${U+p3}",
        &[("S", "set"), ("E", "")],
        Some("p1|p2|"),
        &["S", "E"],
        &["U"],
    ),
    (
        "${S:+p1}|${E:+p2}|${U:+p3}",
        &[("S", "set"), ("E", "")],
        Some("p1||"),
        &["S", "E"],
        &["U"],
    ),
    // `?` and `:?`.
    ("${S?oops}", &[("S", "val")], Some("val"), &["S"], &[]),
    ("${E?oops}", &[("E", "")], Some(""), &["E"], &[]),
    ("${U?oops}", &[], None, &[], &["U"]),
    ("${S:?oops}", &[("S", "val")], Some("val"), &["S"], &[]),
    ("${E:?oops}", &[("E", "")], None, &[], &[]),
    ("${U:?oops}", &[], None, &[], &[]),
    ("${U:?}", &[], None, &[], &[]),
    // Assignment forms do not exist.
    ("${S=x}", &[("S", "v")], None, &[], &[]),
    ("${S=:x}", &[("S", "v")], None, &[], &[]),
    ("${S=}", &[], None, &[], &[]),
    ("${S:=x}", &[("S", "v")], None, &[], &[]),
    ("${S:#x}", &[("S", "v")], None, &[], &[]),
    ("${S:%x}", &[("S", "v")], None, &[], &[]),
    // Operand variables are recorded even when the operand is not used.
    (
        "${S:-$O}",
        &[("S", "v"), ("O", "o")],
        Some("v"),
        &["S", "O"],
        &[],
    ),
    ("${U:+$O}", &[("O", "o")], Some(""), &["O"], &["U"]),
    // Prefix removal: shortest and longest.
    (
        r"${P#[](){\}^$.\*\?|\\}",
        &[("P", r"[](){}^$.*?|\rest")],
        Some("rest"),
        &["P"],
        &[],
    ),
    ("${P#*a*b}", &[("P", "aabbab")], Some("bab"), &["P"], &[]),
    ("${P##*a*b}", &[("P", "aabbab")], Some(""), &["P"], &[]),
    ("${P#*}", &[("P", "keep")], Some("keep"), &["P"], &[]),
    ("${P##*}", &[("P", "gone")], Some(""), &["P"], &[]),
    (
        "${P#$N}",
        &[("P", "nnmm"), ("N", "n")],
        Some("nmm"),
        &["P", "N"],
        &[],
    ),
    (
        "${P#$N}",
        &[("P", "nnmm"), ("N", "")],
        Some("nnmm"),
        &["P", "N"],
        &[],
    ),
    ("${P#}", &[("P", "abc")], Some("abc"), &["P"], &[]),
    ("${P##}", &[("P", "abc")], Some("abc"), &["P"], &[]),
    (
        "${P##*/}",
        &[("P", "/usr/local/bin")],
        Some("bin"),
        &["P"],
        &[],
    ),
    (
        "${P#*/}",
        &[("P", "/usr/local/bin")],
        Some("usr/local/bin"),
        &["P"],
        &[],
    ),
    (r"${P#??\?}", &[("P", "ab?c")], Some("c"), &["P"], &[]),
    (r"${P#\a}", &[("P", "abc")], None, &[], &[]),
    ("${P#x}", &[], Some(""), &[], &["P"]),
    // Suffix removal.
    (
        "${Z:-<}${P%q}${Z:-<}",
        &[("P", "pq")],
        Some("<p<"),
        &["P"],
        &["Z"],
    ),
    (
        "${P%.*}",
        &[("P", "archive.tar.gz")],
        Some("archive.tar"),
        &["P"],
        &[],
    ),
    (
        "${P%%.*}",
        &[("P", "archive.tar.gz")],
        Some("archive"),
        &["P"],
        &[],
    ),
    (r"${P%%\**\*}", &[("P", "b**zz*")], Some("b"), &["P"], &[]),
    (r"${P%\**}", &[("P", "ab**")], Some("ab*"), &["P"], &[]),
    ("${P%}", &[("P", "abc")], Some("abc"), &["P"], &[]),
    (
        "${P%%$N}",
        &[("P", "abc"), ("N", "")],
        Some("abc"),
        &["P", "N"],
        &[],
    ),
    // Brackets are literal in BuildKit's patterns.
    ("${P#[ab]}", &[("P", "[ab]c")], Some("c"), &["P"], &[]),
    ("${P#[ab]}", &[("P", "ac")], Some("ac"), &["P"], &[]),
    // Replacement.
    (
        "${P/$N/-} ${P//$N/-}",
        &[("P", "/x*/*/*.md"), ("N", r"\*/")],
        Some("/x-*/*.md /x--*.md"),
        &["P", "N"],
        &[],
    ),
    (
        "${P/$N/} ${P//$N/}",
        &[("P", "/opt/opt/f"), ("N", "/opt")],
        Some("/opt/f /f"),
        &["P", "N"],
        &[],
    ),
    (
        "${P/$N/$R} ${P//$N/$R}",
        &[("P", "/a/b/c/d"), ("N", "/?/"), ("R", "/")],
        Some("/b/c/d /b/d"),
        &["P", "N", "R"],
        &[],
    ),
    (
        "${P/$N/$R}",
        &[("P", "git://host/r"), ("N", "git://"), ("R", "https://")],
        Some("https://host/r"),
        &["P", "N", "R"],
        &[],
    ),
    (
        r"${P//\//\/}",
        &[("P", "/a/b")],
        Some(r"\/a\/b"),
        &["P"],
        &[],
    ),
    (
        "${P/$E/zz}",
        &[("P", "ab"), ("E", "")],
        Some("zzab"),
        &["P", "E"],
        &[],
    ),
    ("${P//zz}", &[("P", "ab")], None, &[], &[]),
    ("${P//}", &[("P", "ab")], None, &[], &[]),
    ("${P///}", &[("P", "ab")], Some("ab"), &["P"], &[]),
    ("${P///}", &[], Some(""), &[], &["P"]),
    ("${P/b*/X}", &[("P", "abcb")], Some("aX"), &["P"], &[]),
    // Platform-style composition.
    (
        "app-${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tgz",
        &[("OS", "linux"), ("ARCH", "arm"), ("VARIANT", "v7")],
        Some("app-linux-arm-v7.tgz"),
        &["OS", "ARCH", "VARIANT"],
        &[],
    ),
    (
        "app-${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tgz",
        &[("OS", "linux"), ("ARCH", "amd64")],
        Some("app-linux-amd64.tgz"),
        &["OS", "ARCH"],
        &["VARIANT"],
    ),
];

#[test]
fn table_process_with_matches() {
    let lex = Lexer::new('\\');
    for (input, vars, expected, matched, unmatched) in CASES {
        let env = env(vars);
        let got = lex.process_word_detailed(input, &env);
        match expected {
            None => assert!(got.is_err(), "{input:?} should fail, got {got:?}"),
            Some(want) => {
                let got = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                assert_eq!(got.word, *want, "{input:?}");
                assert_eq!(got.matched, set(matched), "matched for {input:?}");
                assert_eq!(got.unmatched, set(unmatched), "unmatched for {input:?}");
                let (word, m) = lex
                    .process_word_with_matches(input, &env)
                    .unwrap_or_else(|e| panic!("{input:?}: {e}"));
                assert_eq!((word.as_str(), m), (*want, set(matched)));
            }
        }
    }
}

#[test]
fn required_variable_messages() {
    let lex = Lexer::default();
    let word = "${VAR:?message here$ARG}";
    let set_env = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    assert_eq!(lex.process_word(word, &set_env).as_deref(), Ok("plain"));
    for e in [&empty, &unset] {
        let err = lex.process_word(word, e).err().map(|e| e.message);
        assert!(
            err.as_deref()
                .is_some_and(|m| m.contains("VAR: message herex")),
            "{err:?}"
        );
    }
    let word = "${VAR?message here$ARG}";
    assert_eq!(lex.process_word(word, &empty).as_deref(), Ok(""));
    let err = lex.process_word(word, &unset).err().map(|e| e.message);
    assert!(
        err.as_deref().is_some_and(|m| m.contains("message herex")),
        "{err:?}"
    );
    let err = lex.process_word("${U?}", &unset).err().map(|e| e.message);
    assert!(
        err.as_deref()
            .is_some_and(|m| m.contains("U: is not allowed to be unset"))
    );
    let err = lex
        .process_word("${VAR:?}", &empty)
        .err()
        .map(|e| e.message);
    assert!(
        err.as_deref()
            .is_some_and(|m| m.contains("VAR: is not allowed to be empty"))
    );
}

#[test]
fn error_offsets_point_into_the_word() {
    let lex = Lexer::default();
    let e = lex.process_word("ab'cd", &env(&[]));
    assert_eq!(e.map_err(|e| e.offset), Err(Some(5)));
    let e = lex.process_word("x${}", &env(&[]));
    assert_eq!(e.map_err(|e| e.offset), Err(Some(3)));
}

#[test]
fn backtick_escape_token() {
    let lex = Lexer::new('`');
    let e = env(&[("V", "val")]);
    let cases = [
        ("a`$V", "a$V"),
        (r"C:\path\$V", r"C:\path\val"),
        ("\"`\"q`$V\"", "\"q$V"),
        ("\"a`b\"", "a`b"),
        ("a``b", "a`b"),
        ("end`", "end"),
        (r"'\x'", r"\x"),
    ];
    for (input, want) in cases {
        assert_eq!(
            lex.process_word(input, &e).as_deref(),
            Ok(want),
            "{input:?}"
        );
    }
    assert_eq!(
        lex.process_words("a` b c", &e).ok(),
        Some(vec!["a b".to_string(), "c".to_string()])
    );
}

#[test]
fn words_split_on_unquoted_whitespace_only() {
    let lex = Lexer::default();
    let e = env(&[("S", " x  y "), ("T", "\tq\n")]);
    let cases: &[(&str, &[&str])] = &[
        ("a$S", &["a", "x", "y"]),
        ("\"a$S\"", &["a x  y "]),
        ("'' \"\" ", &[]),
        ("${T}z", &["q", "z"]),
        ("${U:-a b}", &["a", "b"]),
        ("ab${U:-c}d", &["abcd"]),
        ("ab${U:-c d}e", &["abc", "de"]),
        ("x\\ \\ y", &["x  y"]),
    ];
    for (input, want) in cases {
        let got = lex.process_words(input, &e);
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, Ok(want), "{input:?}");
    }
}

#[test]
fn leading_bom_is_skipped_like_go_text_scanner() {
    let lex = Lexer::default();
    assert_eq!(lex.process_word("\u{feff}a", &env(&[])).as_deref(), Ok("a"));
    assert_eq!(
        lex.process_word("a\u{feff}", &env(&[])).as_deref(),
        Ok("a\u{feff}")
    );
}

#[test]
fn unicode_names_end_like_go() {
    let lex = Lexer::default();
    let e = env(&[("한", "K"), ("x", "X")]);
    assert_eq!(lex.process_word("$한.", &e).as_deref(), Ok("K."));
    // U+2167 (ROMAN NUMERAL EIGHT) is a letter-number, not a letter: the name stops.
    assert_eq!(
        lex.process_word("$x\u{2167}", &e).as_deref(),
        Ok("X\u{2167}")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics(word in "[a-z$\\\\{}:?#%/+\\-*'\" `\\[\\]\t\n.@!0-9한]{0,40}") {
        let e = env(&[("a", "x y"), ("b", ""), ("c", "*/?\\")]);
        for esc in ['\\', '`'] {
            let lex = Lexer::new(esc);
            let _ = lex.process_word(&word, &e);
            let _ = lex.process_words(&word, &e);
            let _ = lex.process_word_with_matches(&word, &e);
        }
    }

    #[test]
    fn never_panics_any_string(word in any::<String>()) {
        let e = env(&[("a", "x y")]);
        let _ = Lexer::default().process_words(&word, &e);
    }

    #[test]
    fn patterns_never_panic(
        value in "[a-c*?/\\\\\n]{0,12}",
        pat in "[a-c*?/\\\\{}]{0,8}",
        op in prop::sample::select(vec!["#", "##", "%", "%%", "/", "//"]),
    ) {
        let e = env(&[("v", value.as_str()), ("p", pat.as_str())]);
        let word = if op.starts_with('/') {
            format!("${{v{op}$p/r}}")
        } else {
            format!("${{v{op}$p}}")
        };
        let _ = Lexer::default().process_word(&word, &e);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let word = "${A:-".repeat(100_000) + &"}".repeat(100_000);
    let env: Vec<(String, String)> = Vec::new();
    assert!(Lexer::new('\\').process_word(&word, &env).is_err());
    let ok = "${A:-".repeat(10) + "x" + &"}".repeat(10);
    assert_eq!(Lexer::new('\\').process_word(&ok, &env).unwrap(), "x");
}

proptest! {
    /// The literal fast path must agree with the full expander.
    #[test]
    fn literal_fast_path_agrees_with_expander(word in "[a-zA-Z0-9 ./:_=,@%{}-]{0,40}") {
        let env: Vec<(String, String)> = vec![("A".into(), "x".into())];
        let lex = Lexer::new('\\');
        let slow = lex.process_word_detailed(&word, &env).map(|e| e.word);
        prop_assert_eq!(lex.process_word(&word, &env), slow.clone());
        prop_assert_eq!(lex.process_word_with_matches(&word, &env).map(|(w, _)| w), slow);
    }
}
