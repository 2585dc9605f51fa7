//! `--chown` / action owners: names are looked up in the *target's* `/etc/passwd` and
//! `/etc/group`.
//!
//! Why at execution time and in the target: the IR keeps names unresolved (`"app"`) because
//! the user may be created by an earlier RUN of the same stage, exactly as `docker build`
//! resolves them. The files are read through [`resolve_in_root`], so a hostile
//! `/etc -> /host/etc` link still reads the target's file. BuildKit's rules: a numeric user
//! without a group gets gid = uid; a named user without a group gets its primary gid from
//! passwd. Unlike BuildKit (which silently falls back to 0), an unknown name is an error.

use std::fs;
use std::path::Path;

use cairn_ir::{IdOrName, Owner};

use crate::error::{Error, Result};
use crate::resolve::resolve_in_root;

/// A resolved owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    pub uid: u32,
    pub gid: u32,
}

pub(crate) fn resolve(root: &Path, owner: &Owner) -> Result<Ids> {
    let (uid, mut gid) = match &owner.user {
        IdOrName::Id(id) => (*id, *id),
        IdOrName::Name(name) => {
            let text = read(root, "/etc/passwd", "user", name)?;
            lookup(&text, name).ok_or_else(|| Error::NoSuchUser { name: name.clone() })?
        }
    };
    match &owner.group {
        None => {}
        Some(IdOrName::Id(id)) => gid = *id,
        Some(IdOrName::Name(name)) => {
            let text = read(root, "/etc/group", "group", name)?;
            gid = lookup(&text, name)
                .map(|(g, _)| g)
                .ok_or_else(|| Error::NoSuchGroup { name: name.clone() })?;
        }
    }
    Ok(Ids { uid, gid })
}

fn read(root: &Path, file: &'static str, what: &'static str, name: &str) -> Result<String> {
    let err = |source| Error::IdFile {
        what,
        name: name.to_string(),
        file,
        source,
    };
    let path = resolve_in_root(root, file, true)?;
    let bytes = fs::read(&path).map_err(err)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// First line `name:x:ID:ID2:...` for `name`: (field 3, field 4). For `/etc/group` the fourth
/// field is the member list and is ignored by the caller.
fn lookup(text: &str, name: &str) -> Option<(u32, u32)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            let mut f = line.split(':');
            if f.next()? != name {
                return None;
            }
            let _password = f.next();
            let id: u32 = f.next()?.trim().parse().ok()?;
            let second = f.next().and_then(|g| g.trim().parse().ok()).unwrap_or(id);
            Some((id, second))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etc() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("etc")).unwrap();
        fs::write(
            t.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(
            t.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:app\napp:x:1001:\n",
        )
        .unwrap();
        t
    }

    #[test]
    fn names_and_ids() {
        let t = etc();
        let r = |s: &str| resolve(t.path(), &Owner::parse(s));
        assert_eq!(
            r("app").unwrap(),
            Ids {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(r("app:staff").unwrap(), Ids { uid: 1000, gid: 50 });
        assert_eq!(
            r("1234").unwrap(),
            Ids {
                uid: 1234,
                gid: 1234
            }
        );
        assert_eq!(r("1234:5").unwrap(), Ids { uid: 1234, gid: 5 });
        assert_eq!(r("0:staff").unwrap(), Ids { uid: 0, gid: 50 });
        let e = r("nobody").unwrap_err().to_string();
        assert_eq!(
            e,
            "failed to resolve user \"nobody\": no such user in /etc/passwd"
        );
        let e = r("app:wheel").unwrap_err().to_string();
        assert_eq!(
            e,
            "failed to resolve group \"wheel\": no such group in /etc/group"
        );
    }

    #[test]
    fn missing_file_names_it() {
        let t = tempfile::tempdir().unwrap();
        let e = resolve(t.path(), &Owner::parse("app"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("failed to resolve user \"app\": cannot read /etc/passwd"),
            "{e}"
        );
        // Numeric ids need no lookup.
        assert_eq!(
            resolve(t.path(), &Owner::parse("5:6")).unwrap(),
            Ids { uid: 5, gid: 6 }
        );
    }
}
