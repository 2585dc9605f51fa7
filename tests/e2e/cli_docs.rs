//! `cairn completion SHELL` and `cairn man`: made from the same definitions as `--help`.

use crate::util::cairn;

#[test]
fn completions_and_man_pages() {
    let out = cairn()
        .args(["completion", "bash"])
        .output()
        .expect("cairn completion");
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    for word in ["cairn", "bake", "--frontend", "--cache-to"] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completion"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cairn.bash");
    std::fs::write(&file, &script).expect("write");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .status()
        .expect("bash");
    assert!(syntax.success(), "the bash completion does not parse");
    for shell in ["zsh", "fish"] {
        let out = cairn()
            .args(["completion", shell])
            .output()
            .expect("cairn completion");
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }

    let out = cairn().arg("man").output().expect("cairn man");
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH cairn") && page.contains("bake"),
        "{page}"
    );
    let pages = dir.path().join("man");
    let out = cairn()
        .args(["man", "--dir"])
        .arg(&pages)
        .output()
        .expect("cairn man --dir");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let build = std::fs::read_to_string(pages.join("cairn-build.1")).expect("cairn-build.1");
    assert!(
        build.contains("NAME[:TAG]") && build.contains("frontend"),
        "{build}"
    );
}
