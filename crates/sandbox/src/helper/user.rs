//! Resolving the job's `user` string the way Docker/runc do (`GetExecUser`), from the text of
//! the rootfs's `/etc/passwd` and `/etc/group`.
//!
//! Pure functions over file contents so the rules are unit-tested without a rootfs. Numeric ids
//! work without any file; names must exist.

/// The identity the command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: always the primary group first, then (unless a group was given
    /// explicitly) the groups that list the user in `/etc/group` — as containerd does since
    /// CVE-2023-25173, so a file denied to the primary group stays denied.
    pub groups: Vec<u32>,
    /// Home directory from `/etc/passwd`, `/` when unknown.
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid user specification {0:?}")]
    Invalid(String),
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 3 {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    })
}

/// Resolve `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...). `passwd` / `group` are
/// the files' contents, `None` when missing.
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let passwd = passwd.unwrap_or("");
    let group = group.unwrap_or("");

    let entry = match user_part.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::NoUser(user_part.to_string()))?,
        ),
    };
    let uid = match (&entry, user_part.parse::<u32>()) {
        (_, Ok(uid)) => uid,
        (Some(e), Err(_)) => e.uid,
        (None, Err(_)) => return Err(UserError::NoUser(user_part.to_string())),
    };
    let mut gid = entry.as_ref().map_or(0, |e| e.gid);
    let home = entry
        .as_ref()
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_string();

    let mut groups = Vec::new();
    let explicit_group = group_part.is_some();
    match group_part {
        Some("") => return Err(UserError::Invalid(spec.to_string())),
        Some(g) => {
            gid = match g.parse::<u32>() {
                Ok(id) => id,
                Err(_) => group_entries(group)
                    .find(|e| e.name == g)
                    .map(|e| e.gid)
                    .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
            };
        }
        None => {}
    }
    groups.push(gid);
    if let (Some(e), false) = (&entry, explicit_group) {
        for g in group_entries(group) {
            if g.members.contains(&e.name) && !groups.contains(&g.gid) {
                groups.push(g.gid);
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nstaff:x:50: app \n";

    #[test]
    fn names_and_defaults() {
        let root = resolve("", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        assert_eq!(root.groups, vec![0, 10]);
        let app = resolve("app", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.home.as_str()),
            (1000, 1000, "/home/app")
        );
        assert_eq!(app.groups, vec![1000, 10, 50]);
    }

    #[test]
    fn numeric_ids_need_no_files() {
        let u = resolve("1234:5678", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1234, 5678, "/"));
        assert_eq!(u.groups, vec![5678]);
        let u = resolve("1000", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        let unknown = resolve("4242", None, None).unwrap();
        assert_eq!((unknown.gid, unknown.groups.as_slice()), (0, &[0][..]));
        let daemon = resolve("daemon", Some("daemon:x:1:1::/:/bin/sh\n"), Some("")).unwrap();
        assert_eq!(
            daemon.groups,
            vec![1],
            "a user in no group still has its primary one"
        );
    }

    #[test]
    fn explicit_group_replaces_membership() {
        let u = resolve("app:wheel", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert_eq!(u.groups, vec![10]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            resolve("nobody", Some(PASSWD), Some(GROUP)),
            Err(UserError::NoUser("nobody".into()))
        );
        assert_eq!(
            resolve("app:nogroup", Some(PASSWD), Some(GROUP)),
            Err(UserError::NoGroup("nogroup".into()))
        );
        assert!(matches!(
            resolve("app:", Some(PASSWD), None),
            Err(UserError::Invalid(_))
        ));
        assert!(resolve("app", None, None).is_err());
    }
}
