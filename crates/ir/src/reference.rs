//! Image reference normalization, as the docker CLI does it: `busybox` means
//! `docker.io/library/busybox:latest`, `localhost:5000/x` keeps its registry, a digest pins it.
//! Pure string handling, shared by frontends (to name image sources) and the registry client.

use std::fmt;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port): `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path: `library/busybox`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` when pinned.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

pub const DEFAULT_REGISTRY: &str = "docker.io";

impl Reference {
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err("empty reference"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (algo, hex) = d
                    .split_once(':')
                    .ok_or_else(|| err("digest must be algorithm:hex"))?;
                let valid = match algo {
                    "sha256" => hex.len() == 64,
                    "sha512" => hex.len() == 128,
                    _ => false,
                } && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !valid {
                    return Err(err("unsupported or malformed digest"));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(err("invalid tag"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if repository.is_empty() {
            return Err(err("missing repository name"));
        }
        for component in repository.split('/') {
            let ok = !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric());
            if !ok {
                return Err(err(
                    "repository names must be lower-case letters, digits and separators",
                ));
            }
        }
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// The short form of a normalized repository name that `docker images` shows:
/// `docker.io/library/busybox` → `busybox`, `docker.io/team/app` → `team/app`, others as they
/// are.
pub fn familiar(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.to_string())
            .unwrap_or_else(|e| format!("error: {}", e.reason))
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("localhost/app:v"), "localhost/app:v");
        assert_eq!(norm("ghcr.io/a/b/c:x"), "ghcr.io/a/b/c:x");
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
    }

    #[test]
    fn rejects_bad_references() {
        assert!(norm("").starts_with("error"));
        assert!(norm("Busybox").starts_with("error"));
        assert!(norm("busybox:").starts_with("error"));
        assert!(norm("busybox@sha256:abc").starts_with("error"));
        assert!(norm("a//b").starts_with("error"));
    }
}
