//! The build targets of a Dockerfile, as BuildKit's `frontend.targets` subrequest lists them
//! (`docker buildx build --call targets`): every stage with its name, its description (a
//! comment right above its FROM that starts with the name), its base, its `--platform`,
//! whether it is the default (the last), and its line.

use crate::parser::Ast;
use serde::Serialize;

/// One stage (BuildKit's `targets.Target`; JSON field names as BuildKit's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// The FROM's line.
    pub line: usize,
}

/// Every stage of `ast`, in order.
pub fn targets(ast: &Ast) -> Vec<Target> {
    let froms: Vec<_> = ast
        .children
        .iter()
        .filter(|n| n.keyword.eq_ignore_ascii_case("from"))
        .collect();
    let last = froms.len().saturating_sub(1);
    froms
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let words: Vec<&str> = n.words().collect();
            let name = match words.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => name.to_lowercase(),
                _ => String::new(),
            };
            // BuildKit's getDocComment: the first comment line that starts with the name.
            let description = if name.is_empty() {
                String::new()
            } else {
                n.prev_comment
                    .iter()
                    .find_map(|c| c.strip_prefix(&format!("{name} ")))
                    .unwrap_or_default()
                    .to_string()
            };
            let platform = n
                .flags
                .iter()
                .find_map(|f| f.strip_prefix("--platform="))
                .unwrap_or_default()
                .to_string();
            Target {
                name,
                default: i == last,
                description,
                base: words.first().map(|w| w.to_string()).unwrap_or_default(),
                platform,
                line: n.span.start_line,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_with_descriptions_bases_and_the_default() {
        let ast = crate::parser::parse(
            b"\n# build defines stage for compiling the binary\nFROM alpine AS build\nRUN true\nFROM busybox as second\nRUN false\nFROM alpine\nRUN false\n# binary returns the compiled binary\nFROM --platform=$BUILDPLATFORM second AS binary\n",
        )
        .expect("parse");
        let t = targets(&ast);
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[0].name.as_str(), t[0].base.as_str(), t[0].line),
            ("build", "alpine", 3)
        );
        assert_eq!(t[0].description, "defines stage for compiling the binary");
        assert_eq!(
            (t[1].name.as_str(), t[1].description.as_str()),
            ("second", "")
        );
        assert_eq!((t[2].name.as_str(), t[2].default), ("", false));
        assert_eq!(
            (t[3].name.as_str(), t[3].default, t[3].line),
            ("binary", true, 10)
        );
        assert_eq!(t[3].description, "returns the compiled binary");
        assert_eq!(t[3].platform, "$BUILDPLATFORM");
    }
}
