//! Lowering behaviour, checked on the IR it produces (no I/O, no root).

use cairn_dockerfile::lower::{
    ImageResolver, LowerOptions, Lowered, NoResolver, ResolveError, ResolvedImage, lower_source,
};
use cairn_ir::{FileAction, Graph, ImageConfig, MountKind, NetworkMode, Op, Platform, SourceOp};
use std::collections::BTreeMap;

fn lower(src: &str) -> Lowered {
    lower_with(src, LowerOptions::default())
}

fn lower_with(src: &str, opts: LowerOptions) -> Lowered {
    lower_source(src.as_bytes(), &opts, &NoResolver)
        .unwrap_or_else(|e| panic!("lowering failed: {e:?}"))
}

fn args(pairs: &[(&str, &str)]) -> LowerOptions {
    LowerOptions {
        build_args: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..LowerOptions::default()
    }
}

fn execs(g: &Graph) -> Vec<&cairn_ir::ExecOp> {
    g.vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Exec(x) => Some(x),
            _ => None,
        })
        .collect()
}

fn images(g: &Graph) -> Vec<String> {
    g.vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Source(SourceOp::Image { reference, .. }) => Some(reference.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn global_args_reach_from_lines_and_stage_redeclarations() {
    let src = "ARG BASE=alpine:3.20\nARG V=1\nFROM ${BASE}\nARG V\nRUN echo $V\n";
    let l = lower(src);
    assert_eq!(images(&l.graph), vec!["docker.io/library/alpine:3.20"]);
    assert!(execs(&l.graph)[0].env.contains(&"V=1".to_string()));
    let l = lower_with(src, args(&[("BASE", "busybox"), ("V", "2")]));
    assert_eq!(images(&l.graph), vec!["docker.io/library/busybox:latest"]);
    assert!(execs(&l.graph)[0].env.contains(&"V=2".to_string()));
}

#[test]
fn global_args_are_not_visible_without_redeclaration() {
    let l = lower("ARG V=1\nFROM busybox\nRUN echo $V\nENV X=${V:-unset}\n");
    assert!(!execs(&l.graph)[0].env.iter().any(|e| e.starts_with("V=")));
    assert!(l.graph.image.env.contains(&"X=unset".to_string()));
}

#[test]
fn env_wins_over_arg_and_pairs_expand_against_previous_env() {
    let l = lower("FROM busybox\nARG A=arg\nENV A=env\nENV B=$A C=first\nENV C=second D=$C\n");
    let env = &l.graph.image.env;
    assert!(env.contains(&"B=env".to_string()));
    assert!(env.contains(&"D=first".to_string()), "{env:?}");
    assert!(env.contains(&"C=second".to_string()));
}

#[test]
fn default_path_is_set() {
    let l = lower("FROM scratch\nCOPY a /a\n");
    assert!(
        l.graph
            .image
            .env
            .iter()
            .any(|e| e.starts_with("PATH=/usr/local/sbin"))
    );
}

#[test]
fn platform_args_have_automatic_values() {
    let opts = LowerOptions {
        target_platform: Platform::parse("linux/arm64/v8").unwrap(),
        build_platform: Platform::linux_amd64(),
        ..LowerOptions::default()
    };
    let l = lower_with(
        "FROM --platform=$BUILDPLATFORM busybox\nARG TARGETARCH TARGETVARIANT\nRUN echo $TARGETARCH\n",
        opts,
    );
    let env = &execs(&l.graph)[0].env;
    assert!(env.contains(&"TARGETARCH=arm64".to_string()), "{env:?}");
    assert!(env.contains(&"TARGETVARIANT=v8".to_string()));
    match &l.graph.vertices[0].op {
        Op::Source(SourceOp::Image { platform, .. }) => {
            assert_eq!(platform.to_string(), "linux/amd64")
        }
        other => panic!("{other:?}"),
    }
}

/// A RUN step of a stage for another platform than the build's carries that platform (it runs
/// emulated); the build platform's steps (`FROM --platform=$BUILDPLATFORM`, the cross-compile
/// pattern) carry none, and keep the digests they had before steps had a platform.
#[test]
fn steps_of_a_foreign_stage_carry_its_platform() {
    let src = "FROM --platform=$BUILDPLATFORM busybox AS build\nRUN make\n\
               FROM busybox\nCOPY --from=build /out /out\nRUN uname -m\n";
    let on = |target: &str| {
        lower_with(
            src,
            LowerOptions {
                target_platform: Platform::parse(target).unwrap(),
                build_platform: Platform::linux_amd64(),
                ..LowerOptions::default()
            },
        )
    };
    let platforms = |l: &Lowered| -> Vec<Option<String>> {
        execs(&l.graph)
            .iter()
            .map(|x| x.platform.as_deref().map(Platform::to_string))
            .collect()
    };
    let arm = on("linux/arm64");
    assert_eq!(platforms(&arm), vec![None, Some("linux/arm64".to_string())]);
    let native = on("linux/amd64");
    assert_eq!(platforms(&native), vec![None, None]);
    // The build stage is the same vertex for both targets: built once. (That a native step's
    // digest is what it was before steps had a platform is `canon`'s freeze test.)
    assert_eq!(execs(&arm.graph)[0], execs(&native.graph)[0]);
}

/// In a multi-platform build a step's name starts with its stage's platform, and says the
/// target's architecture once the stage sees a TARGETPLATFORM naming another (BuildKit's
/// `prefixCommand`); a single-platform build's names have neither.
#[test]
fn multi_platform_step_names_say_their_platform() {
    let src = "FROM --platform=$BUILDPLATFORM busybox AS build\nRUN a\nARG TARGETPLATFORM\nRUN b\n\
               FROM busybox\nCOPY --from=build /x /x\n";
    let lowered = |multi_platform: bool| {
        lower_with(
            src,
            LowerOptions {
                target_platform: Platform::parse("linux/arm64").unwrap(),
                build_platform: Platform::linux_amd64(),
                multi_platform,
                ..LowerOptions::default()
            },
        )
    };
    let names = |l: &Lowered| -> Vec<String> {
        l.graph
            .meta
            .values()
            .map(|m| m.description.clone())
            .filter(|d| d.starts_with('['))
            .collect()
    };
    let multi = names(&lowered(true));
    for want in [
        "[linux/amd64 build 2/3] RUN a",
        "[linux/amd64->arm64 build 3/3] RUN b",
        "[linux/arm64 stage-1 2/2] COPY --from=build /x /x",
    ] {
        assert!(multi.iter().any(|n| n == want), "{want} in {multi:?}");
    }
    let single = names(&lowered(false));
    assert!(
        single.iter().any(|n| n == "[build 3/3] RUN b"),
        "{single:?}"
    );
}

#[test]
fn proxy_args_reach_run_but_not_the_digest() {
    let src = "FROM busybox\nRUN wget example.com\n";
    let plain = lower(src);
    let proxied = lower_with(src, args(&[("HTTP_PROXY", "http://proxy:3128")]));
    assert_eq!(plain.graph.result, proxied.graph.result);
    // Both spellings, as BuildKit's proxy env sets them.
    assert_eq!(
        execs(&proxied.graph)[0].proxy_env,
        vec![
            "HTTP_PROXY=http://proxy:3128",
            "http_proxy=http://proxy:3128"
        ]
    );
    let lower_only = lower_with(src, args(&[("no_proxy", "localhost")]));
    assert_eq!(
        execs(&lower_only.graph)[0].proxy_env,
        vec!["NO_PROXY=localhost", "no_proxy=localhost"]
    );
    assert!(proxied.warnings.is_empty(), "{:?}", proxied.warnings);
    // Declared, it is a normal arg and does count.
    let declared = lower_with(
        "FROM busybox\nARG HTTP_PROXY\nRUN wget example.com\n",
        args(&[("HTTP_PROXY", "http://p")]),
    );
    assert!(
        execs(&declared.graph)[0]
            .env
            .contains(&"HTTP_PROXY=http://p".to_string())
    );
}

#[test]
fn unused_build_args_are_warned_about() {
    let l = lower_with("FROM busybox\nRUN true\n", args(&[("NOPE", "1")]));
    assert!(
        l.warnings.iter().any(|w| w.contains("NOPE")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn target_selects_a_stage_and_prunes_the_rest() {
    let src = "FROM busybox AS build\nRUN make\nFROM busybox AS test\nRUN make test\nFROM busybox\nCOPY --from=build /out /out\n";
    let l = lower_with(
        src,
        LowerOptions {
            target: Some("TEST".into()),
            ..LowerOptions::default()
        },
    );
    let args: Vec<String> = execs(&l.graph).iter().map(|x| x.args.join(" ")).collect();
    assert_eq!(args, vec!["/bin/sh -c make test"]);
    let l = lower(src);
    let args: Vec<String> = execs(&l.graph).iter().map(|x| x.args.join(" ")).collect();
    assert_eq!(args, vec!["/bin/sh -c make"]);
}

#[test]
fn from_stage_inherits_state_and_config() {
    let l = lower("FROM busybox AS base\nENV A=1\nWORKDIR /app\nUSER 1000\nFROM base\nRUN id\n");
    let x = execs(&l.graph)[0];
    assert_eq!(x.cwd, "/app");
    assert_eq!(x.user, "1000");
    assert!(x.env.contains(&"A=1".to_string()));
}

#[test]
fn copy_from_index_and_image() {
    let l = lower(
        "FROM busybox\nRUN make\nFROM scratch\nCOPY --from=0 /out /out\nCOPY --from=alpine:3.20 /etc/os-release /\n",
    );
    assert!(images(&l.graph).contains(&"docker.io/library/alpine:3.20".to_string()));
    assert_eq!(execs(&l.graph).len(), 1);
}

#[test]
fn copy_link_is_a_merge_over_an_independent_copy() {
    let l = lower("FROM busybox\nCOPY --link a.txt /a.txt\n");
    let last = l.graph.vertices.last().unwrap();
    assert!(matches!(last.op, Op::Merge(_)));
    let copy = l
        .graph
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::File(_)))
        .unwrap();
    match &copy.op {
        Op::File(f) => assert_eq!(f.base, None),
        _ => unreachable!(),
    }
}

#[test]
fn copy_with_chown_chmod_exclude_and_parents() {
    let l = lower(
        "FROM busybox\nWORKDIR /app\nCOPY --chown=app:app --chmod=750 --exclude=*.md --parents src/ ./\n",
    );
    let Some(FileAction::Copy(c)) = l.graph.vertices.iter().find_map(|v| match &v.op {
        Op::File(f) => f
            .actions
            .iter()
            .find(|a| matches!(a, FileAction::Copy(_)))
            .cloned(),
        _ => None,
    }) else {
        panic!("no copy")
    };
    assert_eq!(c.src, "/src");
    assert_eq!(c.dest, "/app/");
    assert_eq!(c.mode.as_deref(), Some("750"));
    assert_eq!(c.exclude, vec!["*.md"]);
    assert!(c.parents);
    assert!(c.owner.is_some());
}

#[test]
fn several_sources_need_a_directory_destination() {
    let e = lower_source(
        b"FROM busybox\nCOPY a b /dst\n",
        &LowerOptions::default(),
        &NoResolver,
    )
    .unwrap_err();
    assert!(e.message.contains("must be a directory"), "{}", e.message);
    assert_eq!(e.span.start_line, 2);
}

#[test]
fn variables_in_copy_from_are_refused_as_buildkit_refuses_them() {
    for from in ["$X", "${X}", "stage-$X", "st\\\\age"] {
        let src =
            format!("ARG X=build\nFROM busybox AS build\nFROM busybox\nCOPY --from={from} /a /b\n");
        let e =
            lower_source(src.as_bytes(), &LowerOptions::default(), &NoResolver).expect_err(from);
        assert!(
            e.message
                .contains("variable expansion is not supported for --from"),
            "{from}: {}",
            e.message
        );
        assert_eq!(e.span.start_line, 4);
    }
    // A plain name, an index and an image reference are taken as written.
    lower(
        "FROM busybox AS build\nFROM busybox\nCOPY --from=build /a /b\nCOPY --from=0 /a /c\n\
           COPY --from=alpine:3.20 /a /d\n",
    );
}

#[test]
fn targetstage_is_the_target_or_default_once_declared() {
    // BuildKit's testTargetStageNameArg.
    let src = "FROM busybox AS base\nRUN echo first\nARG TARGETSTAGE\nRUN echo second\n\
               FROM scratch AS foo\nCOPY --from=base /out/ /\n\
               FROM scratch\nCOPY --from=base /out/ /\n";
    for (target, want) in [
        (Some("foo"), "TARGETSTAGE=foo"),
        (None, "TARGETSTAGE=default"),
    ] {
        let opts = LowerOptions {
            target: target.map(str::to_string),
            ..LowerOptions::default()
        };
        let l = lower_with(src, opts);
        let runs = execs(&l.graph);
        assert_eq!(runs.len(), 2);
        assert!(!runs[0].env.iter().any(|e| e.starts_with("TARGETSTAGE=")));
        assert!(runs[1].env.iter().any(|e| e == want), "{:?}", runs[1].env);
    }
}

#[test]
fn expose_history_is_current_buildkits_list() {
    // testExportedHistory: `EXPOSE [1234/udp 2375/tcp 5000/tcp]`, a list, no longer a Go map.
    let l = lower("FROM scratch\nEXPOSE 2375 5000 1234/udp\nEXPOSE 80 80/TCP\n");
    let h: Vec<&str> = l
        .graph
        .image
        .history
        .iter()
        .map(|h| h.created_by.as_str())
        .collect();
    // The words are sorted as BuildKit's parser sorts them, then expanded in that order.
    assert_eq!(
        h,
        [
            "EXPOSE [1234/udp 2375/tcp 5000/tcp]",
            "EXPOSE [80/tcp 80/tcp]"
        ]
    );
    assert!(
        l.graph
            .image
            .exposed_ports
            .iter()
            .eq(["1234/udp", "2375/tcp", "5000/tcp", "80/tcp"])
    );
}

#[test]
fn step_names_show_variables_as_buildkit_does() {
    // processCmdEnv: RUN with quotes and unset variables kept, a secret's variable masked
    // (testSecretAsEnviron); WORKDIR expanded.
    let l = lower(
        "FROM busybox\nENV X=1 BASE=/srv SECRET_ENV=foo\n\
         RUN echo \"$X\" $UNSET '$X' ${X}\n\
         RUN --mount=type=secret,id=mysecret,env=SECRET_ENV [ \"$SECRET_ENV\" == \"pw\" ]\n\
         WORKDIR $BASE/app\n",
    );
    let names: Vec<&str> = l
        .graph
        .meta
        .values()
        .map(|m| m.description.as_str())
        .collect();
    for want in [
        "RUN echo \"1\" $UNSET '$X' 1",
        "RUN --mount=type=secret,id=mysecret,env=SECRET_ENV [ \"****\" == \"pw\" ]",
        "WORKDIR /srv/app",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(want)),
            "{want:?} in {names:?}"
        );
    }
}

#[test]
fn huge_port_ranges_and_many_volumes_lower_in_linear_time() {
    // Found by the fuzzer: adding each port with a list lookup took 91 s for two full ranges.
    let mut src = String::from("FROM scratch\nEXPOSE 1-65535/udp 1-65535/tcp\nEXPOSE 1-65535\n");
    for i in 0..50_000 {
        src.push_str(&format!("VOLUME /v{i}\n"));
    }
    let start = std::time::Instant::now();
    let l = lower(&src);
    assert_eq!(l.graph.image.exposed_ports.len(), 2 * 65535);
    assert_eq!(l.graph.image.volumes.len(), 50_000);
    // A liveness bound, not a speed claim: the quadratic form took minutes.
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn copy_heredoc_becomes_a_file_with_expanded_content() {
    let l = lower(
        "FROM busybox\nARG NAME=world\nCOPY <<EOF /greeting\nhello $NAME\nEOF\nCOPY <<'RAW' /raw\n$NAME\nRAW\n",
    );
    let files: Vec<(String, String)> = l
        .graph
        .vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::File(f) => f.actions.iter().find_map(|a| match a {
                FileAction::Mkfile { path, data, .. } => {
                    Some((path.clone(), String::from_utf8_lossy(data).into_owned()))
                }
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert!(
        files.contains(&("/greeting".into(), "hello world\n".into())),
        "{files:?}"
    );
    assert!(
        files.contains(&("/raw".into(), "$NAME\n".into())),
        "{files:?}"
    );
}

#[test]
fn run_heredoc_forms() {
    let l = lower(
        "FROM busybox\nRUN <<EOF\necho one\nEOF\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN cat <<A > /a\nx\nA\n",
    );
    let x = execs(&l.graph);
    assert_eq!(x[0].args, vec!["/bin/sh", "-c", "echo one\n"]);
    // As current BuildKit: the shell is prepended even to a script with an interpreter line.
    assert_eq!(x[1].args, vec!["/bin/sh", "-c", "/dev/pipes/EOF"]);
    let history: Vec<&str> = l
        .graph
        .image
        .history
        .iter()
        .map(|h| h.created_by.as_str())
        .collect();
    assert!(
        history.contains(&"RUN /bin/sh -c /dev/pipes/EOF # buildkit"),
        "{history:?}"
    );
    assert!(
        x[1].mounts
            .iter()
            .any(|m| m.target == "/dev/pipes/" && m.readonly)
    );
    assert_eq!(x[2].args, vec!["/bin/sh", "-c", "cat <<A > /a\nx\nA"]);
}

#[test]
fn run_mounts_network_and_shell() {
    let src = "FROM busybox AS deps\nRUN make deps\nFROM busybox\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\n\
RUN --network=none --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=bind,from=deps,source=/out,target=/mnt \
--mount=type=secret,id=token --mount=type=tmpfs,target=/tmp make\n";
    let l = lower(src);
    let x = execs(&l.graph)
        .into_iter()
        .find(|x| x.args.last().map(String::as_str) == Some("make"))
        .unwrap();
    assert_eq!(x.args[0], "/bin/ash");
    assert_eq!(x.network, NetworkMode::None);
    let kinds: Vec<(&str, &str)> = x
        .mounts
        .iter()
        .map(|m| {
            let k = match &m.kind {
                MountKind::Rootfs => "rootfs",
                MountKind::Bind => "bind",
                MountKind::Cache { .. } => "cache",
                MountKind::Tmpfs { .. } => "tmpfs",
                MountKind::Secret { .. } => "secret",
                MountKind::Ssh { .. } => "ssh",
            };
            (k, m.target.as_str())
        })
        .collect();
    assert!(kinds.contains(&("rootfs", "/")));
    assert!(kinds.contains(&("cache", "/root/.cache")));
    assert!(kinds.contains(&("bind", "/mnt")));
    assert!(kinds.contains(&("secret", "/run/secrets/token")));
    assert!(kinds.contains(&("tmpfs", "/tmp")));
}

#[test]
fn config_instructions_fill_the_image_config() {
    let l = lower(
        "FROM busybox\nLABEL a=1 \"b c\"=\"d e\"\nEXPOSE 80 53/udp\nVOLUME [\"/data\"]\nUSER app\n\
HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost\nSTOPSIGNAL SIGINT\nONBUILD RUN echo hi\n\
ENTRYPOINT [\"/bin/app\"]\nCMD [\"--help\"]\nMAINTAINER someone\n",
    );
    let c = &l.graph.image;
    assert_eq!(c.labels.get("b c").map(String::as_str), Some("d e"));
    assert!(c.exposed_ports.iter().eq(["53/udp", "80/tcp"]));
    assert!(c.volumes.iter().eq(["/data"]));
    assert_eq!(c.user.as_deref(), Some("app"));
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, vec!["CMD-SHELL", "wget -q localhost"]);
    assert_eq!(hc.interval, 30_000_000_000);
    assert_eq!(hc.retries, 3);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(c.on_build, vec!["RUN echo hi"]);
    assert_eq!(c.entrypoint, Some(vec!["/bin/app".to_string()]));
    assert_eq!(c.cmd, Some(vec!["--help".to_string()]));
    assert_eq!(c.author.as_deref(), Some("someone"));
    assert!(
        c.history
            .iter()
            .any(|h| h.created_by.starts_with("LABEL") && h.empty_layer)
    );
}

#[test]
fn entrypoint_resets_inherited_cmd() {
    let l = lower("FROM busybox AS base\nCMD [\"sh\"]\nFROM base\nENTRYPOINT [\"/app\"]\n");
    assert_eq!(l.graph.image.cmd, None);
}

struct OnbuildImage;

impl ImageResolver for OnbuildImage {
    fn resolve(
        &self,
        reference: &str,
        _: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        if reference.contains("onbuild") {
            let config = ImageConfig {
                env: vec!["PATH=/bin".into(), "FROM_BASE=1".into()],
                working_dir: Some("/base".into()),
                on_build: vec!["RUN echo triggered".into()],
                ..ImageConfig::default()
            };
            let pinned = format!("{reference}@sha256:{}", "a".repeat(64));
            Ok(Some(ResolvedImage {
                pinned: Some(pinned),
                config,
            }))
        } else {
            Ok(None)
        }
    }
}

#[test]
fn base_image_config_and_onbuild_triggers_apply() {
    let l = lower_source(
        b"FROM example/onbuild\nRUN echo mine\n",
        &LowerOptions::default(),
        &OnbuildImage,
    )
    .unwrap();
    let x = execs(&l.graph);
    assert_eq!(x.len(), 2);
    assert_eq!(x[0].args, vec!["/bin/sh", "-c", "echo triggered"]);
    assert_eq!(x[1].cwd, "/base");
    assert!(x[1].env.contains(&"FROM_BASE=1".to_string()));
    assert!(l.graph.image.on_build.is_empty(), "triggers are consumed");
    assert!(images(&l.graph)[0].contains("@sha256:"));
}

#[test]
fn windows_escape_directive_is_honoured() {
    let l = lower("# escape=`\nFROM busybox\nRUN echo a `\n    b\nWORKDIR /x\n");
    assert_eq!(execs(&l.graph)[0].args[2], "echo a     b");
}

#[test]
fn errors_name_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "FROM busybox\nCOPY ../x /x\n",
            2,
            "outside the build context",
        ),
        ("FROM busybox\nEXPOSE http\n", 2, "invalid port"),
        (
            "FROM busybox\nHEALTHCHECK --interval=abc CMD true\n",
            2,
            "duration",
        ),
        ("FROM Not_A_Ref!\n", 1, "invalid image reference"),
        ("FROM --platform=linux busybox\n", 1, "invalid platform"),
        (
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n",
            2,
            "circular",
        ),
        ("FROM busybox\nENV A=${B:?must-be-set}\n", 2, "must-be-set"),
    ];
    for (src, line, needle) in cases {
        let e = lower_source(src.as_bytes(), &LowerOptions::default(), &NoResolver).expect_err(src);
        assert!(
            e.message.contains(needle) || e.help.as_deref().unwrap_or("").contains(needle),
            "{src}: {e:?}"
        );
        assert_eq!(e.span.start_line, *line, "{src}: {e:?}");
    }
}

/// A resolver for which every image is missing (a registry that says "not found").
struct Missing;

impl ImageResolver for Missing {
    fn resolve(
        &self,
        reference: &str,
        _: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        Err(format!("{reference}: not found").into())
    }
}

#[test]
fn a_name_that_is_not_a_stage_is_an_image_even_near_a_stage_name() {
    // BuildKit: `--from=tool` beside a stage `tools` (or `--from=set` beside `test`) is an image.
    let src = "FROM busybox AS tools\nFROM busybox AS test\nFROM busybox\n\
               COPY --from=tool /t /t\nCOPY --from=set /s /s\n";
    let l = lower(src);
    let refs = images(&l.graph);
    assert!(
        refs.iter().any(|r| r.ends_with("library/tool:latest")),
        "{refs:?}"
    );
    assert!(
        refs.iter().any(|r| r.ends_with("library/set:latest")),
        "{refs:?}"
    );
    // If the image cannot be had, the near stage is the hint.
    let e = lower_source(src.as_bytes(), &LowerOptions::default(), &Missing)
        .expect_err("missing image");
    let text = format!("{e:?}");
    assert!(text.contains("failed to resolve image"), "{text}");
}

#[test]
fn the_near_stage_is_named_when_the_image_is_missing() {
    let src = "FROM scratch AS tools\nFROM scratch\nCOPY --from=tool /t /t\n";
    let e = lower_source(src.as_bytes(), &LowerOptions::default(), &Missing)
        .expect_err("missing image");
    let text = format!("{e:?}");
    assert!(text.contains("tools"), "{text}");
    assert!(text.contains("did you mean the stage"), "{text}");
}

fn mount_targets(l: &Lowered) -> Vec<(String, String)> {
    execs(&l.graph)
        .iter()
        .flat_map(|x| x.mounts.iter())
        .filter(|m| !matches!(m.kind, MountKind::Rootfs))
        .map(|m| {
            let kind = match &m.kind {
                MountKind::Bind => "bind",
                MountKind::Cache { .. } => "cache",
                MountKind::Tmpfs { .. } => "tmpfs",
                _ => "other",
            };
            (kind.to_string(), m.target.clone())
        })
        .collect()
}

#[test]
fn mounts_without_a_target_use_the_workdir() {
    let l = lower(
        "FROM busybox AS s\nFROM busybox\nWORKDIR /w/x\n\
         RUN --mount=type=bind true\nRUN --mount=from=s true\n\
         RUN --mount=type=cache true\nRUN --mount=type=tmpfs true\n\
         RUN --mount=type=bind,target=rel true\n",
    );
    assert_eq!(
        mount_targets(&l),
        [
            ("bind".to_string(), "/w/x".to_string()),
            ("bind".into(), "/w/x".into()),
            ("cache".into(), "/w/x".into()),
            ("tmpfs".into(), "/w/x".into()),
            ("bind".into(), "/w/x/rel".into()),
        ]
    );
    for bad in [
        "FROM busybox\nRUN --mount=type=cache true\n",
        "FROM busybox\nWORKDIR /a\nRUN --mount=type=tmpfs,target=.. true\n",
    ] {
        let e = lower_source(bad.as_bytes(), &LowerOptions::default(), &NoResolver)
            .expect_err("refused");
        assert!(
            format!("{e:?}").contains("invalid mount target"),
            "{bad}: {e:?}"
        );
    }
}

fn descriptions(l: &Lowered) -> Vec<String> {
    let mut d: Vec<(usize, String)> = l
        .graph
        .meta
        .values()
        .filter(|m| !m.description.starts_with("[internal]"))
        .map(|m| (m.lines.map_or(0, |(a, _)| a), m.description.clone()))
        .collect();
    d.sort();
    d.into_iter().map(|(_, s)| s).collect()
}

#[test]
fn steps_are_numbered_as_buildkit_numbers_them() {
    // One unnamed stage: no stage name; FROM an image, RUN, COPY, ADD, WORKDIR count,
    // metadata does not.
    let l =
        lower("FROM busybox\nENV A=1\nWORKDIR /w\nLABEL x=y\nCOPY a /a\nRUN true\nCMD [\"sh\"]\n");
    assert_eq!(
        descriptions(&l),
        [
            "[1/4] FROM docker.io/library/busybox:latest",
            "[2/4] WORKDIR /w",
            "[3/4] COPY a /a",
            "[4/4] RUN true"
        ]
    );
    // Named and unnamed stages; a stage on another stage or scratch has no FROM step; the
    // index is padded to the total's width.
    let runs: String = (0..10).map(|i| format!("RUN echo {i}\n")).collect();
    let l = lower(&format!(
        "FROM busybox AS base\nRUN true\nFROM base\n{runs}FROM scratch\nCOPY --from=1 /x /x\n"
    ));
    let d = descriptions(&l);
    assert_eq!(d[0], "[base 1/2] FROM docker.io/library/busybox:latest");
    assert_eq!(d[1], "[base 2/2] RUN true");
    assert_eq!(d[2], "[stage-1  1/10] RUN echo 0");
    assert_eq!(d[11], "[stage-1 10/10] RUN echo 9");
    assert_eq!(d[12], "[stage-2 1/1] COPY --from=1 /x /x");
    // One stage that copies from an image is named, as in BuildKit.
    let l = lower("FROM busybox\nCOPY --from=alpine /etc/os-release /x\n");
    assert_eq!(
        descriptions(&l),
        [
            "[stage-0 1/2] FROM docker.io/library/busybox:latest",
            "[stage-0 2/2] COPY --from=alpine /etc/os-release /x"
        ]
    );
}

#[test]
fn copy_from_a_later_stage_is_refused() {
    for src in ["/", "/d2"] {
        let df = format!(
            "FROM busybox AS target\nCOPY --from=build {src} /out\n\nFROM busybox AS build\nCOPY /Dockerfile /d2\n\nFROM target\n"
        );
        let e = lower_source(df.as_bytes(), &LowerOptions::default(), &NoResolver)
            .expect_err("out of order");
        let text = format!("{e:?}");
        assert!(text.contains("cannot copy from stage"), "{text}");
        assert!(
            text.contains("needs to be defined before current stage"),
            "{text}"
        );
    }
    // An earlier stage is fine, and so is a mount of a later one (BuildKit checks COPY only).
    lower("FROM busybox AS a\nRUN true\nFROM busybox\nCOPY --from=a / /a\n");
    lower("FROM busybox\nRUN --mount=from=b,target=/b true\nFROM busybox AS b\nRUN true\n");
}

#[test]
fn config_and_history_match_buildkit() {
    let l = lower(
        "FROM busybox\nSHELL [\"/bin/sh\", \"-xc\"]\nONBUILD RUN echo later\nWORKDIR /\nCMD [\"sh\"]\n",
    );
    let history: Vec<&str> = l
        .graph
        .image
        .history
        .iter()
        .map(|h| h.created_by.as_str())
        .collect();
    assert!(history.contains(&"SHELL [/bin/sh -xc]"), "{history:?}");
    assert!(
        !history.iter().any(|h| h.starts_with("ONBUILD")),
        "{history:?}"
    );
    let workdir = l
        .graph
        .image
        .history
        .iter()
        .find(|h| h.created_by == "WORKDIR /")
        .expect("WORKDIR / recorded");
    assert!(workdir.empty_layer, "WORKDIR / makes no layer");
    assert!(
        !l.graph.vertices.iter().any(|v| matches!(v.op, Op::File(_))),
        "no mkdir for /"
    );
    assert!(
        l.graph.image.args_escaped,
        "CMD sets ArgsEscaped as BuildKit does"
    );
    assert_eq!(l.graph.image.on_build, ["RUN echo later"]);
    let scratch = lower("FROM scratch\nCOPY a /a\n");
    assert_eq!(scratch.graph.image.working_dir.as_deref(), Some("/"));
}

#[test]
fn sandbox_hostname_build_arg_names_the_steps_host() {
    let l = lower_with(
        "FROM busybox\nRUN hostname\n",
        args(&[("BUILDKIT_SANDBOX_HOSTNAME", "builder")]),
    );
    assert_eq!(execs(&l.graph)[0].hostname.as_deref(), Some("builder"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn an_expansion_bomb_is_refused_with_its_line() {
    let mut df = String::from("ARG a=xxxxxxxxxx\n");
    for _ in 0..40 {
        df.push_str("ARG a=${a}${a}\n");
    }
    df.push_str("FROM busybox\nARG a\nRUN echo $a\n");
    let start = std::time::Instant::now();
    let e = lower_source(df.as_bytes(), &LowerOptions::default(), &NoResolver)
        .expect_err("bomb refused");
    let text = format!("{e:?}");
    assert!(text.contains("longer than"), "{text}");
    // Refused where the value first passes the cap: 10 * 2^17 > 1 MiB at the 18th doubling.
    assert_eq!(e.span.start_line, 18, "{text}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
