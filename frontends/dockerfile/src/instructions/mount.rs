//! `RUN --mount=...` values, as BuildKit's `commands_runmount.go` reads them.
//!
//! The value is one CSV record (`type=cache,target=/root/.cache,sharing=locked`, fields may be
//! `"quoted"`), read left to right: keys are case-insensitive, `ro`/`rw`/`required` may stand
//! alone, and key checks that depend on the type (`required`, `size`) use the type seen *so far*,
//! exactly like BuildKit. After the fields, the per-type rules run and the defaults are filled
//! in (bind/secret/ssh read-only, secret id and target, ssh id, cache id) so lowering does not
//! have to know them.
//!
//! Values stay unexpanded. A value holding `$` is kept raw where the type has room for it
//! (target, source, id, env) and checked later by lowering; `from=` refuses variables, as in
//! BuildKit. Keys whose values are typed here (type, sharing, mode, uid, gid, size, ro, rw,
//! required) cannot be variables at all: that is a limitation of ours, reported as such.

use super::cx::{Cx, has_expansion, parse_go_bool};
use super::types::{MountKind, MountSpec, Sharing};
use crate::error::{Result, suggest};

/// Every key BuildKit knows, for typo suggestions.
const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];
const TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARINGS: &[&str] = &["shared", "private", "locked"];

/// Where parse errors point: a column of the instruction (`Cx`), or just its line.
pub(crate) trait ErrAt {
    fn err_at(&self, word: &str, message: String) -> crate::error::Error;
}

impl ErrAt for Cx<'_> {
    fn err_at(&self, word: &str, message: String) -> crate::error::Error {
        Cx::err_at(self, word, message)
    }
}

/// Parses one `--mount` value.
pub(crate) fn parse(cx: &dyn ErrAt, value: &str) -> Result<MountSpec> {
    let flag_word = format!("--mount={value}");
    let fields = split_csv(value).map_err(|e| {
        cx.err_at(&flag_word, format!("failed to parse csv mounts: {e}"))
            .with_help("write --mount as key=value pairs separated by commas")
    })?;
    let mut m = MountSpec {
        kind: MountKind::Bind,
        target: None,
        source: None,
        from: None,
        readonly: false,
        id: None,
        sharing: Sharing::Shared,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
        deferred: None,
    };
    let mut ro_auto = true;
    let mut sharing_set = false;
    let mut required_set = false;
    for field in &fields {
        let at = |msg: String| {
            let word = if field.is_empty() {
                flag_word.as_str()
            } else {
                field.as_str()
            };
            cx.err_at(word, msg)
        };
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountKind::Secret | MountKind::Ssh) => {
                    m.required = true;
                    required_set = true;
                }
                "required" => return Err(type_key_err(at, "required", m.kind)),
                lower => {
                    let err = at(format!("invalid field '{field}' must be a key=value pair"));
                    if KEYS.contains(&lower) {
                        return Err(err.with_help(format!("give it a value: {lower}=<value>")));
                    }
                    let close = if field.is_empty() {
                        None
                    } else {
                        suggest(field, KEYS.iter().copied())
                    };
                    return Err(match close {
                        Some(k) => err.with_suggestion(k),
                        None => err.with_help("write it as key=value, e.g. target=/path"),
                    });
                }
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key == "from" && has_expansion(value) {
            return Err(at(format!(
                "'{key}' doesn't support variable expansion, define alias stage instead"
            ))
            .with_help(
                "declare `FROM <image> AS <name>` with the variable and mount from=<name>",
            ));
        }
        let typed = matches!(
            key.as_str(),
            "type"
                | "sharing"
                | "mode"
                | "uid"
                | "gid"
                | "size"
                | "ro"
                | "readonly"
                | "rw"
                | "readwrite"
                | "required"
        );
        if typed && has_expansion(value) {
            // Read once the step's variables are known (lowering expands and parses again);
            // `from=` is still checked in every field first.
            let from_var = fields.iter().find_map(|f| {
                let (k, v) = f.split_once('=')?;
                (k.eq_ignore_ascii_case("from") && has_expansion(v)).then_some(f.clone())
            });
            if let Some(f) = from_var {
                return Err(cx.err_at(
                    &f,
                    "'from' doesn't support variable expansion, define alias stage instead"
                        .to_string(),
                ));
            }
            m.deferred = Some(value_of_flag(&flag_word).to_string());
            return Ok(m);
        }
        let bool_value =
            || parse_go_bool(value).ok_or_else(|| at(format!("invalid value for {key}: {value}")));
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => {
                        let err = at(format!("unsupported mount type \"{value}\""));
                        return Err(match suggest(value, TYPES.iter().copied()) {
                            Some(t) => err.with_suggestion(t),
                            None => err.with_help(format!("mount types are {}", TYPES.join(", "))),
                        });
                    }
                }
            }
            "from" => m.from = Some(value.to_string()),
            "source" | "src" => m.source = Some(value.to_string()),
            "target" | "dst" | "destination" => m.target = Some(value.to_string()),
            "readonly" | "ro" => {
                m.readonly = bool_value()?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !bool_value()?;
                ro_auto = false;
            }
            "required" if matches!(m.kind, MountKind::Secret | MountKind::Ssh) => {
                m.required = bool_value()?;
                required_set = true;
            }
            "required" => return Err(type_key_err(at, "required", m.kind)),
            "size" if m.kind == MountKind::Tmpfs => {
                m.size = Some(
                    ram_in_bytes(value)
                        .ok_or_else(|| at(format!("invalid value for {key}: {value}")))?,
                );
            }
            "size" => return Err(type_key_err(at, "size", m.kind)),
            "id" => m.id = Some(value.to_string()),
            "sharing" => {
                m.sharing = match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let err = at(format!("unsupported sharing value \"{value}\""));
                        return Err(match suggest(value, SHARINGS.iter().copied()) {
                            Some(s) => err.with_suggestion(s),
                            None => err.with_help("sharing is shared, private or locked"),
                        });
                    }
                };
                sharing_set = true;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(value, 8)
                        .ok()
                        .filter(|_| !value.starts_with(['+', '-']))
                        .ok_or_else(|| {
                            at(format!("invalid value {value} for mode"))
                                .with_help("mode is octal, e.g. mode=0755")
                        })?,
                );
            }
            "uid" | "gid" => {
                let id = value
                    .parse::<u32>()
                    .ok()
                    .filter(|_| !value.starts_with('+'))
                    .ok_or_else(|| at(format!("invalid value {value} for {key}")))?;
                if key == "uid" {
                    m.uid = Some(id);
                } else {
                    m.gid = Some(id);
                }
            }
            "env" => m.env = Some(value.to_string()),
            _ => {
                let err = at(format!("unexpected key '{key}' in '{field}'"));
                return Err(match suggest(&key, KEYS.iter().copied()) {
                    Some(k) => err.with_suggestion(k),
                    None => err,
                });
            }
        }
    }
    finish(cx, &flag_word, m, ro_auto, sharing_set, required_set)
}

fn type_key_err(
    at: impl Fn(String) -> crate::error::Error,
    key: &str,
    kind: MountKind,
) -> crate::error::Error {
    let allowed = if key == "size" {
        "type=tmpfs"
    } else {
        "type=secret and type=ssh"
    };
    at(format!(
        "unexpected key '{key}' for mount type '{}'",
        kind_name(kind)
    ))
    .with_help(format!(
        "{key} is only valid for {allowed}; give type= first"
    ))
}

pub(crate) fn kind_name(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

/// The `--mount` value of `--mount=VALUE`.
fn value_of_flag(flag_word: &str) -> &str {
    flag_word.strip_prefix("--mount=").unwrap_or(flag_word)
}

/// The checks BuildKit runs after all fields, then the defaults.
fn finish(
    cx: &dyn ErrAt,
    word: &str,
    mut m: MountSpec,
    ro_auto: bool,
    sharing_set: bool,
    required_set: bool,
) -> Result<MountSpec> {
    let kind = kind_name(m.kind);
    let err = |msg: String| cx.err_at(word, msg);
    if matches!(m.kind, MountKind::Bind | MountKind::Tmpfs) {
        for (set, key) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(err(format!("{key} not allowed for \"{kind}\" type mounts"))
                    .with_help(format!(
                        "{key} is valid for type=cache, type=secret and type=ssh"
                    )));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if m.kind == MountKind::Secret {
        if m.from.is_some() {
            return Err(err("secret mount should not have a from".into()));
        }
        if sharing_set {
            return Err(err("secret mount should not define sharing".into()));
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err(
                err("invalid secret mount. one of source, target required".into())
                    .with_help("name the secret with id=<id>"),
            );
        }
        if m.source.is_some() && m.id.is_some() {
            return Err(err("both source and id can't be set".into()));
        }
    }
    if sharing_set && m.kind != MountKind::Cache {
        return Err(err(format!("invalid cache sharing set for {kind} mount"))
            .with_help("sharing= is only valid for type=cache"));
    }
    // A bind, cache or tmpfs mount without a target goes on the stage's working directory
    // (lowering resolves it, and refuses `/`), as in BuildKit's `convert_runmount.go`.
    match m.kind {
        MountKind::Secret => {
            // BuildKit's convert_secrets.go: the id is the source, else id=, else the target's
            // base name; the target defaults to /run/secrets/<id> unless exposed as env only.
            let id = m
                .source
                .clone()
                .or_else(|| m.id.clone())
                .or_else(|| m.target.as_deref().map(|t| base_name(t).to_string()));
            if m.target.is_none()
                && m.env.is_none()
                && let Some(id) = &id
            {
                m.target = Some(format!("/run/secrets/{}", base_name(id)));
            }
            m.id = id;
        }
        MountKind::Ssh => {
            if m.id.is_none() {
                m.id = Some("default".into());
            }
            // An ssh mount nobody forwarded an agent for is an error unless the Dockerfile
            // says `required=false` (BuildKit drops it silently, which fails later and
            // obscurely).
            if !required_set {
                m.required = true;
            }
        }
        // BuildKit: `CacheID = filepath.Clean(Target)`, so "." without a target.
        MountKind::Cache if m.id.is_none() => {
            m.id = Some(clean_path(m.target.as_deref().unwrap_or("")))
        }
        _ => {}
    }
    Ok(m)
}

/// The last path element (`path.Base` for the simple cases: trailing slashes ignored).
fn base_name(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { "." } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// Lexical path cleaning (Go's `path.Clean`), applied to literal cache targets only: an
/// unexpanded `$VAR/..` must not be cleaned before its value is known.
fn clean_path(p: &str) -> String {
    if has_expansion(p) {
        return p.to_string();
    }
    cairn_context::go_clean(p)
}

/// One CSV record the way Go's `encoding/csv` reads it (no trimming, `""` inside quotes).
pub(crate) fn split_csv(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in non-quoted-field".into()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// go-units' `RAMInBytes`: `<number>[ ][kmgtp][i][b]`, binary multiples, case-insensitive.
pub fn ram_in_bytes(s: &str) -> Option<u64> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut unit) = s.split_at(num_end);
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) || num.ends_with('.') {
        return None;
    }
    let size: f64 = num.parse().ok()?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let lower = unit.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut mult: f64 = 1.0;
    if let Some(c) = rest.chars().next() {
        let power = match c {
            'k' => Some(1),
            'm' => Some(2),
            'g' => Some(3),
            't' => Some(4),
            'p' => Some(5),
            _ => None,
        };
        if let Some(p) = power {
            mult = 1024f64.powi(p);
            rest = &rest[1..];
        }
    }
    rest = rest.strip_prefix('i').unwrap_or(rest);
    rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return None;
    }
    let bytes = size * mult;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::node_of;

    fn mount(v: &str) -> Result<MountSpec> {
        let node = node_of(&format!("RUN --mount={v} true"));
        parse(&Cx::new(&node), v)
    }

    fn ok(v: &str) -> MountSpec {
        match mount(v) {
            Ok(m) => m,
            Err(e) => panic!("{v}: {e:?}"),
        }
    }

    fn err(v: &str) -> (String, Option<String>) {
        match mount(v) {
            Ok(m) => panic!("{v}: expected an error, got {m:?}"),
            Err(e) => (e.message, e.help),
        }
    }

    #[test]
    fn bind_defaults() {
        let m = ok("target=/src");
        assert_eq!(m.kind, MountKind::Bind);
        assert_eq!(m.target.as_deref(), Some("/src"));
        assert!(m.readonly, "bind is read-only by default");
        let m = ok("type=bind,src=a,dst=/b,from=builder,rw");
        assert_eq!(
            (m.source.as_deref(), m.target.as_deref(), m.from.as_deref()),
            (Some("a"), Some("/b"), Some("builder"))
        );
        assert!(!m.readonly);
        assert!(ok("destination=/x,readwrite=true").target.is_some());
        assert!(!ok("destination=/x,readwrite=true").readonly);
        assert!(!ok("target=/x,ro=false").readonly);
        assert!(ok("target=/x,readonly=1").readonly);
        assert!(
            ok("TYPE=BIND,TARGET=/x,RO").readonly,
            "keys and types are case-insensitive"
        );
    }

    #[test]
    fn cache_options() {
        let m = ok("type=cache,target=/root/.cache/,sharing=locked,mode=0755,uid=1000,gid=2");
        assert_eq!(m.kind, MountKind::Cache);
        assert!(!m.readonly, "cache is writable by default");
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!((m.mode, m.uid, m.gid), (Some(0o755), Some(1000), Some(2)));
        assert_eq!(
            m.id.as_deref(),
            Some("/root/.cache"),
            "id defaults to the cleaned target"
        );
        assert_eq!(ok("type=cache,target=/c,id=x").id.as_deref(), Some("x"));
        assert_eq!(
            ok("type=cache,target=$HOME/c").id.as_deref(),
            Some("$HOME/c")
        );
        assert_eq!(
            ok("type=cache,target=/c,sharing=Private").sharing,
            Sharing::Private
        );
        assert_eq!(ok("type=cache,target=/c").sharing, Sharing::Shared);
        assert!(ok("type=cache,target=/c,ro").readonly);
    }

    #[test]
    fn tmpfs_size() {
        let m = ok("type=tmpfs,target=/t,size=64m");
        assert_eq!((m.kind, m.size), (MountKind::Tmpfs, Some(64 << 20)));
        assert!(!m.readonly);
        assert_eq!(ok("type=tmpfs,target=/t,size=1024").size, Some(1024));
        assert_eq!(ok("type=tmpfs,target=/t,size=1.5KiB").size, Some(1536));
        assert_eq!(ok("type=tmpfs,target=/t,size=2 GB").size, Some(2 << 30));
    }

    #[test]
    fn secret_defaults() {
        let m = ok("type=secret,id=npmrc");
        assert_eq!(m.kind, MountKind::Secret);
        assert_eq!(m.target.as_deref(), Some("/run/secrets/npmrc"));
        assert_eq!(m.id.as_deref(), Some("npmrc"));
        assert!(m.readonly && !m.required);
        let m = ok("type=secret,target=/root/.npmrc,required");
        assert_eq!(
            m.id.as_deref(),
            Some(".npmrc"),
            "id from the target's base name"
        );
        assert!(m.required);
        let m = ok("type=secret,source=tok,required=false,mode=0400,uid=1");
        assert_eq!(m.id.as_deref(), Some("tok"));
        assert_eq!(m.target.as_deref(), Some("/run/secrets/tok"));
        let m = ok("type=secret,id=tok,env=TOKEN");
        assert_eq!(
            (m.env.as_deref(), m.target.as_deref()),
            (Some("TOKEN"), None)
        );
        let m = ok("type=secret,id=tok,env=TOKEN,target=/t");
        assert_eq!(m.target.as_deref(), Some("/t"));
    }

    #[test]
    fn ssh_defaults() {
        let m = ok("type=ssh");
        assert_eq!(
            (m.kind, m.id.as_deref(), m.target.as_deref()),
            (MountKind::Ssh, Some("default"), None)
        );
        assert!(m.readonly);
        let m = ok("type=ssh,id=gh,required=true,mode=0600");
        assert_eq!(
            (m.id.as_deref(), m.required, m.mode),
            (Some("gh"), true, Some(0o600))
        );
    }

    #[test]
    fn quoted_csv_fields() {
        let m = ok(r#"type=bind,"target=/a,b",ro"#);
        assert_eq!(m.target.as_deref(), Some("/a,b"));
        assert_eq!(
            split_csv(r#"a,"b""c",d"#),
            Ok(vec!["a".into(), "b\"c".into(), "d".into()])
        );
        assert_eq!(split_csv(""), Ok(vec![String::new()]));
        assert!(split_csv(r#"a"b"#).is_err());
        assert!(split_csv(r#""ab"c"#).is_err());
        assert!(split_csv(r#""ab"#).is_err());
    }

    #[test]
    fn variables() {
        assert_eq!(ok("target=$T,source=${S}").target.as_deref(), Some("$T"));
        assert_eq!(ok("target=/x,from=stage$").from.as_deref(), Some("stage$"));
        // A typed key with a variable: read after expansion, in lowering (testMountArg).
        assert_eq!(
            ok("type=$T,target=/x").deferred.as_deref(),
            Some("type=$T,target=/x")
        );
        // `from=` with a variable is refused wherever it stands.
        assert!(mount("type=$T,from=$S,target=/x").is_err());
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "type=cahce,target=/c",
                "unsupported mount type \"cahce\" (did you mean cache?)",
                None,
            ),
            (
                "type=volume,target=/c",
                "unsupported mount type \"volume\"",
                Some("mount types are bind, cache, tmpfs, secret, ssh"),
            ),
            (
                "targte=/x",
                "unexpected key 'targte' in 'targte=/x' (did you mean target?)",
                None,
            ),
            (
                "bogusbogus=1,target=/x",
                "unexpected key 'bogusbogus' in 'bogusbogus=1'",
                None,
            ),
            (
                "type=cache,target=/c,sharing=lockd",
                "unsupported sharing value \"lockd\" (did you mean locked?)",
                None,
            ),
            (
                "type=cache,target=/c,sharing=zzzzzzz",
                "unsupported sharing value \"zzzzzzz\"",
                Some("sharing is shared, private or locked"),
            ),
            (
                "type=cache,target=/c,mode=0789",
                "invalid value 0789 for mode",
                Some("mode is octal, e.g. mode=0755"),
            ),
            (
                "type=cache,target=/c,uid=-1",
                "invalid value -1 for uid",
                None,
            ),
            (
                "type=cache,target=/c,gid=x",
                "invalid value x for gid",
                None,
            ),
            ("target=/c,ro=maybe", "invalid value for ro: maybe", None),
            ("target=/c,rw=2", "invalid value for rw: 2", None),
            (
                "target=/c,required",
                "unexpected key 'required' for mount type 'bind'",
                Some("required is only valid for type=secret and type=ssh; give type= first"),
            ),
            (
                "required,type=secret,id=a",
                "unexpected key 'required' for mount type 'bind'",
                Some("required is only valid for type=secret and type=ssh; give type= first"),
            ),
            (
                "type=cache,target=/c,size=1m",
                "unexpected key 'size' for mount type 'cache'",
                Some("size is only valid for type=tmpfs; give type= first"),
            ),
            (
                "type=tmpfs,target=/t,size=lots",
                "invalid value for size: lots",
                None,
            ),
            (
                "target=/x,readonyl",
                "invalid field 'readonyl' must be a key=value pair (did you mean readonly?)",
                None,
            ),
            (
                "target",
                "invalid field 'target' must be a key=value pair",
                Some("give it a value: target=<value>"),
            ),
            (
                "",
                "invalid field '' must be a key=value pair",
                Some("write it as key=value, e.g. target=/path"),
            ),
            (
                "type=bind,target=/x,mode=0755",
                "mode not allowed for \"bind\" type mounts",
                Some("mode is valid for type=cache, type=secret and type=ssh"),
            ),
            (
                "type=tmpfs,target=/x,uid=1",
                "uid not allowed for \"tmpfs\" type mounts",
                Some("uid is valid for type=cache, type=secret and type=ssh"),
            ),
            (
                "target=/x,gid=1",
                "gid not allowed for \"bind\" type mounts",
                Some("gid is valid for type=cache, type=secret and type=ssh"),
            ),
            (
                "type=secret,id=a,from=x",
                "secret mount should not have a from",
                None,
            ),
            (
                "type=secret,id=a,sharing=locked",
                "secret mount should not define sharing",
                None,
            ),
            (
                "type=secret",
                "invalid secret mount. one of source, target required",
                Some("name the secret with id=<id>"),
            ),
            (
                "type=secret,source=a,id=b",
                "both source and id can't be set",
                None,
            ),
            (
                "target=/x,sharing=locked",
                "invalid cache sharing set for bind mount",
                Some("sharing= is only valid for type=cache"),
            ),
            (
                "target=/x,from=$STAGE",
                "'from' doesn't support variable expansion, define alias stage instead",
                Some("declare `FROM <image> AS <name>` with the variable and mount from=<name>"),
            ),
            (
                r#"target="/x"#,
                "failed to parse csv mounts: bare \" in non-quoted-field",
                Some("write --mount as key=value pairs separated by commas"),
            ),
        ];
        for (v, msg, help) in cases {
            let (m, h) = err(v);
            assert_eq!(m, *msg, "{v}");
            assert_eq!(h.as_deref(), *help, "{v}");
        }
    }

    #[test]
    fn error_column_points_at_the_field() {
        let node = node_of("RUN --mount=type=cache,targte=/x true");
        let e = parse(&Cx::new(&node), "type=cache,targte=/x").expect_err("error");
        assert_eq!(e.column, Some(23));
    }

    #[test]
    fn helpers() {
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(base_name("b"), "b");
        assert_eq!(base_name("/"), "/");
        assert_eq!(clean_path("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(clean_path("a/.."), ".");
        assert_eq!(clean_path("../x"), "../x");
        assert_eq!(ram_in_bytes("10"), Some(10));
        assert_eq!(ram_in_bytes("1k"), Some(1024));
        assert_eq!(ram_in_bytes("1Mb"), Some(1 << 20));
        assert_eq!(ram_in_bytes("1.2.3"), None);
        assert_eq!(ram_in_bytes("k"), None);
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes("-1"), None);
    }
}
