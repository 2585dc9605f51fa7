//! Choosing one manifest from an index / manifest list.
//!
//! Why not oci-client's resolvers: they only know the host's os/arch and ignore variants.
//! cairn builds for an explicit platform (linux/amd64 today, `--platform` later), so matching
//! is done here: os and architecture must match (after docker's aliases: `x86_64` = `amd64`,
//! `aarch64` = `arm64`); a wanted variant must match (arm64 without a variant means `v8`);
//! without a wanted variant, an entry without one is preferred, else the first of the rest.
//! Attestation manifests (`unknown/unknown`) never match.

use cairn_ir::Platform;
use cairn_oci::model::{Descriptor, PlatformJson};

fn arch_alias(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        other => other,
    }
}

/// The normalized variant: arm64's default `v8` is the same as none.
fn variant<'a>(arch: &str, v: Option<&'a str>) -> Option<&'a str> {
    match (arch, v) {
        ("arm64", Some("v8")) => None,
        (_, Some("")) => None,
        (_, v) => v,
    }
}

/// `os/arch[/variant]`.
pub(crate) fn describe(p: &PlatformJson) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

pub(crate) fn describe_wanted(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// The entry of `manifests` for `want`, if any.
pub(crate) fn select<'a>(manifests: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let want_arch = arch_alias(&want.architecture);
    let want_variant = variant(want_arch, want.variant.as_deref());
    let candidates: Vec<(&Descriptor, Option<&str>)> = manifests
        .iter()
        .filter_map(|d| {
            let p = d.platform.as_ref()?;
            let arch = arch_alias(&p.architecture);
            (p.os == want.os && arch == want_arch).then(|| (d, variant(arch, p.variant.as_deref())))
        })
        .collect();
    match want_variant {
        Some(v) => candidates
            .iter()
            .find(|(_, cv)| *cv == Some(v))
            .map(|(d, _)| *d),
        None => candidates
            .iter()
            .find(|(_, cv)| cv.is_none())
            .or_else(|| candidates.first())
            .map(|(d, _)| *d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: &str, arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: digest.into(),
            size: 1,
            artifact_type: None,
            annotations: None,
            platform: Some(PlatformJson {
                architecture: arch.into(),
                os: os.into(),
                variant: variant.map(str::to_string),
            }),
        }
    }

    fn want(s: &str) -> Platform {
        Platform::parse(s).expect("platform")
    }

    #[test]
    fn matches_os_arch_and_variant() {
        let list = vec![
            desc("unknown", "unknown", None, "att"),
            desc("linux", "arm", Some("v6"), "armv6"),
            desc("linux", "arm", Some("v7"), "armv7"),
            desc("linux", "amd64", None, "amd64"),
            desc("linux", "arm64", Some("v8"), "arm64"),
            desc("windows", "amd64", None, "win"),
        ];
        let pick = |p: &str| select(&list, &want(p)).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").as_deref(), Some("amd64"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("amd64"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("arm64"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("arm64"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("armv7"));
        assert_eq!(pick("linux/arm").as_deref(), Some("armv6"));
        assert_eq!(pick("windows/amd64").as_deref(), Some("win"));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("linux/arm/v5"), None);
    }
}
