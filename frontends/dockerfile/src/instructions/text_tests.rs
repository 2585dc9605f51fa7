//! End-to-end tests from Dockerfile text: the real parser, then [`from_ast`]. They check that
//! the typed layer agrees with what the parser actually produces (heredocs, continuation lines,
//! quote removal in flags, nested ONBUILD nodes), which the hand-built nodes of the module tests
//! cannot.

use super::*;
use crate::error::Error;
use crate::parser::{Span, parse};

fn typed(src: &str) -> Dockerfile {
    let ast = parse(src.as_bytes()).expect("the parser accepts the test input");
    match from_ast(&ast) {
        Ok(df) => df,
        Err(e) => panic!("{src:?}: {e:?}"),
    }
}

fn error(src: &str) -> Error {
    let ast = parse(src.as_bytes()).expect("the parser accepts the test input");
    match from_ast(&ast) {
        Ok(df) => panic!("{src:?}: expected an error, got {df:?}"),
        Err(e) => e,
    }
}

fn commands(df: &Dockerfile, stage: usize) -> Vec<&Instruction> {
    df.stages[stage]
        .commands
        .iter()
        .map(|l| &l.instruction)
        .collect()
}

#[test]
fn every_instruction_from_text() {
    let df = typed(
        r#"# syntax=docker/dockerfile:1
ARG GO=1.22
ARG A B=2
FROM --platform=$BUILDPLATFORM golang:${GO} AS Build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS="-trimpath"
ENV LEGACY value with spaces
LABEL org.opencontainers.image.title="demo"
COPY --link go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,source=.,target=/src,rw \
    --network=none \
    go build -o /out/app .
FROM alpine:3.20
ADD --checksum=sha256:0123 https://example.com/x.tgz /x.tgz
COPY --from=build --chown=app:app --chmod=0755 /out/app /usr/local/bin/app
USER app
EXPOSE 8080 443/tcp
VOLUME ["/data"]
SHELL ["/bin/sh", "-eu", "-c"]
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD wget -qO- localhost:8080
STOPSIGNAL SIGTERM
ONBUILD COPY . /app
MAINTAINER someone
CMD ["serve"]
ENTRYPOINT ["/usr/local/bin/app"]
"#,
    );
    assert_eq!(df.global_args.len(), 3);
    assert_eq!(df.global_args[0].1, Span::line(2));
    assert_eq!(df.stages.len(), 2);
    let s0 = &df.stages[0];
    assert_eq!(s0.from.alias.as_deref(), Some("build"));
    assert_eq!(s0.from.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(s0.from.image, "golang:${GO}");
    let c0 = commands(&df, 0);
    assert_eq!(c0.len(), 6);
    assert_eq!(
        c0[1],
        &Instruction::Env(vec![
            KeyValue {
                key: "CGO_ENABLED".into(),
                value: "0".into()
            },
            KeyValue {
                key: "GOFLAGS".into(),
                value: "\"-trimpath\"".into()
            },
        ])
    );
    assert_eq!(
        c0[2],
        &Instruction::Env(vec![KeyValue {
            key: "LEGACY".into(),
            value: "value with spaces".into()
        }])
    );
    let Instruction::Run(run) = c0[5] else {
        panic!("RUN expected")
    };
    assert_eq!(run.mounts.len(), 2);
    assert_eq!(run.mounts[1].kind, MountKind::Bind);
    assert!(!run.mounts[1].readonly);
    assert_eq!(run.network, Some(Network::None));
    assert_eq!(
        s0.commands[5].span,
        Span {
            start_line: 10,
            end_line: 13
        }
    );
    let c1 = commands(&df, 1);
    assert_eq!(c1.len(), 12);
    assert!(matches!(c1[0], Instruction::Copy(c) if c.add && c.checksum.is_some()));
    assert!(matches!(c1[1], Instruction::Copy(c) if c.from.as_deref() == Some("build")));
    assert_eq!(
        c1[3],
        &Instruction::Expose(vec!["443/tcp".into(), "8080".into()])
    );
    assert!(matches!(c1[6], Instruction::Healthcheck(h) if h.retries.as_deref() == Some("3")));
    assert_eq!(c1[8], &Instruction::Onbuild("COPY . /app".into()));
    assert_eq!(c1[9], &Instruction::Maintainer("someone".into()));
    assert_eq!(df.stages[1].commands[8].original, "ONBUILD COPY . /app");
}

#[test]
fn heredocs_from_text() {
    let df = typed(
        "FROM alpine\nRUN <<EOF\necho hi\nEOF\nCOPY <<-CONF /etc/app.conf\n\tkey=1\nCONF\n\
         ONBUILD RUN <<EOT\nx\nEOT\n",
    );
    let c = commands(&df, 0);
    let Instruction::Run(run) = c[0] else {
        panic!("RUN expected")
    };
    assert_eq!(run.command, Command::Shell("<<EOF".into()));
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].content, "echo hi\n");
    let Instruction::Copy(copy) = c[1] else {
        panic!("COPY expected")
    };
    assert_eq!(copy.sources, vec!["<<-CONF"]);
    assert_eq!(copy.dest, "/etc/app.conf");
    assert_eq!(copy.heredocs.len(), 1);
    assert_eq!(c[2], &Instruction::Onbuild("RUN <<EOT\nx\nEOT".into()));
}

#[test]
fn quoted_flag_values() {
    let df = typed("FROM a\nCOPY --chown=\"app user\" --chmod='u+x' x y\n");
    let Instruction::Copy(c) = commands(&df, 0)[0] else {
        panic!("COPY expected")
    };
    assert_eq!(c.chown.as_deref(), Some("app user"));
    assert_eq!(c.chmod.as_deref(), Some("u+x"));
}

#[test]
fn errors_from_text() {
    // (Dockerfile, line, message, help, column)
    type Case<'a> = (&'a str, usize, &'a str, Option<&'a str>, Option<usize>);
    let cases: &[Case] = &[
        (
            "FROM a\nCOPPY a b\n",
            2,
            "unknown instruction: COPPY (did you mean COPY?)",
            None,
            Some(0),
        ),
        (
            "FROM a\nCOPY --form=b x y\n",
            2,
            "unknown flag: --form (did you mean from?)",
            None,
            Some(5),
        ),
        (
            "RUN true\nFROM a\n",
            1,
            "no build stage in current context",
            Some("add a FROM instruction before this RUN; only ARG may come before the first FROM"),
            Some(0),
        ),
        (
            "FROM a AS 9x\n",
            1,
            "invalid name for build stage: \"9x\", name can't start with a number or contain symbols",
            None,
            Some(10),
        ),
        (
            "FROM a\nRUN --mount=type=cahce,target=/c x\n",
            2,
            "unsupported mount type \"cahce\" (did you mean cache?)",
            None,
            Some(12),
        ),
        (
            "FROM a\nRUN --mount=type=cache,target=/c,sharing=lockd x\n",
            2,
            "unsupported sharing value \"lockd\" (did you mean locked?)",
            None,
            Some(33),
        ),
        (
            "FROM a\nADD --from=b x y\n",
            2,
            "unknown flag: --from",
            None,
            Some(4),
        ),
        (
            "FROM a\nCOPY --chmod=\"9\" x y\n",
            2,
            "invalid chmod parameter: '9'. it should be octal string and between 0 and 07777",
            None,
            Some(5),
        ),
        (
            "FROM a\nCOPY x\n",
            2,
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
            None,
            None,
        ),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            2,
            "HEALTHCHECK NONE takes no arguments",
            None,
            Some(17),
        ),
        (
            "FROM a\nSHELL /bin/sh -c\n",
            2,
            "SHELL requires the arguments to be in JSON form",
            Some("write SHELL [\"/bin/sh\", \"-c\"]"),
            None,
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            2,
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            None,
            Some(8),
        ),
        (
            "FROM a\nONBUILD FROM b\n",
            2,
            "FROM isn't allowed as an ONBUILD trigger",
            None,
            Some(8),
        ),
        (
            "FROM a\nWORKDIR\n",
            2,
            "WORKDIR requires exactly one argument",
            None,
            None,
        ),
        (
            "ARG A\n",
            1,
            "dockerfile contains no stages to build",
            Some("add a FROM instruction"),
            None,
        ),
    ];
    for (src, line, msg, help, col) in cases {
        let e = error(src);
        assert_eq!(e.message, *msg, "{src}");
        assert_eq!(e.span.start_line, *line, "{src}");
        if help.is_some() {
            assert_eq!(e.help.as_deref(), *help, "{src}");
        }
        assert_eq!(e.column, *col, "{src}");
    }
}

#[test]
fn no_column_across_continuation_lines() {
    let e = error("FROM a\nRUN --network=hots \\\n  true\n");
    assert_eq!(e.message, "invalid network mode \"hots\"");
    assert_eq!((e.span.start_line, e.span.end_line, e.column), (2, 3, None));
}
