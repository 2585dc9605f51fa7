//! The image configuration a build produces: what `docker inspect` shows under `Config`, plus
//! history. Kept out of vertex digests: it describes the result, it does not change its files.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux_amd64() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// The platform this binary runs on, in OCI terms (`x86_64` is `amd64`, ...).
    pub fn host() -> Self {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7".to_string())),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.into(),
            architecture: arch.into(),
            variant,
        }
    }

    /// Whether something of this platform (an image, this machine) serves `want`: same os and
    /// architecture, and the same variant when both name one.
    pub fn serves(&self, want: &Platform) -> bool {
        self.os == want.os
            && self.architecture == want.architecture
            && match (&self.variant, &want.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let architecture = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next().map(str::to_string);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant,
        })
    }
}

impl Platform {
    /// The platform as containerd's `platforms.Normalize` writes it, which BuildKit applies to
    /// every platform it is given: lower case, `macos` is `darwin`, architecture aliases
    /// (`x86_64` → `amd64`, `aarch64` → `arm64`, `i386` → `386`, `armhf` → `arm/v7`, `armel` →
    /// `arm/v6`), `arm` with no variant is `arm/v7`, and the default variants dropped (`arm64`'s
    /// `v8`, `amd64`'s `v1`).
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            other => other.to_string(),
        };
        let variant = self.variant.as_deref().map(str::to_ascii_lowercase);
        let v = |n: &str| Some(format!("v{}", n.trim_start_matches('v')));
        let (architecture, variant) = match self.architecture.to_ascii_lowercase().as_str() {
            "i386" | "386" => ("386", None),
            "x86_64" | "x86-64" | "amd64" => (
                "amd64",
                variant.filter(|v| !matches!(v.as_str(), "v1" | "1")),
            ),
            "aarch64" | "arm64" => (
                "arm64",
                variant.filter(|v| !matches!(v.as_str(), "8" | "v8" | "v8.0")),
            ),
            "armhf" => ("arm", Some("v7".to_string())),
            "armel" => ("arm", Some("v6".to_string())),
            "arm" => (
                "arm",
                match variant.as_deref() {
                    None | Some("" | "7" | "v7") => v("7"),
                    Some(other @ ("5" | "6" | "8" | "v5" | "v6" | "v8")) => v(other),
                    Some(other) => Some(other.to_string()),
                },
            ),
            other => {
                return Platform {
                    os,
                    architecture: other.to_string(),
                    variant,
                };
            }
        };
        Platform {
            os,
            architecture: architecture.to_string(),
            variant,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`, as in the Docker config.
    pub test: Vec<String>,
    /// Durations in nanoseconds; 0 means "inherit the default".
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub start_interval: u64,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct History {
    /// RFC 3339; set on a base image's entries (kept as they came), `None` on the entries a
    /// build adds (stamped when the image is assembled: SOURCE_DATE_EPOCH, or the time the
    /// step's layer was made). Always written (`null` when unset): the binary graph format
    /// is postcard, which cannot tell a skipped field from the next one.
    #[serde(default)]
    pub created: Option<String>,
    pub created_by: String,
    pub comment: Option<String>,
    /// True when the step produced no layer (ENV, LABEL, CMD...).
    pub empty_layer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct ImageConfig {
    pub user: Option<String>,
    /// Sets (docker's config keeps them as map keys): adding one costs a lookup, whatever
    /// a Dockerfile's `EXPOSE 1-65535` or thousands of `VOLUME` lines add up to.
    pub exposed_ports: BTreeSet<String>,
    /// `KEY=value`, in definition order, one entry per key.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub volumes: BTreeSet<String>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<HealthConfig>,
    pub shell: Option<Vec<String>>,
    pub on_build: Vec<String>,
    /// `MAINTAINER` (the image's `author` field).
    pub author: Option<String>,
    /// Set when CMD/ENTRYPOINT were given in shell form on Windows-style images; kept for parity.
    pub args_escaped: bool,
    pub history: Vec<History>,
}

impl ImageConfig {
    /// The value of `key` in `env`, if set.
    pub fn env_get(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// Set `key=value`, replacing an existing entry in place.
    pub fn env_set(&mut self, key: &str, value: &str) {
        let entry = format!("{key}={value}");
        match self
            .env
            .iter_mut()
            .find(|kv| kv.split_once('=').map(|(k, _)| k) == Some(key))
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_match_on_os_arch_and_a_named_variant() {
        let p = |s: &str| Platform::parse(s).expect("platform");
        assert!(p("linux/amd64").serves(&p("linux/amd64")));
        assert!(!p("linux/amd64").serves(&p("linux/arm64")));
        assert!(p("linux/arm/v7").serves(&p("linux/arm")));
        assert!(!p("linux/arm/v6").serves(&p("linux/arm/v7")));
        assert!(!p("windows/amd64").serves(&p("linux/amd64")));
    }

    #[test]
    fn env_set_replaces_in_place() {
        let mut c = ImageConfig::default();
        c.env_set("A", "1");
        c.env_set("B", "2");
        c.env_set("A", "3");
        assert_eq!(c.env, vec!["A=3", "B=2"]);
        assert_eq!(c.env_get("A"), Some("3"));
        assert_eq!(c.env_get("C"), None);
    }

    #[test]
    fn platform_parse() {
        assert_eq!(
            Platform::parse("linux/arm64/v8")
                .map(|p| p.to_string())
                .as_deref(),
            Some("linux/arm64/v8")
        );
        assert_eq!(Platform::parse("linux"), None);
        let norm = |s: &str| {
            Platform::parse(s)
                .expect("platform")
                .normalized()
                .to_string()
        };
        for (given, want) in [
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("Linux/x86_64", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("macos/arm64", "darwin/arm64"),
            ("linux/s390x", "linux/s390x"),
            ("windows/amd64", "windows/amd64"),
        ] {
            assert_eq!(norm(given), want, "{given}");
        }
    }
}
