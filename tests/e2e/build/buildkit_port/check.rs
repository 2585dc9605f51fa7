//! BuildKit's `dockerfile_check_test.go`: the Dockerfile lint rules. Every case runs twice, as
//! BuildKit's `checkLinterWarnings` does: `cairn build --check` (BuildKit's lint subrequest,
//! `warntype=unmarshal`: every stage, no step run, non-zero exit on any warning or error) and
//! a plain build (`warntype=progress`: the target's stages, warnings as `lint` events). The
//! Dockerfiles, details, descriptions, URLs and lines are BuildKit's (alpine → busybox).
//! BuildKit's stream check builds `linux/amd64,linux/arm64` when a case gives no frontend
//! attributes (and warns for the first platform only); cairn builds its native one.
//!
//! Not ported: testBaseImagePlatformMismatch (it pushes an image of a foreign platform to a
//! registry and pulls it back; cairn builds only its native platform, so no base image of
//! another platform can be made here).

use super::super::fixture::{Build, Env, context};

/// A lint rule as BuildKit's tests spell it (`frontend/dockerfile/linter/ruleset.go`).
struct Rule {
    name: &'static str,
    description: &'static str,
    url: &'static str,
}

impl Rule {
    /// This rule's warning on `line`, saying `detail`.
    fn at(&self, line: u64, detail: &str) -> Want {
        Want {
            line,
            detail: detail.to_string(),
            rule: self.name.to_string(),
            description: self.description.to_string(),
            url: self.url.to_string(),
            level: 1,
        }
    }
}

/// One lint warning; the field order sorts by (line, detail) as BuildKit's harness does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Want {
    line: u64,
    detail: String,
    rule: String,
    description: String,
    url: String,
    level: u64,
}

const STAGE_NAME_CASING: Rule = Rule {
    name: "StageNameCasing",
    description: "Stage names should be lowercase",
    url: "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
};
const FROM_AS_CASING: Rule = Rule {
    name: "FromAsCasing",
    description: "The 'as' keyword should match the case of the 'from' keyword",
    url: "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
};
const NO_EMPTY_CONTINUATION: Rule = Rule {
    name: "NoEmptyContinuation",
    description: "Empty continuation lines will become errors in a future release",
    url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
};
const CONSISTENT_INSTRUCTION_CASING: Rule = Rule {
    name: "ConsistentInstructionCasing",
    description: "All commands within the Dockerfile should use the same casing (either upper or lower)",
    url: "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/",
};
const DUPLICATE_STAGE_NAME: Rule = Rule {
    name: "DuplicateStageName",
    description: "Stage names should be unique",
    url: "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/",
};
const RESERVED_STAGE_NAME: Rule = Rule {
    name: "ReservedStageName",
    description: "Reserved words should not be used as stage names",
    url: "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/",
};
const JSON_ARGS_RECOMMENDED: Rule = Rule {
    name: "JSONArgsRecommended",
    description: "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
    url: "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
};
const MAINTAINER_DEPRECATED: Rule = Rule {
    name: "MaintainerDeprecated",
    description: "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
    url: "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
};
const UNDEFINED_ARG_IN_FROM: Rule = Rule {
    name: "UndefinedArgInFrom",
    description: "FROM command must use declared ARGs",
    url: "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/",
};
const WORKDIR_RELATIVE_PATH: Rule = Rule {
    name: "WorkdirRelativePath",
    description: "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
    url: "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/",
};
const UNDEFINED_VAR: Rule = Rule {
    name: "UndefinedVar",
    description: "Variables should be defined before their use",
    url: "https://docs.docker.com/go/dockerfile/rule/undefined-var/",
};
const MULTIPLE_INSTRUCTIONS_DISALLOWED: Rule = Rule {
    name: "MultipleInstructionsDisallowed",
    description: "Multiple instructions of the same type should not be used in the same stage",
    url: "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/",
};
const LEGACY_KEY_VALUE_FORMAT: Rule = Rule {
    name: "LegacyKeyValueFormat",
    description: "Legacy key/value format with whitespace separator should not be used",
    url: "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
};
const REDUNDANT_TARGET_PLATFORM: Rule = Rule {
    name: "RedundantTargetPlatform",
    description: "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    url: "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/",
};
const SECRETS_USED_IN_ARG_OR_ENV: Rule = Rule {
    name: "SecretsUsedInArgOrEnv",
    description: "Sensitive data should not be used in the ARG or ENV commands",
    url: "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/",
};
const INVALID_DEFAULT_ARG_IN_FROM: Rule = Rule {
    name: "InvalidDefaultArgInFrom",
    description: "Default value for global ARG results in an empty or invalid base image name",
    url: "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/",
};
const FROM_PLATFORM_FLAG_CONST_DISALLOWED: Rule = Rule {
    name: "FromPlatformFlagConstDisallowed",
    description: "FROM --platform flag should not use a constant value",
    url: "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/",
};
const COPY_IGNORED_FILE: Rule = Rule {
    name: "CopyIgnoredFile",
    description: "Attempting to Copy file that is excluded by .dockerignore",
    url: "https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/",
};
const INVALID_DEFINITION_DESCRIPTION: Rule = Rule {
    name: "InvalidDefinitionDescription",
    description: concat!(
        "Comment for build stage or argument should follow the format: ",
        "`# <arg/stage name> <description>`. If this is not intended to be a description ",
        "comment, add an empty line or comment between the instruction and the comment."
    ),
    url: "https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/",
};
const EXPOSE_PROTO_CASING: Rule = Rule {
    name: "ExposeProtoCasing",
    description: "Protocol in EXPOSE instruction should be lowercase",
    url: "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/",
};
const EXPOSE_INVALID_FORMAT: Rule = Rule {
    name: "ExposeInvalidFormat",
    description: "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
    url: "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/",
};

/// One `checkLinterWarnings` call of BuildKit's (its `lintTestParams`).
#[derive(Default)]
struct Case {
    dockerfile: &'static str,
    dockerignore: Option<&'static str>,
    /// Flags of both runs: BuildKit's FrontendAttrs (`build-arg:X` → `--build-arg X=…`).
    args: Vec<String>,
    /// Names `busybox` is tagged as before the runs (base images the case pulls).
    images: Vec<&'static str>,
    /// BuildKit's `Warnings`: what both runs report (the plain build's only, when
    /// `check_warnings` is given).
    warnings: Vec<Want>,
    /// BuildKit's `UnmarshalWarnings`: what `--check` reports when it differs (all stages).
    check_warnings: Option<Vec<Want>>,
    /// BuildKit's `BuildErr`: both runs fail, saying this.
    build_err: Option<&'static str>,
    /// BuildKit's `StreamBuildErrRegexp` (a stable part of it): only the build fails; the
    /// lint itself finds no error.
    stream_err: Option<&'static str>,
}

/// `--build-arg KV`.
fn build_arg(kv: &str) -> Vec<String> {
    vec!["--build-arg".to_string(), kv.to_string()]
}

/// The lint warnings of a run, sorted.
fn lints(b: &Build) -> Vec<Want> {
    let mut got: Vec<Want> = b
        .events
        .iter()
        .filter(|e| e["event"] == "lint")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            Want {
                line: e["line"].as_u64().unwrap_or(0),
                detail: s("detail"),
                rule: s("rule"),
                description: s("description"),
                url: s("url"),
                level: e["level"].as_u64().unwrap_or(0),
            }
        })
        .collect();
    got.sort();
    got
}

/// Whether `stderr` says `err`; the rules of a lint violation may come in any order.
fn says(stderr: &str, err: &str) -> bool {
    const VIOLATION: &str = "lint violation found for rules: ";
    match err.strip_prefix(VIOLATION) {
        Some(rules) => stderr.lines().any(|l| {
            l.split_once(VIOLATION)
                .is_some_and(|(_, named)| rules.split(", ").all(|r| named.contains(r)))
        }),
        None => stderr.contains(err),
    }
}

/// The last lines of a run's stderr, for a failure message.
fn tail(b: &Build) -> String {
    let lines: Vec<&str> = b.stderr.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// BuildKit's `checkLinterWarnings`: lint with `--check`, then build.
fn check(case: Case) {
    let env = Env::new();
    if !case.images.is_empty() {
        let base = context(&[("Dockerfile", "FROM busybox\n")]);
        for name in &case.images {
            env.build_ok(base.path(), &["-t", *name]);
        }
    }
    let mut files = vec![("Dockerfile", case.dockerfile)];
    if let Some(ignore) = case.dockerignore {
        files.push((".dockerignore", ignore));
    }
    let dir = context(&files);
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let what = |run: &str| {
        format!(
            "{run} {args:?} of\n{}\n(.dockerignore {:?})",
            case.dockerfile, case.dockerignore
        )
    };

    // warntype=unmarshal: the lint subrequest, every stage.
    let mut check_args = vec!["--check"];
    check_args.extend_from_slice(&args);
    let b = env.build(dir.path(), &check_args);
    let mut want = case
        .check_warnings
        .clone()
        .unwrap_or_else(|| case.warnings.clone());
    want.sort();
    let run = what("cairn build --check");
    assert_eq!(lints(&b), want, "{run}\n{}", tail(&b));
    assert!(b.ran().is_empty(), "{run}: ran {:?}", b.ran());
    let clean = want.is_empty() && case.build_err.is_none();
    assert_eq!(
        b.success,
        clean,
        "{run}: exit status {} with {} warnings, error {:?}\n{}",
        if b.success { "zero" } else { "non-zero" },
        want.len(),
        case.build_err,
        tail(&b)
    );
    if let Some(err) = case.build_err {
        assert!(says(&b.stderr, err), "{run}: {err:?} not in\n{}", b.stderr);
    }

    // warntype=progress: a build of the target, warnings as progress events.
    let b = env.build(dir.path(), &args);
    let mut want = case.warnings.clone();
    want.sort();
    let run = what("cairn build");
    assert_eq!(lints(&b), want, "{run}\n{}", tail(&b));
    match case.build_err.or(case.stream_err) {
        None => assert!(b.success, "{run}: failed\n{}", tail(&b)),
        Some(err) => {
            assert!(!b.success, "{run}: built, but BuildKit fails with {err:?}");
            assert!(says(&b.stderr, err), "{run}: {err:?} not in\n{}", b.stderr);
        }
    }
}

/// A case with no warnings and no error.
fn clean(dockerfile: &'static str) {
    check(Case {
        dockerfile,
        ..Case::default()
    });
}

#[test]
fn check_directive_and_build_arg_skip_rules_and_turn_warnings_into_errors() {
    // testRuleCheckOption.
    clean(
        r#"#check=skip=all
FROM scratch as base
copy Dockerfile .
"#,
    );
    clean(
        r#"#check=skip=all;error=true
FROM scratch as base
copy Dockerfile .
"#,
    );
    clean(
        r#"#check=skip=ConsistentInstructionCasing,FromAsCasing
FROM scratch as base
copy Dockerfile .
"#,
    );
    clean(
        r#"#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true
FROM scratch as base
copy Dockerfile .
"#,
    );
    check(Case {
        dockerfile: r#"#check=skip=ConsistentInstructionCasing
FROM scratch as base
copy Dockerfile .
"#,
        warnings: vec![FROM_AS_CASING.at(2, "'as' and 'FROM' keywords' casing do not match")],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"#check=skip=ConsistentInstructionCasing;error=true
FROM scratch as base
copy Dockerfile .
"#,
        warnings: vec![FROM_AS_CASING.at(2, "'as' and 'FROM' keywords' casing do not match")],
        build_err: Some("lint violation found for rules: FromAsCasing"),
        ..Case::default()
    });
    // The build argument replaces the directive.
    check(Case {
        dockerfile: r#"#check=skip=all
FROM scratch as base
copy Dockerfile .
"#,
        args: build_arg("BUILDKIT_DOCKERFILE_CHECK=skip=ConsistentInstructionCasing;error=true"),
        warnings: vec![FROM_AS_CASING.at(2, "'as' and 'FROM' keywords' casing do not match")],
        build_err: Some("lint violation found for rules: FromAsCasing"),
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"#check=error=true
FROM scratch as base
copy Dockerfile .
"#,
        args: build_arg("BUILDKIT_DOCKERFILE_CHECK=skip=all"),
        ..Case::default()
    });
}

#[test]
fn stage_names_are_lowercase_and_as_matches_from() {
    // testStageName.
    check(Case {
        dockerfile: r#"
# warning: stage name should be lowercase
#
FROM scratch AS BadStageName

# warning: 'as' should match 'FROM' cmd casing.
#
FROM scratch as base2

FROM scratch AS base3
"#,
        warnings: vec![
            STAGE_NAME_CASING.at(4, "Stage name 'BadStageName' should be lowercase"),
            FROM_AS_CASING.at(8, "'as' and 'FROM' keywords' casing do not match"),
        ],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
# warning: 'AS' should match 'from' cmd casing.
#
from scratch AS base

from scratch as base2
"#,
        warnings: vec![FROM_AS_CASING.at(4, "'AS' and 'from' keywords' casing do not match")],
        ..Case::default()
    });
}

#[test]
fn empty_continuation_lines_warn_at_the_instructions_last_line() {
    // testNoEmptyContinuation.
    check(Case {
        dockerfile: r#"
FROM scratch
# warning: empty continuation line
COPY Dockerfile \

.
COPY Dockerfile \
.
"#,
        warnings: vec![NO_EMPTY_CONTINUATION.at(6, "Empty continuation line")],
        ..Case::default()
    });
}

#[test]
fn instruction_casing_follows_the_majority() {
    // testConsistentInstructionCasing.
    check(Case {
        dockerfile: r#"
# warning: 'FROM' should be either lowercased or uppercased
#
From scratch as base
FROM scratch AS base2
"#,
        warnings: vec![CONSISTENT_INSTRUCTION_CASING.at(
            4,
            "Command 'From' should match the case of the command majority (uppercase)",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
FROM scratch
# warning: 'copy' should match command majority's casing (uppercase)
copy Dockerfile /foo
COPY Dockerfile /bar
"#,
        warnings: vec![CONSISTENT_INSTRUCTION_CASING.at(
            4,
            "Command 'copy' should match the case of the command majority (uppercase)",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
# warning: 'frOM' should be either lowercased or uppercased
#
frOM scratch as base
from scratch as base2
"#,
        warnings: vec![CONSISTENT_INSTRUCTION_CASING.at(
            4,
            "Command 'frOM' should match the case of the command majority (lowercase)",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
from scratch
# warning: 'COPY' should match command majority's casing (lowercase)
COPY Dockerfile /foo
copy Dockerfile /bar
"#,
        warnings: vec![CONSISTENT_INSTRUCTION_CASING.at(
            4,
            "Command 'COPY' should match the case of the command majority (lowercase)",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
# warning: 'from' should match command majority's casing (uppercase)
#
from scratch
COPY Dockerfile /foo
COPY Dockerfile /bar
COPY Dockerfile /baz
"#,
        warnings: vec![CONSISTENT_INSTRUCTION_CASING.at(
            4,
            "Command 'from' should match the case of the command majority (uppercase)",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
# warning: 'FROM' should match command majority's casing (lowercase)
#
FROM scratch
copy Dockerfile /foo
copy Dockerfile /bar
copy Dockerfile /baz
"#,
        warnings: vec![CONSISTENT_INSTRUCTION_CASING.at(
            4,
            "Command 'FROM' should match the case of the command majority (lowercase)",
        )],
        ..Case::default()
    });
    clean(
        r#"
from scratch
copy Dockerfile /foo
copy Dockerfile /bar
"#,
    );
    clean(
        r#"
FROM scratch
COPY Dockerfile /foo
COPY Dockerfile /bar
"#,
    );
    // A heredoc's lines are not instructions (the windows branch, nanoserver/`set`, left out).
    clean(
        r#"
FROM busybox
RUN <<'EOT'
env
EOT
"#,
    );
}

#[test]
fn duplicate_stage_names() {
    // testDuplicateStageName.
    check(Case {
        dockerfile: r#"
FROM scratch AS b
FROM scratch AS b
"#,
        warnings: vec![DUPLICATE_STAGE_NAME.at(
            3,
            "Duplicate stage name \"b\", stage names should be unique",
        )],
        ..Case::default()
    });
    clean(
        r#"
FROM scratch AS b1
FROM scratch AS b2
"#,
    );
}

#[test]
fn reserved_stage_names() {
    // testReservedStageName.
    check(Case {
        dockerfile: r#"
FROM scratch AS scratch
FROM scratch AS context
"#,
        warnings: vec![
            RESERVED_STAGE_NAME.at(
                2,
                "Stage name should not use the same name as reserved stage \"scratch\"",
            ),
            RESERVED_STAGE_NAME.at(
                3,
                "Stage name should not use the same name as reserved stage \"context\"",
            ),
        ],
        ..Case::default()
    });
    // A reserved name as the base without a stage name, or a non-reserved name, is fine.
    clean(
        r#"
FROM scratch
FROM scratch AS a
"#,
    );
}

#[test]
fn json_args_recommended_for_cmd_and_entrypoint_unless_a_shell_is_set() {
    // testJSONArgsRecommended.
    check(Case {
        dockerfile: r#"
FROM scratch
CMD mycommand
"#,
        warnings: vec![JSON_ARGS_RECOMMENDED.at(
            3,
            "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
FROM scratch
ENTRYPOINT mycommand
"#,
        warnings: vec![JSON_ARGS_RECOMMENDED.at(
            3,
            "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals",
        )],
        ..Case::default()
    });
    clean(
        r#"
FROM scratch
SHELL ["/usr/bin/customshell"]
CMD mycommand
"#,
    );
    clean(
        r#"
FROM scratch
SHELL ["/usr/bin/customshell"]
ENTRYPOINT mycommand
"#,
    );
    clean(
        r#"
FROM scratch AS base
SHELL ["/usr/bin/customshell"]

FROM base
CMD mycommand
"#,
    );
    clean(
        r#"
FROM scratch AS base
SHELL ["/usr/bin/customshell"]

FROM base
ENTRYPOINT mycommand
"#,
    );
}

#[test]
fn maintainer_is_deprecated_and_a_check_comment_skips_a_rule_for_one_instruction() {
    // testMaintainerDeprecated.
    check(Case {
        dockerfile: r#"
FROM scratch
MAINTAINER me@example.org
"#,
        warnings: vec![MAINTAINER_DEPRECATED.at(
            3,
            "Maintainer instruction is deprecated in favor of using label",
        )],
        ..Case::default()
    });
    clean(
        r#"
FROM scratch
LABEL org.opencontainers.image.authors="me@example.org"
"#,
    );
    clean(
        r#"
FROM scratch
# check=skip=JSONArgsRecommended
CMD mycommand
"#,
    );
    clean(
        r#"
FROM scratch
# check=skip=JSONArgsRecommended
ENTRYPOINT mycommand
"#,
    );
    clean(
        r#"
FROM scratch
# check=skip=MaintainerDeprecated
MAINTAINER me@example.org
"#,
    );
}

#[test]
fn warnings_before_a_parse_error_are_reported() {
    // testWarningsBeforeError.
    check(Case {
        dockerfile: r#"
FROM scratch AS BadStageName
MAINTAINER me@example.org
BADCMD
"#,
        warnings: vec![
            STAGE_NAME_CASING.at(2, "Stage name 'BadStageName' should be lowercase"),
            MAINTAINER_DEPRECATED.at(
                3,
                "Maintainer instruction is deprecated in favor of using label",
            ),
        ],
        build_err: Some("dockerfile parse error on line 4: unknown instruction: BADCMD"),
        ..Case::default()
    });
}

#[test]
fn from_uses_only_declared_args() {
    // testUndeclaredArg (the windows branch, nanoserver, left out).
    clean(
        r#"
ARG base=scratch
FROM $base
COPY Dockerfile .
"#,
    );
    clean(
        r#"
ARG BUILDPLATFORM=linux/amd64
FROM --platform=$BUILDPLATFORM scratch
COPY Dockerfile .
"#,
    );
    clean(
        r#"
FROM --platform=$BUILDPLATFORM scratch
COPY Dockerfile .
"#,
    );
    clean(
        r#"
ARG DEBUG
FROM scratch${DEBUG}
COPY Dockerfile .
"#,
    );
    clean(
        r#"
ARG DEBUG
FROM scra${DEBUG:-tch}
COPY Dockerfile .
"#,
    );
    clean(
        r#"
ARG DEBUG=""
FROM scratch${DEBUG-@bogus}
COPY Dockerfile .
"#,
    );
    check(Case {
        dockerfile: r#"
FROM --platform=$BULIDPLATFORM scratch
COPY Dockerfile .
"#,
        warnings: vec![UNDEFINED_ARG_IN_FROM.at(
            2,
            "FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)",
        )],
        build_err: Some(
            "empty platform value from expression $BULIDPLATFORM (did you mean BUILDPLATFORM?)",
        ),
        ..Case::default()
    });
    check(Case {
        dockerfile: "\nARG MY_OS=linux\nARG MY_ARCH=amd64\n\
                     FROM --platform=linux/${MYARCH} busybox\nCOPY Dockerfile .\n\t",
        warnings: vec![UNDEFINED_ARG_IN_FROM.at(
            4,
            "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)",
        )],
        build_err: Some(
            r#"failed to parse platform linux/${MYARCH}: "" is an invalid component of "linux/": platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument (did you mean MY_ARCH?)"#,
        ),
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
ARG tag=latest
FROM busybox:${tag}${version} AS b
COPY Dockerfile .
"#,
        warnings: vec![UNDEFINED_ARG_IN_FROM.at(3, "FROM argument 'version' is not declared")],
        ..Case::default()
    });
}

#[test]
fn relative_workdir_without_an_absolute_one() {
    // testWorkdirRelativePath.
    check(Case {
        dockerfile: r#"
FROM scratch
WORKDIR app/
"#,
        warnings: vec![WORKDIR_RELATIVE_PATH.at(
            3,
            "Relative workdir \"app/\" can have unexpected results if the base image changes",
        )],
        ..Case::default()
    });
    clean(
        r#"
FROM scratch AS a
WORKDIR /app

FROM a AS b
WORKDIR subdir/
"#,
    );
    clean(
        r#"
FROM scratch
# check=skip=WorkdirRelativePath
WORKDIR app/
"#,
    );
}

#[test]
fn undefined_variables_with_suggestions() {
    // testUnmatchedVars (the windows branch, no PATH hint, left out).
    clean(
        r#"
FROM scratch
ARG foo
COPY Dockerfile${foo} .
"#,
    );
    // A stage inherits the ARGs of the stage it is built on.
    clean(
        r#"
FROM busybox AS base
ARG foo=Dockerfile

FROM base
COPY $foo .
"#,
    );
    clean(
        r#"
FROM busybox
RUN echo $PATH
"#,
    );
    check(Case {
        dockerfile: r#"
FROM busybox
COPY $foo .
ARG foo=bar
RUN echo $foo
"#,
        warnings: vec![UNDEFINED_VAR.at(3, "Usage of undefined variable '$foo'")],
        ..Case::default()
    });
    check(Case {
        dockerfile: "\nFROM busybox\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\n\
                     ARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n\t",
        warnings: vec![UNDEFINED_VAR.at(
            6,
            "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: "\nFROM busybox\nENV PATH=$PAHT:/tmp/bin\n\t\t",
        warnings: vec![UNDEFINED_VAR.at(
            3,
            "Usage of undefined variable '$PAHT' (did you mean $PATH?)",
        )],
        ..Case::default()
    });
}

#[test]
fn cmd_entrypoint_and_healthcheck_once_per_stage() {
    // testMultipleInstructionsDisallowed.
    let multiple = |instruction: &str, line: u64| {
        MULTIPLE_INSTRUCTIONS_DISALLOWED.at(
            line,
            &format!(
                "Multiple {instruction} instructions should not be used in the same stage because only the last one will be used"
            ),
        )
    };
    check(Case {
        dockerfile: r#"
FROM scratch
ENTRYPOINT ["/myapp"]
ENTRYPOINT ["/myotherapp"]
CMD ["/myapp"]
CMD ["/myotherapp"]
HEALTHCHECK CMD ["/myapp"]
HEALTHCHECK CMD ["/myotherapp"]
"#,
        warnings: vec![
            multiple("ENTRYPOINT", 3),
            multiple("CMD", 5),
            multiple("HEALTHCHECK", 7),
        ],
        ..Case::default()
    });
    // Still a warning when another instruction comes between: only the image uses them.
    check(Case {
        dockerfile: r#"
FROM scratch
ENTRYPOINT ["/myapp"]
CMD ["/myapp"]
HEALTHCHECK CMD ["/myapp"]
COPY <<EOF /a.txt
Hello, World!
EOF
ENTRYPOINT ["/myotherapp"]
CMD ["/myotherapp"]
HEALTHCHECK CMD ["/myotherapp"]
"#,
        warnings: vec![
            multiple("ENTRYPOINT", 3),
            multiple("CMD", 4),
            multiple("HEALTHCHECK", 5),
        ],
        ..Case::default()
    });
    clean(
        r#"
FROM scratch AS a
ENTRYPOINT ["/myapp"]
CMD ["/myapp"]
HEALTHCHECK CMD ["/myapp"]

FROM a AS b
ENTRYPOINT ["/myotherapp"]
CMD ["/myotherapp"]
HEALTHCHECK CMD ["/myotherapp"]
"#,
    );
}

#[test]
fn legacy_key_value_format() {
    // testLegacyKeyValueFormat.
    let env_kv = LEGACY_KEY_VALUE_FORMAT.at(
        3,
        "\"ENV key=value\" should be used instead of legacy \"ENV key value\" format",
    );
    let label_kv = LEGACY_KEY_VALUE_FORMAT.at(
        4,
        "\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format",
    );
    check(Case {
        dockerfile: r#"
FROM scratch
ENV testkey value
LABEL key value
"#,
        warnings: vec![env_kv.clone(), label_kv.clone()],
        ..Case::default()
    });
    clean(
        r#"
FROM scratch
ENV testkey=value
LABEL key=value
"#,
    );
    // Only the lint sees a stage the build does not reach. (BuildKit writes lines 3 and 4
    // here, which its unmarshal check never compares; the instructions are on 5 and 6.)
    check(Case {
        dockerfile: r#"
FROM scratch AS a

FROM a AS b
ENV testkey value
LABEL key value

FROM a AS c
"#,
        check_warnings: Some(vec![
            Want { line: 5, ..env_kv },
            Want {
                line: 6,
                ..label_kv
            },
        ]),
        ..Case::default()
    });
    clean(
        r#"
FROM scratch
# check=skip=LegacyKeyValueFormat
ENV testkey value
# check=skip=LegacyKeyValueFormat
LABEL key value
"#,
    );
}

#[test]
fn check_lints_every_stage_and_a_build_only_the_target() {
    // testAllTargetUnmarshal.
    check(Case {
        dockerfile: r#"
FROM scratch AS first
COPY $foo .

FROM scratch AS second
COPY $bar .
"#,
        warnings: vec![UNDEFINED_VAR.at(6, "Usage of undefined variable '$bar'")],
        check_warnings: Some(vec![
            UNDEFINED_VAR.at(3, "Usage of undefined variable '$foo'"),
            UNDEFINED_VAR.at(6, "Usage of undefined variable '$bar'"),
        ]),
        ..Case::default()
    });
}

#[test]
fn redundant_target_platform() {
    // testRedundantTargetPlatform.
    check(Case {
        dockerfile: r#"
FROM --platform=$TARGETPLATFORM scratch
"#,
        warnings: vec![REDUNDANT_TARGET_PLATFORM.at(
            2,
            "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
FROM --platform=${TARGETPLATFORM} scratch
"#,
        warnings: vec![REDUNDANT_TARGET_PLATFORM.at(
            2,
            "Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior",
        )],
        ..Case::default()
    });
    clean(
        r#"
# check=skip=RedundantTargetPlatform
FROM --platform=$TARGETPLATFORM scratch
"#,
    );
}

#[test]
fn secrets_in_arg_and_env_names() {
    // testSecretsUsedInArgOrEnv.
    check(Case {
        dockerfile: r#"# check=skip=InvalidDefinitionDescription

FROM scratch
ARG SECRET_PASSPHRASE
ENV SUPER_Secret=foo
ENV password=bar secret=baz
ARG super_duper_secret_token=foo auth=bar
ENV apikey=bar sunflower=foo
ENV git_key=
ENV PUBLIC_KEY=
ARG public_token
ARG SECRET_PASSPHRASE_FILE
ENV password_file=bar secret_File=baz
ARG AUTH_MODULE_VERSION
# check=skip=SecretsUsedInArgOrEnv // allow secret in environment
ENV password=bar
# check=skip=SecretsUsedInArgOrEnv // allow secret in arg
ARG password
# check=skip=all // is local to only this instruction
ENV alternate_password=bar
# check=skip=all // is local to only this instruction
ARG alternate_password
"#,
        warnings: vec![
            SECRETS_USED_IN_ARG_OR_ENV.at(
                4,
                r#"Do not use ARG or ENV instructions for sensitive data (ARG "SECRET_PASSPHRASE")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                5,
                r#"Do not use ARG or ENV instructions for sensitive data (ENV "SUPER_Secret")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                6,
                r#"Do not use ARG or ENV instructions for sensitive data (ENV "password")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                6,
                r#"Do not use ARG or ENV instructions for sensitive data (ENV "secret")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                7,
                r#"Do not use ARG or ENV instructions for sensitive data (ARG "auth")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                7,
                r#"Do not use ARG or ENV instructions for sensitive data (ARG "super_duper_secret_token")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                8,
                r#"Do not use ARG or ENV instructions for sensitive data (ENV "apikey")"#,
            ),
            SECRETS_USED_IN_ARG_OR_ENV.at(
                9,
                r#"Do not use ARG or ENV instructions for sensitive data (ENV "git_key")"#,
            ),
        ],
        ..Case::default()
    });
}

#[test]
fn global_arg_defaults_must_give_a_valid_base_image_name() {
    // testInvalidDefaultArgInFrom (the windows branch, nanoserver, left out).
    check(Case {
        dockerfile: r#"
ARG VERSION
FROM busybox:$VERSION
"#,
        args: build_arg("VERSION=latest"),
        warnings: vec![INVALID_DEFAULT_ARG_IN_FROM.at(
            3,
            "Default value for ARG busybox:$VERSION results in empty or invalid base image name",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
ARG IMAGE
FROM $IMAGE
"#,
        args: build_arg("IMAGE=busybox:latest"),
        warnings: vec![INVALID_DEFAULT_ARG_IN_FROM.at(
            3,
            "Default value for ARG $IMAGE results in empty or invalid base image name",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
ARG SFX="box:"
FROM busy${SFX}
"#,
        args: build_arg("SFX=box:latest"),
        warnings: vec![INVALID_DEFAULT_ARG_IN_FROM.at(
            3,
            "Default value for ARG busy${SFX} results in empty or invalid base image name",
        )],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
ARG VERSION="latest"
FROM busybox:${VERSION}
"#,
        args: build_arg("VERSION=latest"),
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"
ARG BUSYBOX_VARIANT=""
FROM busybox:stable${BUSYBOX_VARIANT}
"#,
        args: build_arg("BUSYBOX_VARIANT=-musl"),
        images: vec!["busybox:stable-musl"],
        ..Case::default()
    });
    check(Case {
        dockerfile: "\n\tARG BUSYBOX_VARIANT\n\tFROM busybox:stable${BUSYBOX_VARIANT}\n\t",
        args: build_arg("BUSYBOX_VARIANT=-musl"),
        images: vec!["busybox:stable-musl"],
        ..Case::default()
    });
}

#[test]
fn from_platform_flag_constant_unless_the_stage_is_named_for_it() {
    // testFromPlatformFlagConstDisallowed.
    check(Case {
        dockerfile: r#"
FROM --platform=linux/amd64 scratch
"#,
        warnings: vec![FROM_PLATFORM_FLAG_CONST_DISALLOWED.at(
            2,
            "FROM --platform flag should not use constant value \"linux/amd64\"",
        )],
        ..Case::default()
    });
    clean(
        r#"
FROM --platform=linux/amd64 scratch AS my_amd64_stage
"#,
    );
    clean(
        r#"
FROM --platform=linux/amd64 scratch AS linux
"#,
    );
}

#[test]
fn copy_and_add_of_dockerignored_files() {
    // testCopyIgnoredFiles (BuildKit runs its first case twice, verbatim; once here).
    let dockerignore = "\nDockerfile\n";
    check(Case {
        dockerfile: r#"
FROM scratch
COPY Dockerfile .
ADD Dockerfile /windy
"#,
        dockerignore: Some(dockerignore),
        stream_err: Some(r#"Dockerfile": not found"#),
        warnings: vec![
            COPY_IGNORED_FILE.at(
                3,
                r#"Attempting to Copy file "Dockerfile" that is excluded by .dockerignore"#,
            ),
            COPY_IGNORED_FILE.at(
                4,
                r#"Attempting to Add file "Dockerfile" that is excluded by .dockerignore"#,
            ),
        ],
        ..Case::default()
    });
    check(Case {
        dockerfile: r#"# check=skip=CopyIgnoredFile

FROM scratch
COPY Dockerfile .
ADD Dockerfile /windy
"#,
        dockerignore: Some(dockerignore),
        stream_err: Some(r#"Dockerfile": not found"#),
        ..Case::default()
    });
    // A COPY --from another stage is not subject to .dockerignore.
    check(Case {
        dockerfile: r#"
FROM scratch AS base
COPY Dockerfile /foobar
ADD Dockerfile /windy

FROM base
COPY --from=base /foobar /Dockerfile
"#,
        dockerignore: Some("\nfoobar\n"),
        ..Case::default()
    });
    // A .dockerignore with exclusions is not checked.
    let dockerignore = "\n**\n!Dockerfile\n";
    check(Case {
        dockerfile: r#"
FROM scratch
COPY ./Dockerfile .
"#,
        dockerignore: Some(dockerignore),
        ..Case::default()
    });
    // No warning for copying the directory.
    check(Case {
        dockerfile: "\nFROM scratch\nCOPY . .\n\t",
        dockerignore: Some(dockerignore),
        ..Case::default()
    });
}

#[test]
fn copy_of_the_context_root_warns_only_when_everything_is_ignored() {
    // testCopyIgnoredFileContextRoot.
    let dockerfile = r#"
FROM scratch
COPY . .
"#;
    // dotfiles
    check(Case {
        dockerfile,
        dockerignore: Some("\n.*\n"),
        ..Case::default()
    });
    // wildcard
    check(Case {
        dockerfile,
        dockerignore: Some("\n*\n"),
        warnings: vec![COPY_IGNORED_FILE.at(
            3,
            r#"Attempting to Copy file "." that is excluded by .dockerignore"#,
        )],
        ..Case::default()
    });
}

#[test]
fn stage_and_arg_description_comments() {
    // testDefinitionDescription.
    clean(
        r#"# check=skip=all;experimental=InvalidDefinitionDescription
# foo this is the foo
ARG foo=bar

# base this is the base image
FROM scratch AS base

# version this is the version number
ARG version=latest

# baz this is the baz
ARG foo=baz bar=qux baz=quux
#
ARG bit=bat

# comment for something other than ARG or FROM
COPY Dockerfile .
"#,
    );
    check(Case {
        dockerfile: r#"# check=experimental=InvalidDefinitionDescription
# bar this is the bar
ARG foo=bar
# BasE this is the BasE image
FROM scratch AS base
# definitely a bad comment
ARG version=latest
# definitely a bad comment
ARG foo=baz bar=qux baz=quux
"#,
        warnings: vec![
            INVALID_DEFINITION_DESCRIPTION.at(
                3,
                "Comment for ARG should follow the format: `# foo <description>`",
            ),
            INVALID_DEFINITION_DESCRIPTION.at(
                5,
                "Comment for FROM should follow the format: `# base <description>`",
            ),
            INVALID_DEFINITION_DESCRIPTION.at(
                7,
                "Comment for ARG should follow the format: `# version <description>`",
            ),
            INVALID_DEFINITION_DESCRIPTION.at(
                9,
                "Comment for ARG should follow the format: `# <arg_key> <description>`",
            ),
        ],
        ..Case::default()
    });
}

#[test]
fn expose_protocol_casing() {
    // testExposeProtoCasing.
    check(Case {
        dockerfile: r#"
FROM scratch
EXPOSE 80/TcP 8080/TCP 8080/udp
"#,
        warnings: vec![
            EXPOSE_PROTO_CASING.at(
                3,
                "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase",
            ),
            EXPOSE_PROTO_CASING.at(
                3,
                "Defined protocol '8080/TCP' in EXPOSE instruction should be lowercase",
            ),
        ],
        ..Case::default()
    });
}

#[test]
fn expose_without_addresses_or_host_ports() {
    // testExposeInvalidFormat.
    let found = |port: &str| {
        EXPOSE_INVALID_FORMAT.at(
            3,
            &format!(
                "EXPOSE instruction should not define an IP address or host-port mapping, found '{port}'"
            ),
        )
    };
    check(Case {
        dockerfile: r#"
FROM scratch
EXPOSE 127.0.0.1:80:80 [::1]:8080:8080 5000:5000 8000
"#,
        warnings: vec![
            found("127.0.0.1:80:80"),
            found("[::1]:8080:8080"),
            found("5000:5000"),
        ],
        ..Case::default()
    });
}
