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

/// The automatic platform args and their values.
pub fn platform_args(target: &Platform, build: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        ));
    }
    out
}

/// An ordered set of variables; setting a name again replaces it in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(pub Vec<(String, String)>);

impl Vars {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
}

impl crate::shell::Env for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        Vars::get(self, name)
    }
}

/// The variables a word in a stage sees: the image's ENV (`KEY=value` entries) over the declared
/// build args. Borrowed, so expanding a word allocates nothing for the scope.
pub struct Scope<'a> {
    pub args: &'a Vars,
    pub env: &'a [String],
}

impl crate::shell::Env for Scope<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
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
        );
        let get = |k: &str| args.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("TARGETPLATFORM"), Some("linux/amd64"));
        assert_eq!(get("BUILDARCH"), Some("arm64"));
        assert_eq!(get("BUILDVARIANT"), Some("v8"));
        assert_eq!(get("TARGETVARIANT"), Some(""));
    }

    #[test]
    fn env_overrides_args() {
        use crate::shell::Env;
        let mut v = Vars::default();
        v.set("A", "arg".into());
        v.set("B", "b".into());
        let env = ["A=env".to_string(), "AB=x".to_string()];
        let scope = Scope {
            args: &v,
            env: &env,
        };
        assert_eq!(scope.get("A"), Some("env"));
        assert_eq!(scope.get("B"), Some("b"));
        assert_eq!(scope.get("C"), None);
    }
}
