//! Groups and targets, `inherits`, `--set`, and what a name selects.

use crate::Error;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Definition {
    pub groups: BTreeMap<String, Group>,
    pub targets: BTreeMap<String, Target>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// Targets or other groups.
    pub targets: Vec<String>,
}

/// A build: what `docker buildx build` would be given. Field names as buildx prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Target {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(rename = "dockerfile-inline", skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(rename = "cache-from", skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    #[serde(rename = "cache-to", skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<String>,
    #[serde(rename = "output", skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(rename = "no-cache-filter", skip_serializing_if = "Vec::is_empty")]
    pub no_cache_filter: Vec<String>,
    #[serde(rename = "no-cache", skip_serializing_if = "Option::is_none")]
    pub no_cache: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull: Option<bool>,
    /// Applied, then dropped (buildx does not print them).
    #[serde(skip)]
    pub inherits: Vec<String>,
}

impl Target {
    /// `self` over `base`: what `self` sets wins; maps are merged key by key.
    fn over(&self, base: &Target) -> Target {
        fn pick<T: Clone>(mine: &Option<T>, theirs: &Option<T>) -> Option<T> {
            mine.clone().or_else(|| theirs.clone())
        }
        fn list(mine: &[String], theirs: &[String]) -> Vec<String> {
            if mine.is_empty() {
                theirs.to_vec()
            } else {
                mine.to_vec()
            }
        }
        fn map(
            mine: &BTreeMap<String, String>,
            theirs: &BTreeMap<String, String>,
        ) -> BTreeMap<String, String> {
            let mut m = theirs.clone();
            m.extend(mine.iter().map(|(k, v)| (k.clone(), v.clone())));
            m
        }
        Target {
            context: pick(&self.context, &base.context),
            dockerfile: pick(&self.dockerfile, &base.dockerfile),
            dockerfile_inline: pick(&self.dockerfile_inline, &base.dockerfile_inline),
            args: map(&self.args, &base.args),
            contexts: map(&self.contexts, &base.contexts),
            labels: map(&self.labels, &base.labels),
            tags: list(&self.tags, &base.tags),
            target: pick(&self.target, &base.target),
            platforms: list(&self.platforms, &base.platforms),
            cache_from: list(&self.cache_from, &base.cache_from),
            cache_to: list(&self.cache_to, &base.cache_to),
            secret: list(&self.secret, &base.secret),
            ssh: list(&self.ssh, &base.ssh),
            outputs: list(&self.outputs, &base.outputs),
            network: pick(&self.network, &base.network),
            no_cache_filter: list(&self.no_cache_filter, &base.no_cache_filter),
            no_cache: pick(&self.no_cache, &base.no_cache),
            pull: pick(&self.pull, &base.pull),
            inherits: Vec::new(),
        }
    }

    /// buildx's normalizing: lists lose empty and repeated entries (`tags = [cond ? "x" :
    /// ""]` is the idiom for an optional tag); context `.`, Dockerfile `Dockerfile` (unless
    /// inline).
    pub(crate) fn fill_defaults(&mut self) {
        for list in [
            &mut self.tags,
            &mut self.platforms,
            &mut self.cache_from,
            &mut self.cache_to,
            &mut self.secret,
            &mut self.ssh,
            &mut self.outputs,
            &mut self.no_cache_filter,
        ] {
            let mut seen = std::collections::BTreeSet::new();
            list.retain(|v| !v.is_empty() && seen.insert(v.clone()));
        }
        if self.context.is_none() {
            self.context = Some(".".into());
        }
        if self.dockerfile.is_none() && self.dockerfile_inline.is_none() {
            self.dockerfile = Some("Dockerfile".into());
        }
    }

    /// `--set FIELD=VALUE` on this target.
    fn set(&mut self, field: &str, value: &str) -> Result<(), String> {
        let key_value = |v: &str| -> Result<(String, String), String> {
            Ok(match v.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (v.to_string(), String::new()),
            })
        };
        match field.split_once('.') {
            Some(("args", k)) => {
                self.args.insert(k.into(), value.into());
            }
            Some(("labels", k)) => {
                self.labels.insert(k.into(), value.into());
            }
            Some(("contexts", k)) => {
                self.contexts.insert(k.into(), value.into());
            }
            Some((other, _)) => return Err(format!("{other} has no keys")),
            None => match field {
                "context" => self.context = Some(value.into()),
                "dockerfile" => self.dockerfile = Some(value.into()),
                "target" => self.target = Some(value.into()),
                "tags" => self.tags = vec![value.into()],
                "platform" | "platforms" => {
                    self.platforms = value.split(',').map(str::to_string).collect()
                }
                "output" => self.outputs = vec![value.into()],
                "cache-from" => self.cache_from = vec![value.into()],
                "cache-to" => self.cache_to = vec![value.into()],
                "secrets" | "secret" => self.secret = vec![value.into()],
                "ssh" => self.ssh = vec![value.into()],
                "network" => self.network = Some(value.into()),
                "no-cache" => {
                    self.no_cache = Some(
                        value
                            .parse()
                            .map_err(|_| "no-cache is true or false".to_string())?,
                    )
                }
                "pull" => {
                    self.pull = Some(
                        value
                            .parse()
                            .map_err(|_| "pull is true or false".to_string())?,
                    )
                }
                "args" | "labels" => {
                    let (k, v) = key_value(value)?;
                    if field == "args" {
                        self.args.insert(k, v);
                    } else {
                        self.labels.insert(k, v);
                    }
                }
                other => return Err(format!("unknown field {other:?}")),
            },
        }
        Ok(())
    }
}

/// Resolve every target's `inherits` (depth first; a cycle is an error).
pub(crate) fn apply_inherits(def: &mut Definition) -> Result<(), Error> {
    fn resolve(
        name: &str,
        raw: &BTreeMap<String, Target>,
        done: &mut BTreeMap<String, Target>,
        path: &mut Vec<String>,
    ) -> Result<Target, Error> {
        if let Some(t) = done.get(name) {
            return Ok(t.clone());
        }
        if path.iter().any(|p| p == name) {
            return Err(Error::new(
                "bake",
                format!(
                    "targets inherit from each other: {} -> {name}",
                    path.join(" -> ")
                ),
            ));
        }
        let own = raw
            .get(name)
            .ok_or_else(|| Error::new("bake", format!("target {name:?} is not defined")))?;
        path.push(name.to_string());
        let mut base = Target::default();
        for parent in &own.inherits {
            let p = resolve(parent, raw, done, path).map_err(|e| {
                Error::new(&e.file, format!("{} (inherited by {name:?})", e.message))
            })?;
            base = p.over(&base);
        }
        path.pop();
        let t = own.over(&base);
        done.insert(name.to_string(), t.clone());
        Ok(t)
    }
    let raw = def.targets.clone();
    let mut done = BTreeMap::new();
    for name in raw.keys() {
        resolve(name, &raw, &mut done, &mut Vec::new())?;
    }
    def.targets = done;
    Ok(())
}

/// `--set TARGET.FIELD=VALUE` (TARGET may be `*`, or a glob-free prefix ending in `*`).
pub(crate) fn apply_overrides(def: &mut Definition, set: &[String]) -> Result<(), Error> {
    for s in set {
        let bad = |why: &str| Error::new("--set", format!("{s:?}: {why}"));
        let (lhs, value) = s
            .split_once('=')
            .ok_or_else(|| bad("expected TARGET.FIELD=VALUE"))?;
        let (target, field) = lhs
            .split_once('.')
            .ok_or_else(|| bad("expected TARGET.FIELD=VALUE"))?;
        let names: Vec<String> = def
            .targets
            .keys()
            .filter(|n| match target.strip_suffix('*') {
                Some(prefix) => n.starts_with(prefix),
                None => *n == target,
            })
            .cloned()
            .collect();
        if names.is_empty() {
            return Err(bad(&format!("no target matches {target:?}")));
        }
        for n in names {
            if let Some(t) = def.targets.get_mut(&n) {
                t.set(field, value).map_err(|e| bad(&e))?;
            }
        }
    }
    Ok(())
}

pub(crate) fn select(def: &Definition, names: &[String]) -> Result<Vec<String>, Error> {
    fn add(
        def: &Definition,
        name: &str,
        out: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<(), Error> {
        if let Some(g) = def.groups.get(name) {
            if path.iter().any(|p| p == name) {
                return Err(Error::new(
                    "bake",
                    format!("group {name:?} contains itself"),
                ));
            }
            path.push(name.to_string());
            for t in &g.targets {
                add(def, t, out, path)?;
            }
            path.pop();
            Ok(())
        } else if def.targets.contains_key(name) {
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
            Ok(())
        } else {
            Err(Error::new(
                "bake",
                format!("no target or group named {name:?}"),
            ))
        }
    }
    let mut out = Vec::new();
    if names.is_empty() {
        add(def, "default", &mut out, &mut Vec::new())?;
    }
    for n in names {
        add(def, n, &mut out, &mut Vec::new())?;
    }
    Ok(out)
}
