//! `cairn bake`'s definition files, resolved as `docker buildx bake` resolves them.
//!
//! Input: the texts of `docker-bake.hcl`, `docker-bake.json` and `docker-bake.override.*` (in
//! the order given; a later file's attributes override an earlier one's), the environment (a
//! variable named like a `variable` block overrides its default) and `--set` overrides.
//! Output: a [`Definition`] of groups and fully resolved targets (`inherits` applied, defaults
//! filled), which the CLI builds as one graph and `--print` shows in buildx's JSON shape.
//!
//! HCL is parsed and evaluated by `hcl-rs` (interpolation, conditionals, function calls); a
//! JSON file is turned into the same HCL body, its strings read as templates, so `${VAR}`
//! works in both as in buildx. Like every frontend, this crate does no I/O.

mod eval;
mod functions;
mod model;

pub use model::{Definition, Group, Target};

use std::collections::BTreeMap;

/// A bake file's fault, named with the file and (for HCL) what the parser says of the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct Error {
    pub file: String,
    pub message: String,
}

impl Error {
    pub(crate) fn new(file: &str, message: impl Into<String>) -> Self {
        Error {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

/// One definition file: its name (for messages, and `.json` to pick the syntax) and text.
pub struct File<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Parse, evaluate and merge `files`; `env` overrides variables; `set` are `--set` overrides
/// (`TARGET.FIELD=VALUE`, `TARGET` may be `*`).
pub fn load(
    files: &[File<'_>],
    env: &BTreeMap<String, String>,
    set: &[String],
) -> Result<Definition, Error> {
    let mut def = eval::evaluate(files, env)?;
    model::apply_inherits(&mut def)?;
    model::apply_overrides(&mut def, set)?;
    for t in def.targets.values_mut() {
        t.fill_defaults();
    }
    Ok(def)
}

/// The targets `names` (targets or groups; none: the `default` group, else a `default`
/// target) stand for, each once, in order.
pub fn select(def: &Definition, names: &[String]) -> Result<Vec<String>, Error> {
    model::select(def, names)
}

/// `--print`: buildx's JSON shape, `{"group": {...}, "target": {...}}`, for the selection.
pub fn print(def: &Definition, names: &[String]) -> Result<serde_json::Value, Error> {
    let selected = select(def, names)?;
    let requested: Vec<String> = if names.is_empty() {
        vec!["default".to_string()]
    } else {
        names.to_vec()
    };
    let mut groups = serde_json::Map::new();
    for name in &requested {
        let targets = select(def, std::slice::from_ref(name))?;
        groups.insert(name.clone(), serde_json::json!({ "targets": targets }));
    }
    let mut targets = serde_json::Map::new();
    for name in &selected {
        if let Some(t) = def.targets.get(name) {
            targets.insert(
                name.clone(),
                serde_json::to_value(t).map_err(|e| Error::new("--print", e.to_string()))?,
            );
        }
    }
    Ok(serde_json::json!({ "group": groups, "target": targets }))
}

#[cfg(test)]
mod tests;
