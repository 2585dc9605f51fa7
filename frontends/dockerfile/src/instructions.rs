//! Raw parse nodes to typed instructions (BuildKit's `instructions` package): flags parsed and
//! validated, arguments split by instruction, stages grouped. Words stay unexpanded.
//!
//! One module per concern: `flags` is the `BFlags`-like flag checker, `mount` reads
//! `RUN --mount`, `copy` does COPY/ADD, then `run`, `healthcheck`, `kv` (ENV/LABEL/ARG), `config`
//! (the image-config setters), `onbuild`, and `stage` (FROM and stage grouping); `cx` holds the
//! node under conversion and the error helpers. This file only dispatches on the keyword.

mod config;
mod copy;
mod cx;
mod flags;
mod healthcheck;
mod kv;
mod mount;
mod onbuild;
mod run;
mod stage;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod text_tests;
mod types;

pub use healthcheck::duration_nanos;
pub use mount::ram_in_bytes;

/// Parse a `--mount` value whose variables lowering has expanded ([`MountSpec::deferred`]);
/// errors point at `span`.
pub fn parse_mount(value: &str, span: crate::parser::Span) -> Result<MountSpec> {
    struct AtSpan(crate::parser::Span);
    impl mount::ErrAt for AtSpan {
        fn err_at(&self, _word: &str, message: String) -> crate::error::Error {
            crate::error::Error::new(self.0, message)
        }
    }
    mount::parse(&AtSpan(span), value)
}

/// A `--mount` value written back as one CSV record (fields with `,` or `"` quoted).
pub fn mount_record(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The fields of a `--mount` value.
pub fn mount_fields(value: &str) -> std::result::Result<Vec<String>, String> {
    mount::split_csv(value)
}
pub use types::*;

use crate::error::{Result, suggest};
use crate::parser::{Ast, Node};
use cx::Cx;

/// Every Dockerfile instruction keyword, for dispatch and typo suggestions.
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// Types a whole parsed Dockerfile: global ARGs, then stages with their instructions.
///
/// Fails on the first bad instruction (in file order), on an instruction other than ARG before
/// the first FROM, on a duplicate stage name, or when there is no FROM at all.
pub fn from_ast(ast: &Ast) -> Result<Dockerfile> {
    stage::group(ast)
}

/// Types one node on its own (e.g. an ONBUILD trigger from a base image, once parsed). FROM
/// comes back as [`Instruction::From`].
pub fn instruction_from_node(node: &Node) -> Result<Instruction> {
    parse_instruction(&Cx::new(node))
}

pub(crate) fn parse_instruction(cx: &Cx<'_>) -> Result<Instruction> {
    let keyword = cx.node.keyword_lower();
    Ok(match keyword.as_str() {
        "from" => Instruction::From(stage::parse_from(cx)?),
        "run" => Instruction::Run(run::parse(cx)?),
        "copy" => Instruction::Copy(copy::parse(cx, false)?),
        "add" => Instruction::Copy(copy::parse(cx, true)?),
        "env" => Instruction::Env(kv::parse_pairs(cx)?),
        "label" => Instruction::Label(kv::parse_pairs(cx)?),
        "arg" => Instruction::Arg(kv::parse_args(cx)?),
        "workdir" => Instruction::Workdir(config::parse_single(cx)?),
        "user" => Instruction::User(config::parse_single(cx)?),
        "stopsignal" => Instruction::StopSignal(config::parse_single(cx)?),
        "maintainer" => Instruction::Maintainer(config::parse_single(cx)?),
        "expose" => Instruction::Expose(config::parse_expose(cx)?),
        "volume" => Instruction::Volume(config::parse_volume(cx)?),
        "cmd" => config::parse_command(cx, false)?,
        "entrypoint" => config::parse_command(cx, true)?,
        "shell" => Instruction::Shell(config::parse_shell(cx)?),
        "healthcheck" => Instruction::Healthcheck(healthcheck::parse(cx)?),
        "onbuild" => Instruction::Onbuild(onbuild::parse(cx)?),
        _ => {
            let written = &cx.node.keyword;
            let mut err = cx.err(format!("unknown instruction: {written}"));
            if let Some(c) = cx.keyword_column() {
                err = err.at_column(c);
            }
            return Err(match suggest(written, KEYWORDS.iter().copied()) {
                Some(k) => err.with_suggestion(k),
                None => err,
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::{ast_of, err_of, ok_of};
    use crate::parser::Span;

    #[test]
    fn unknown_instruction() {
        let e = err_of("COPPY a b");
        assert_eq!(e.message, "unknown instruction: COPPY (did you mean COPY?)");
        assert_eq!(e.help, None);
        assert_eq!(e.column, Some(0));
        assert_eq!(
            err_of("entrypiont x").message,
            "unknown instruction: entrypiont (did you mean ENTRYPOINT?)"
        );
        assert_eq!(err_of("XYZZYQ a").message, "unknown instruction: XYZZYQ");
        assert_eq!(
            e.to_string(),
            "line 1: unknown instruction: COPPY (did you mean COPY?)"
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert!(matches!(ok_of("from a"), Instruction::From(_)));
        assert!(matches!(ok_of("Run x"), Instruction::Run(_)));
        assert!(matches!(ok_of("cOpY a b"), Instruction::Copy(c) if !c.add));
        assert!(matches!(ok_of("add a b"), Instruction::Copy(c) if c.add));
    }

    #[test]
    fn every_keyword_dispatches() {
        let lines = [
            "FROM a",
            "RUN x",
            "CMD x",
            "LABEL a=b",
            "MAINTAINER m",
            "EXPOSE 80",
            "ENV a=b",
            "ADD a b",
            "COPY a b",
            "ENTRYPOINT x",
            "VOLUME /v",
            "USER u",
            "WORKDIR /w",
            "ARG a",
            "ONBUILD RUN x",
            "STOPSIGNAL 9",
            "HEALTHCHECK NONE",
            r#"SHELL ["sh"]"#,
        ];
        assert_eq!(lines.len(), KEYWORDS.len());
        for (line, kw) in lines.iter().zip(KEYWORDS) {
            assert!(line.starts_with(kw));
            ok_of(line);
        }
    }

    #[test]
    fn from_ast_end_to_end() {
        let src = "\
ARG BASE=alpine
FROM --platform=$BUILDPLATFORM ${BASE} AS build
WORKDIR /src
COPY --link go.mod go.sum ./
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=secret,id=tok go build ./...
FROM scratch
COPY --from=build /out/app /app
HEALTHCHECK --interval=30s CMD [\"/app\", \"health\"]
ENTRYPOINT [\"/app\"]
";
        let df = from_ast(&ast_of(src)).expect("valid Dockerfile");
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].from.alias.as_deref(), Some("build"));
        assert_eq!(df.stages[0].commands.len(), 3);
        let Instruction::Run(run) = &df.stages[0].commands[2].instruction else {
            panic!("expected RUN");
        };
        assert_eq!(run.mounts.len(), 2);
        assert_eq!(run.mounts[0].id.as_deref(), Some("/root/.cache/go-build"));
        assert_eq!(run.mounts[1].target.as_deref(), Some("/run/secrets/tok"));
        assert_eq!(df.stages[1].commands.len(), 3);
        assert_eq!(df.stages[1].commands[0].span, Span::line(7));
    }

    #[test]
    fn first_error_wins() {
        let e = from_ast(&ast_of("FROM a\nRUN --netwrk=host x\nCOPPY a b\n")).expect_err("error");
        assert_eq!(e.message, "unknown flag: --netwrk (did you mean network?)");
        assert_eq!((e.span, e.column), (Span::line(2), Some(4)));
    }

    #[test]
    fn public_single_node_entry() {
        let node = crate::instructions::testutil::node_of("USER me");
        assert_eq!(
            instruction_from_node(&node).expect("valid"),
            Instruction::User("me".into())
        );
    }
}
