//! BuildKit's `dockerfile_args_test.go`, `dockerfile_cmd_test.go` and the ONBUILD case of
//! `dockerfile_heredoc_test.go`: ARG and ENV expansion, the default shell and PATH, and
//! the errors of a failing command or an unknown instruction.

use super::super::fixture::{Env, context, out_dir};
use super::{build_passes, built_config};

#[test]
fn default_env_with_args() {
    // testDefaultEnvWithArgs: "nil", "empty" and "override" build args.
    let dockerfile = r#"
ARG image=idlebox
FROM busy${image#idle} AS build
ARG my_arg
ENV my_arg "my_arg=${my_arg:-def_val}"
ENV my_trimmed_arg "${my_arg%%e*}"
COPY myscript.sh myscript.sh
RUN ./myscript.sh $my_arg $my_trimmed_arg
FROM scratch
COPY --from=build /out /out
"#;
    let script = "\n#!/usr/bin/env sh\necho -n $my_arg $* > /out\n";
    let env = Env::new();
    let c = context(&[("Dockerfile", dockerfile), ("myscript.sh", script)]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        c.path().join("myscript.sh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    for (args, want) in [
        (vec![], "my_arg=def_val my_arg=def_val my_arg=d"),
        (
            vec!["--build-arg", "my_arg="],
            "my_arg=def_val my_arg=def_val my_arg=d",
        ),
        (
            vec!["--build-arg", "my_arg=override"],
            "my_arg=override my_arg=override my_arg=ov",
        ),
    ] {
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut flags = args.clone();
        flags.push(&dest);
        env.build_ok(c.path(), &flags);
        let got = std::fs::read_to_string(out.join("out")).expect("out");
        assert_eq!(got, want, "with {args:?}");
    }
}

#[test]
fn an_empty_arg_is_in_the_environment_an_unset_one_is_not() {
    // testEmptyStringArgInEnv.
    let (_t, out) = super::build_out(
        "FROM busybox AS build\nARG FOO\nARG BAR=\nRUN env > env.txt\nFROM scratch\nCOPY --from=build env.txt .\n",
        &[],
        &[],
    );
    let env = std::fs::read_to_string(out.join("env.txt")).expect("env.txt");
    assert!(env.lines().any(|l| l == "BAR="), "{env}");
    assert!(!env.contains("FOO="), "{env}");
}

#[test]
fn env_keeps_percent_formatting_verbs() {
    // testEnvEmptyFormatting.
    build_passes(
        "FROM busybox AS build\nENV myenv foo%sbar\nRUN [ \"$myenv\" = 'foo%sbar' ]\n",
        &[],
    );
}

#[test]
fn shell_form_entrypoint_uses_the_shell_and_clears_an_inherited_cmd() {
    // testCmdShell.
    let env = Env::new();
    built_config(
        &env,
        &[("Dockerfile", "FROM scratch\nCMD [\"test\"]\n")],
        &["-t", "cmdoverridetest:latest"],
    );
    let img = built_config(
        &env,
        &[(
            "Dockerfile",
            "FROM cmdoverridetest:latest\nSHELL [\"ls\"]\nENTRYPOINT my entrypoint\n",
        )],
        &[],
    );
    assert!(img["config"]["Cmd"].is_null(), "{}", img["config"]);
    assert_eq!(
        img["config"]["Entrypoint"],
        serde_json::json!(["ls", "my entrypoint"])
    );
}

#[test]
fn scratch_gets_the_default_shell_and_path() {
    // testDefaultShellAndPath (the linux/amd64 half; Windows images are out of scope).
    let env = Env::new();
    let img = built_config(
        &env,
        &[(
            "Dockerfile",
            "FROM scratch\nENTRYPOINT foo bar\nCOPY Dockerfile .\n",
        )],
        &[],
    );
    assert_eq!(
        img["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "foo bar"])
    );
    assert_eq!(
        img["config"]["Env"],
        serde_json::json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    );
    assert_eq!(img["os"], "linux");
    assert_eq!(img["architecture"], "amd64");
}

#[test]
fn a_failing_command_and_an_unknown_instruction_say_what_failed() {
    // testDockerfileInvalidCommand, testDockerfileInvalidInstruction.
    let env = Env::new();
    let c = context(&[("Dockerfile", "FROM busybox\nRUN invalidcmd\n")]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(b.stderr.contains("/bin/sh -c invalidcmd"), "{}", b.stderr);
    assert!(
        b.stderr.contains("did not complete successfully"),
        "{}",
        b.stderr
    );
    let c = context(&[(
        "Dockerfile",
        "FROM scratch\nFNTRYPOINT [\"/bin/sh\", \"-c\", \"echo invalidinstruction\"]\n",
    )]);
    let b = env.build(c.path(), &[]);
    assert!(!b.success);
    assert!(
        b.stderr.contains("unknown instruction: FNTRYPOINT"),
        "{}",
        b.stderr
    );
    assert!(
        b.stderr.contains("did you mean ENTRYPOINT?"),
        "{}",
        b.stderr
    );
}

#[test]
fn onbuild_heredoc_runs_in_the_child() {
    // testOnBuildHeredoc.
    let env = Env::new();
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD RUN <<EOF\necho \"hello world\" >> /dest\nEOF\n",
    )]);
    env.build_ok(c.path(), &["-t", "testonbuildheredoc:base"]);
    let c = context(&[(
        "Dockerfile",
        "FROM testonbuildheredoc:base AS base\nFROM scratch\nCOPY --from=base /dest /dest\n",
    )]);
    let (_t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    env.build_ok(c.path(), &[&dest]);
    assert_eq!(
        std::fs::read_to_string(out.join("dest")).expect("dest"),
        "hello world\n"
    );
}

#[test]
fn targetstage_is_the_target_or_default_when_declared() {
    // testTargetStageNameArg.
    let base = "FROM busybox AS base\nWORKDIR /out\nRUN echo -n \"value:$TARGETSTAGE\" > /out/first\nARG TARGETSTAGE\nRUN echo -n \"value:$TARGETSTAGE\" > /out/second\nFROM scratch AS foo\nCOPY --from=base /out/ /\nFROM scratch\nCOPY --from=base /out/ /\n";
    let with_final = format!("{base}\nFROM scratch AS final\nCOPY --from=base /out/ /\n");
    let env = Env::new();
    for (dockerfile, args, second) in [
        (base.to_string(), vec!["--target", "foo"], "value:foo"),
        (base.to_string(), vec![], "value:default"),
        (with_final, vec![], "value:final"),
    ] {
        let c = context(&[("Dockerfile", &dockerfile)]);
        let (_t, out) = out_dir();
        let dest = format!("--output=type=local,dest={}", out.display());
        let mut flags = args.clone();
        flags.push(&dest);
        env.build_ok(c.path(), &flags);
        assert_eq!(
            std::fs::read_to_string(out.join("first")).expect("first"),
            "value:"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("second")).expect("second"),
            second,
            "{args:?}"
        );
    }
}

#[test]
fn platform_args_pick_a_stage_by_os() {
    // testPlatformArgsImplicit (dockerfile_platform_test.go).
    let (_t, out) = super::build_out(
        "FROM scratch AS build-linux\nCOPY foo bar\nFROM build-${TARGETOS}\nCOPY foo2 bar2\n",
        &[("foo", "d0"), ("foo2", "d1")],
        &[],
    );
    assert_eq!(std::fs::read_to_string(out.join("bar")).expect("bar"), "d0");
    assert_eq!(
        std::fs::read_to_string(out.join("bar2")).expect("bar2"),
        "d1"
    );
}
