//! Build-argument scoping, as `docker build` defines it.
//!
//! * ARGs before the first FROM form the *global* scope: usable in FROM lines only, unless a stage
//!   re-declares the name (`ARG NAME` without a value inherits the global value).
//! * Inside a stage, an ARG is visible from its declaration on; `--build-arg` overrides its
//!   default; ENV of the same name wins over it in expansions.
//! * The platform args (`TARGETPLATFORM`, `BUILDARCH`, ...) are predefined in the global scope
//!   and get their automatic value when a stage declares them.
//! * Proxy args (`HTTP_PROXY`, ...) reach RUN steps when given with `--build-arg`, even if not
//!   declared, but stay out of the cache key unless declared.

use cairn_ir::Platform;

pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The automatic args and their values, as BuildKit's `defaultArgs`: the build and target
/// platforms, and `TARGETSTAGE` (the `--target` as given, else `default`).
pub fn platform_args(
    target: &Platform,
    build: &Platform,
    target_stage: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}OSVERSION"), String::new()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        ));
    }
    out.push((
        "TARGETSTAGE".into(),
        target_stage.unwrap_or("default").to_string(),
    ));
    out
}

/// An ordered set of variables; setting a name again replaces it in place. Indexed by name, so
/// a Dockerfile with 100,000 ARGs plans in linear time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    entries: Vec<(String, String)>,
    index: std::collections::HashMap<String, usize>,
}

impl Vars {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut v = Vars::default();
        for (k, val) in pairs {
            v.set(&k, val);
        }
        v
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.index
            .get(name)
            .and_then(|&i| self.entries.get(i))
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: String) {
        match self.index.get(name).and_then(|&i| self.entries.get_mut(i)) {
            Some(slot) => slot.1 = value,
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries.push((name.to_string(), value));
            }
        }
    }

    /// The variables in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = &(String, String)> {
        self.entries.iter()
    }
}

impl crate::shell::Env for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        Vars::get(self, name)
    }
}

/// The image's ENV (`KEY=value` entries, in order) with an index by name, so setting and
/// reading a variable is constant time (40,000 ENV lines plan in linear time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvIndex(std::collections::HashMap<String, usize>);

impl EnvIndex {
    pub fn of(env: &[String]) -> Self {
        let mut index = std::collections::HashMap::with_capacity(env.len());
        for (i, kv) in env.iter().enumerate() {
            let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            // The first entry of a name is the one kept (later duplicates cannot be set).
            index.entry(key.to_string()).or_insert(i);
        }
        EnvIndex(index)
    }

    pub fn get<'e>(&self, env: &'e [String], key: &str) -> Option<&'e str> {
        let kv = env.get(*self.0.get(key)?)?;
        kv.strip_prefix(key)?.strip_prefix('=')
    }

    /// Set `key=value` in `env`, replacing an existing entry in place.
    pub fn set(&mut self, env: &mut Vec<String>, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self.0.get(key).and_then(|&i| env.get_mut(i)) {
            Some(slot) => *slot = entry,
            None => {
                self.0.insert(key.to_string(), env.len());
                env.push(entry);
            }
        }
    }
}

/// The variables a word in a stage sees: the image's ENV over the declared build args.
/// Borrowed, so expanding a word allocates nothing for the scope.
pub struct Scope<'a> {
    pub args: &'a Vars,
    pub env: &'a [String],
    pub env_index: &'a EnvIndex,
}

impl crate::shell::Env for Scope<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.env_index
            .get(self.env, name)
            .or_else(|| self.args.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_args_cover_build_and_target() {
        let args = platform_args(
            &Platform::linux_amd64(),
            &Platform::parse("linux/arm64/v8").unwrap(),
            None,
        );
        let get = |k: &str| args.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("TARGETPLATFORM"), Some("linux/amd64"));
        assert_eq!(get("BUILDARCH"), Some("arm64"));
        assert_eq!(get("BUILDVARIANT"), Some("v8"));
        assert_eq!(get("TARGETVARIANT"), Some(""));
        assert_eq!(get("TARGETSTAGE"), Some("default"));
    }

    #[test]
    fn env_overrides_args() {
        use crate::shell::Env;
        let mut v = Vars::default();
        v.set("A", "arg".into());
        v.set("B", "b".into());
        let env = ["A=env".to_string(), "AB=x".to_string()];
        let env_index = EnvIndex::of(&env);
        let scope = Scope {
            args: &v,
            env: &env,
            env_index: &env_index,
        };
        assert_eq!(scope.get("A"), Some("env"));
        assert_eq!(scope.get("B"), Some("b"));
        assert_eq!(scope.get("C"), None);
    }
}
