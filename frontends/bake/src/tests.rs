use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const HCL: &str = r#"
variable "TAG" { default = "latest" }
variable "REGISTRY" { default = "ghcr.io/acme" }
variable "IMAGE" { default = "${REGISTRY}/app" }
variable "RELEASE" { default = false }

group "default" { targets = ["app", "tools"] }
group "all" { targets = ["default", "docs"] }

target "_common" {
  args = { GO_VERSION = "1.22", CGO_ENABLED = "0" }
  labels = { "org.opencontainers.image.source" = "https://github.com/acme/app" }
}

target "app" {
  inherits = ["_common"]
  dockerfile = "build/Dockerfile"
  target = "release"
  tags = [ "${IMAGE}:${TAG}", notequal("", TAG) ? "${IMAGE}:stable" : "" ]
  args = { CGO_ENABLED = "1", VERSION = upper(TAG) }
  platforms = RELEASE ? ["linux/amd64", "linux/arm64"] : ["linux/amd64"]
  cache-from = ["type=registry,ref=${IMAGE}:cache"]
}

target "tools" {
  inherits = ["_common"]
  context = "tools"
  output = ["type=local,dest=out/tools"]
}

target "docs" {
  dockerfile-inline = "FROM scratch\nCOPY docs /"
  no-cache = true
}
"#;

#[test]
fn an_hcl_file_resolves_as_buildx_resolves_it() {
    let def = load(
        &[File {
            name: "docker-bake.hcl",
            text: HCL,
        }],
        &env(&[]),
        &[],
    )
    .unwrap();
    let app = &def.targets["app"];
    assert_eq!(
        app.tags,
        ["ghcr.io/acme/app:latest", "ghcr.io/acme/app:stable"]
    );
    assert_eq!(app.args["GO_VERSION"], "1.22");
    assert_eq!(app.args["CGO_ENABLED"], "1", "the child's value wins");
    assert_eq!(app.args["VERSION"], "LATEST");
    assert_eq!(app.labels.len(), 1, "inherited");
    assert_eq!(app.platforms, ["linux/amd64"]);
    assert_eq!(app.context.as_deref(), Some("."));
    assert_eq!(app.dockerfile.as_deref(), Some("build/Dockerfile"));
    assert_eq!(
        def.targets["tools"].dockerfile.as_deref(),
        Some("Dockerfile")
    );
    assert_eq!(def.targets["docs"].dockerfile, None, "inline");
    assert_eq!(select(&def, &[]).unwrap(), ["app", "tools"]);
    assert_eq!(
        select(&def, &["all".into()]).unwrap(),
        ["app", "tools", "docs"]
    );

    // The environment overrides variables, typed like their defaults.
    let def = load(
        &[File {
            name: "docker-bake.hcl",
            text: HCL,
        }],
        &env(&[("TAG", ""), ("RELEASE", "true"), ("REGISTRY", "reg.local")]),
        &[],
    )
    .unwrap();
    let app = &def.targets["app"];
    assert_eq!(
        app.tags,
        ["reg.local/app:"],
        "an empty TAG drops :stable (an empty entry is dropped, as buildx drops it)"
    );
    assert_eq!(app.platforms, ["linux/amd64", "linux/arm64"]);
}

#[test]
fn json_files_overrides_and_set() {
    let json = r#"{
      "variable": {"TAG": {"default": "1.0"}},
      "target": {"app": {"tags": ["app:${TAG}"], "args": {"A": "x"}}}
    }"#;
    let over = r#"target "app" { args = { B = "y" } }"#;
    let def = load(
        &[
            File {
                name: "docker-bake.json",
                text: json,
            },
            File {
                name: "docker-bake.override.hcl",
                text: over,
            },
        ],
        &env(&[]),
        &["app.args.C=z".into(), "*.platform=linux/amd64".into()],
    )
    .unwrap();
    let app = &def.targets["app"];
    assert_eq!(app.tags, ["app:1.0"]);
    // A later file's attribute replaces the earlier one (args as a whole, as in buildx).
    assert_eq!(app.args.get("A"), None);
    assert_eq!(app.args["B"], "y");
    assert_eq!(app.args["C"], "z");
    assert_eq!(app.platforms, ["linux/amd64"]);
}

#[test]
fn print_has_buildxs_shape() {
    let def = load(
        &[File {
            name: "docker-bake.hcl",
            text: HCL,
        }],
        &env(&[]),
        &[],
    )
    .unwrap();
    let p = print(&def, &[]).unwrap();
    assert_eq!(
        p["group"]["default"]["targets"],
        serde_json::json!(["app", "tools"])
    );
    let app = &p["target"]["app"];
    assert_eq!(app["context"], ".");
    assert_eq!(app["dockerfile"], "build/Dockerfile");
    assert_eq!(app["target"], "release");
    assert_eq!(
        app["cache-from"],
        serde_json::json!(["type=registry,ref=ghcr.io/acme/app:cache"])
    );
    assert!(app.get("inherits").is_none());
    assert_eq!(
        p["target"]["tools"]["output"],
        serde_json::json!(["type=local,dest=out/tools"])
    );
    assert!(p["target"].get("docs").is_none(), "not selected");
}

#[test]
fn mistakes_are_clear_errors() {
    let cases = [
        (
            r#"target "a" { tagz = ["x"] }"#,
            "unknown attribute \"tagz\"",
        ),
        (
            r#"target "a" { inherits = ["b"] }
            target "b" { inherits = ["a"] }"#,
            "inherit from each other",
        ),
        (
            r#"target "a" { inherits = ["nope"] }"#,
            "target \"nope\" is not defined",
        ),
        (r#"target "a" { tags = "x" }"#, "expected a list"),
        (r#"target "a" { tags = [NOPE] }"#, "NOPE"),
        (r#"target "a" {"#, "docker-bake.hcl"),
        (r#"function "f" { params = [] }"#, "has no result"),
        (
            r#"function "f" {
                 params = [n]
                 result = f(n)
               }
               target "a" { tags = [f(1)] }"#,
            "calls itself too deeply",
        ),
        (r#"locals { x = 1 }"#, "locals blocks are not supported"),
        (
            r#"variable "A" { default = B }
            variable "B" { default = A }"#,
            "variable",
        ),
    ];
    for (text, want) in cases {
        let e = load(
            &[File {
                name: "docker-bake.hcl",
                text,
            }],
            &env(&[]),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains(want), "{text}: {e}");
        assert!(
            e.to_string().starts_with("docker-bake.hcl") || e.file == "bake",
            "{e}"
        );
    }
    let def = load(
        &[File {
            name: "x.hcl",
            text: r#"target "a" {}"#,
        }],
        &env(&[]),
        &[],
    )
    .unwrap();
    assert!(
        select(&def, &[])
            .unwrap_err()
            .to_string()
            .contains("\"default\"")
    );
    assert!(select(&def, &["b".into()]).is_err());
    assert!(
        load(
            &[File {
                name: "x.hcl",
                text: r#"target "a" {}"#
            }],
            &env(&[]),
            &["b.tags=x".into()]
        )
        .is_err()
    );
}

/// Patterns of real-world bake files (docker/metadata-action's generated target inherited,
/// numeric args, variables without defaults, a JSON override as CI writes it).
#[test]
fn real_world_patterns() {
    let hcl = r#"
// docker/metadata-action writes this target in CI; locally it is empty.
target "docker-metadata-action" {}

variable "GO_VERSION" { default = "1.22" }
variable "DESTDIR" { default = "./bin" }
variable "GITHUB_REF" {}

target "_common" {
  args = {
    GO_VERSION = GO_VERSION
    BUILDKIT_CONTEXT_KEEP_GIT_DIR = 1
  }
}

group "default" { targets = ["image-local"] }

target "image" {
  inherits = ["_common", "docker-metadata-action"]
}

target "image-local" {
  inherits = ["image"]
  output = ["type=docker"]
}

target "binaries" {
  inherits = ["_common"]
  target = "binaries"
  output = ["${DESTDIR}/build"]
  platforms = ["local"]
}

target "validate" {
  inherits = ["_common"]
  target = notequal("", GITHUB_REF) ? "validate-ci" : "validate"
  output = ["type=cacheonly"]
}
"#;
    let meta = r#"{"target": {"docker-metadata-action": {
        "tags": ["ghcr.io/o/r:main", "ghcr.io/o/r:sha-abc"],
        "labels": {"org.opencontainers.image.revision": "abc"},
        "args": {"DOCKER_META_VERSION": "main"}}}}"#;
    let def = load(
        &[
            File {
                name: "docker-bake.hcl",
                text: hcl,
            },
            File {
                name: "/tmp/docker-metadata-action-bake.json",
                text: meta,
            },
        ],
        &env(&[("GITHUB_REF", "refs/heads/main")]),
        &[],
    )
    .unwrap();
    let p = print(&def, &[]).unwrap();
    assert_eq!(
        p["group"]["default"]["targets"],
        serde_json::json!(["image-local"])
    );
    let t = &p["target"]["image-local"];
    assert_eq!(
        t["tags"],
        serde_json::json!(["ghcr.io/o/r:main", "ghcr.io/o/r:sha-abc"])
    );
    assert_eq!(t["args"]["BUILDKIT_CONTEXT_KEEP_GIT_DIR"], "1");
    assert_eq!(t["args"]["GO_VERSION"], "1.22");
    assert_eq!(t["args"]["DOCKER_META_VERSION"], "main");
    assert_eq!(t["labels"]["org.opencontainers.image.revision"], "abc");
    assert_eq!(t["output"], serde_json::json!(["type=docker"]));
    assert_eq!(
        def.targets["validate"].target.as_deref(),
        Some("validate-ci")
    );
    assert_eq!(def.targets["binaries"].outputs, ["./bin/build"]);
    let all = select(
        &def,
        &["binaries".into(), "validate".into(), "binaries".into()],
    )
    .unwrap();
    assert_eq!(all, ["binaries", "validate"], "each once");
}

#[test]
fn user_functions() {
    let hcl = r#"
variable "REPO" { default = "ghcr.io/acme" }
function "tag" {
  params = [name, version]
  result = "${REPO}/${name}:${version}"
}
function "tags" {
  params = [name]
  variadic_params = versions
  result = [for v in versions : tag(name, v)]
}
function "shout" {
  params = [s]
  result = upper(s)
}
variable "DEFAULT_TAG" { default = tag("base", "1") }
target "app" {
  tags = tags("app", "1.0", shout("latest"))
  args = { BASE = DEFAULT_TAG }
}
"#;
    let def = load(
        &[File {
            name: "docker-bake.hcl",
            text: hcl,
        }],
        &env(&[("REPO", "reg.local")]),
        &[],
    )
    .unwrap();
    let app = &def.targets["app"];
    assert_eq!(app.tags, ["reg.local/app:1.0", "reg.local/app:LATEST"]);
    assert_eq!(app.args["BASE"], "reg.local/base:1");
    // Arity is checked.
    let bad = r#"
function "one" {
  params = [a]
  result = a
}
target "x" { tags = [one("a", "b")] }
"#;
    let e = load(
        &[File {
            name: "docker-bake.hcl",
            text: bad,
        }],
        &env(&[]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("takes 1 argument"), "{e}");
}

#[test]
fn matrix_targets() {
    let hcl = r#"
group "default" { targets = ["app"] }
target "app" {
  name = "app-${tgt}-${replace(ver, ".", "-")}"
  matrix = {
    tgt = ["a", "b"]
    ver = ["1.0", "2.0"]
  }
  target = tgt
  args = { VERSION = ver }
  tags = ["app:${tgt}-${ver}"]
}
"#;
    let def = load(
        &[File {
            name: "docker-bake.hcl",
            text: hcl,
        }],
        &env(&[]),
        &[],
    )
    .unwrap();
    let all = select(&def, &[]).unwrap();
    assert_eq!(all, ["app-a-1-0", "app-a-2-0", "app-b-1-0", "app-b-2-0"]);
    let t = &def.targets["app-b-2-0"];
    assert_eq!(t.target.as_deref(), Some("b"));
    assert_eq!(t.args["VERSION"], "2.0");
    assert_eq!(t.tags, ["app:b-2.0"]);
    let bad = r#"target "x" {
  matrix = { v = ["1", "2"] }
  name = "same"
}"#;
    let e = load(
        &[File {
            name: "docker-bake.hcl",
            text: bad,
        }],
        &env(&[]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("both named \"same\""), "{e}");
}

#[test]
fn doubling_strings_is_refused_in_bounded_memory() {
    // Forty variables each doubling the last, and a function doubling its argument 60 deep.
    let mut hcl = String::from("variable \"V0\" { default = \"xx\" }\n");
    for i in 1..=40 {
        hcl.push_str(&format!(
            "variable \"V{i}\" {{ default = \"${{V{}}}${{V{}}}\" }}\n",
            i - 1,
            i - 1
        ));
    }
    hcl.push_str("target \"a\" { tags = [V40] }\n");
    let e = load(
        &[File {
            name: "docker-bake.hcl",
            text: &hcl,
        }],
        &env(&[]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
    let f = r#"
function "double" {
  params = [s, n]
  result = n == 0 ? s : double("${s}${s}", n - 1)
}
target "a" { tags = [double("xx", 60)] }
"#;
    let e = load(
        &[File {
            name: "docker-bake.hcl",
            text: f,
        }],
        &env(&[]),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
}
