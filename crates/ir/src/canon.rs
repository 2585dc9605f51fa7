//! The canonical encoding that vertex digests are computed from.
//!
//! Rules (version [`ENCODING_VERSION`]):
//! * the stream starts with the domain tag `cairn-ir/vertex/v3\0`;
//! * integers are fixed-width little-endian (`u8`, `u32`, `u64`); `bool` is one byte 0/1;
//! * strings and byte strings are a `u64` length followed by the bytes;
//! * `Option` is a byte 0 (none) or 1 followed by the value; lists are a `u64` count followed by
//!   the items; enum variants are a one-byte tag written explicitly below;
//! * struct fields are written in the order listed in each `encode` below.
//!
//! Any change to what is encoded must bump [`ENCODING_VERSION`] (and the domain tag), which
//! deliberately invalidates every cache. Fields that must not split the cache (descriptions,
//! source locations, [`ExecOp::proxy_env`]) are simply never written here.

use crate::op::*;
use crate::{Digest, Platform};

pub const ENCODING_VERSION: u32 = 3;
const DOMAIN: &[u8] = b"cairn-ir/vertex/v3\0";

/// Collects canonical values, then hashes them in one blake3 call (vertex encodings are small,
/// and one call over a buffer is much cheaper than many tiny updates).
pub struct Encoder {
    buf: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(DOMAIN);
        Encoder { buf }
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn strs(&mut self, v: &[String]) -> &mut Self {
        self.u64(v.len() as u64);
        for s in v {
            self.str(s);
        }
        self
    }
    pub fn opt<T: ?Sized>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
                self
            }
        }
    }
    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        self.opt(v, |e, s| {
            e.str(s);
        })
    }
    pub fn opt_u32(&mut self, v: Option<u32>) -> &mut Self {
        self.opt(v.as_ref(), |e, x| {
            e.u32(*x);
        })
    }
    pub fn digest(&mut self, d: &Digest) -> &mut Self {
        self.buf.extend_from_slice(d.as_bytes());
        self
    }
    pub fn finish(&self) -> Digest {
        Digest::from_bytes(*blake3::hash(&self.buf).as_bytes())
    }
}

/// Values with a canonical encoding.
pub trait Canonical {
    fn encode(&self, e: &mut Encoder);
}

impl Canonical for Platform {
    fn encode(&self, e: &mut Encoder) {
        e.str(&self.os)
            .str(&self.architecture)
            .opt_str(self.variant.as_deref());
    }
}

impl Canonical for Op {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Op::Source(s) => {
                e.u8(1);
                s.encode(e);
            }
            // A step for another platform has a tag of its own, so every native step's
            // encoding (and digest) is what it was before steps had a platform.
            Op::Exec(x) => match &x.platform {
                None => {
                    e.u8(2);
                    x.encode(e);
                }
                Some(p) => {
                    e.u8(5);
                    x.encode(e);
                    p.encode(e);
                }
            },
            Op::File(f) => {
                e.u8(3);
                f.encode(e);
            }
            Op::Merge(m) => {
                e.u8(4);
                e.u64(m.inputs.len() as u64);
                for i in &m.inputs {
                    e.u32(*i);
                }
            }
        }
    }
}

impl Canonical for SourceOp {
    fn encode(&self, e: &mut Encoder) {
        match self {
            SourceOp::Image {
                reference,
                platform,
            } => {
                e.u8(1).str(reference);
                platform.encode(e);
            }
            SourceOp::Local(l) => {
                e.u8(2).str(&l.name).strs(&l.include).strs(&l.exclude);
            }
            SourceOp::Http {
                url,
                checksum,
                filename,
            } => {
                e.u8(3)
                    .str(url)
                    .opt_str(checksum.as_deref())
                    .opt_str(filename.as_deref());
            }
            SourceOp::Git {
                remote,
                reference,
                subdir,
                keep_git_dir,
                checksum,
                submodules,
            } => {
                e.u8(4)
                    .str(remote)
                    .opt_str(reference.as_deref())
                    .opt_str(subdir.as_deref())
                    .bool(*keep_git_dir)
                    .opt_str(checksum.as_deref())
                    .bool(*submodules);
            }
        }
    }
}

impl Canonical for ExecOp {
    fn encode(&self, e: &mut Encoder) {
        e.strs(&self.args)
            .strs(&self.env)
            .str(&self.cwd)
            .str(&self.user);
        e.opt_str(self.hostname.as_deref());
        e.u8(match self.network {
            NetworkMode::Default => 0,
            NetworkMode::None => 1,
            NetworkMode::Host => 2,
        });
        e.u8(match self.security {
            SecurityMode::Sandbox => 0,
            SecurityMode::Insecure => 1,
        });
        e.u64(self.mounts.len() as u64);
        for m in &self.mounts {
            m.encode(e);
        }
        // proxy_env is intentionally not encoded.
        let h = &self.host_config;
        e.u64(h.extra_hosts.len() as u64);
        for entry in &h.extra_hosts {
            e.str(&entry.host).str(&entry.ip);
        }
        match h.shm_size {
            None => e.u8(0),
            Some(n) => e.u8(1).u64(n),
        };
        e.u64(h.ulimits.len() as u64);
        for u in &h.ulimits {
            e.str(&u.name).u64(u.soft).u64(u.hard);
        }
        // The platform is the op's (tag 5 in `Op`'s encoding), not written here.
    }
}

impl Canonical for Mount {
    fn encode(&self, e: &mut Encoder) {
        e.str(&self.target)
            .opt_u32(self.input)
            .str(&self.selector)
            .bool(self.readonly);
        match &self.kind {
            MountKind::Rootfs => {
                e.u8(0);
            }
            MountKind::Bind => {
                e.u8(1);
            }
            MountKind::Cache {
                id,
                sharing,
                mode,
                uid,
                gid,
            } => {
                e.u8(2).str(id).u8(match sharing {
                    CacheSharing::Shared => 0,
                    CacheSharing::Private => 1,
                    CacheSharing::Locked => 2,
                });
                e.opt_u32(*mode).opt_u32(*uid).opt_u32(*gid);
            }
            MountKind::Tmpfs { size } => {
                e.u8(3).opt(size.as_ref(), |e, s| {
                    e.u64(*s);
                });
            }
            MountKind::Secret {
                id,
                required,
                mode,
                uid,
                gid,
                env,
            } => {
                e.u8(4)
                    .str(id)
                    .bool(*required)
                    .u32(*mode)
                    .u32(*uid)
                    .u32(*gid);
                e.opt_str(env.as_deref());
            }
            MountKind::Ssh {
                id,
                required,
                mode,
                uid,
                gid,
            } => {
                e.u8(5)
                    .str(id)
                    .bool(*required)
                    .u32(*mode)
                    .u32(*uid)
                    .u32(*gid);
            }
        }
    }
}

impl Canonical for FileOp {
    fn encode(&self, e: &mut Encoder) {
        e.opt_u32(self.base);
        e.u64(self.actions.len() as u64);
        for a in &self.actions {
            a.encode(e);
        }
    }
}

impl Canonical for Owner {
    fn encode(&self, e: &mut Encoder) {
        fn id_or_name(e: &mut Encoder, v: &IdOrName) {
            match v {
                IdOrName::Id(id) => {
                    e.u8(0).u32(*id);
                }
                IdOrName::Name(n) => {
                    e.u8(1).str(n);
                }
            }
        }
        id_or_name(e, &self.user);
        e.opt(self.group.as_ref(), id_or_name);
    }
}

fn opt_owner(e: &mut Encoder, o: Option<&Owner>) {
    e.opt(o, |e, o| o.encode(e));
}

impl Canonical for FileAction {
    fn encode(&self, e: &mut Encoder) {
        match self {
            FileAction::Copy(c) => {
                e.u8(1).u32(c.source).str(&c.src).str(&c.dest);
                e.bool(c.follow_symlinks)
                    .bool(c.dir_contents_only)
                    .bool(c.allow_wildcard)
                    .bool(c.allow_empty_wildcard)
                    .bool(c.create_dest_path);
                opt_owner(e, c.owner.as_ref());
                e.opt_str(c.mode.as_deref())
                    .strs(&c.include)
                    .strs(&c.exclude);
                e.bool(c.unpack_archive).bool(c.parents);
            }
            FileAction::Mkdir {
                path,
                mode,
                make_parents,
                owner,
            } => {
                e.u8(2).str(path).u32(*mode).bool(*make_parents);
                opt_owner(e, owner.as_ref());
            }
            FileAction::Mkfile {
                path,
                mode,
                data,
                owner,
            } => {
                e.u8(3).str(path).u32(*mode).bytes(data);
                opt_owner(e, owner.as_ref());
            }
            FileAction::Rm {
                path,
                allow_not_found,
                allow_wildcard,
            } => {
                e.u8(4)
                    .str(path)
                    .bool(*allow_not_found)
                    .bool(*allow_wildcard);
            }
            FileAction::Symlink { target, link } => {
                e.u8(5).str(target).str(link);
            }
        }
    }
}

/// The digest of a vertex: its op, then each input as (digest, output index).
pub fn vertex_digest(op: &Op, inputs: &[crate::Input]) -> Digest {
    let mut e = Encoder::new();
    op.encode(&mut e);
    e.u64(inputs.len() as u64);
    for i in inputs {
        e.digest(&i.vertex).u32(i.output);
    }
    e.finish()
}

/// The digest of an op alone, without its inputs: what the solver combines with its inputs'
/// *content* to form content-based cache keys.
pub fn op_digest(op: &Op) -> Digest {
    let mut e = Encoder::new();
    e.bytes(b"op-only");
    op.encode(&mut e);
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(args: &[&str]) -> Op {
        Op::Exec(ExecOp {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            cwd: "/".into(),
            user: String::new(),
            hostname: None,
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
            mounts: vec![],
            proxy_env: vec![],
            host_config: HostConfig::default(),
            platform: None,
        })
    }

    #[test]
    fn a_foreign_platform_is_part_of_the_digest() {
        let native = exec(&["uname", "-m"]);
        let with = |p: &str| {
            let mut op = native.clone();
            if let Op::Exec(x) = &mut op {
                x.platform = Platform::parse(p).map(Box::new);
            }
            vertex_digest(&op, &[])
        };
        let arm64 = with("linux/arm64");
        assert_ne!(arm64, vertex_digest(&native, &[]));
        assert_ne!(arm64, with("linux/arm/v7"));
        assert_ne!(with("linux/arm/v7"), with("linux/arm/v6"));
        assert_eq!(arm64, with("linux/arm64"));
    }

    #[test]
    fn length_prefix_prevents_concatenation_collisions() {
        assert_ne!(
            vertex_digest(&exec(&["ab", "c"]), &[]),
            vertex_digest(&exec(&["a", "bc"]), &[])
        );
    }

    #[test]
    fn proxy_env_does_not_change_digest() {
        let a = exec(&["true"]);
        let mut b = a.clone();
        if let Op::Exec(x) = &mut b {
            x.proxy_env.push("HTTP_PROXY=http://proxy".into());
        }
        assert_eq!(vertex_digest(&a, &[]), vertex_digest(&b, &[]));
    }

    #[test]
    fn host_config_is_part_of_the_digest() {
        let a = exec(&["true"]);
        let variants: [fn(&mut HostConfig); 3] = [
            |h| {
                h.extra_hosts.push(HostEntry {
                    host: "db".into(),
                    ip: "10.0.0.2".into(),
                })
            },
            |h| h.shm_size = Some(1 << 20),
            |h| {
                h.ulimits.push(Ulimit {
                    name: "nofile".into(),
                    soft: 1024,
                    hard: 2048,
                })
            },
        ];
        for change in variants {
            let mut b = a.clone();
            if let Op::Exec(x) = &mut b {
                change(&mut x.host_config);
            }
            assert_ne!(vertex_digest(&a, &[]), vertex_digest(&b, &[]));
        }
    }

    /// The encoding is frozen: this digest must never change without bumping the version.
    #[test]
    fn encoding_is_stable() {
        let d = vertex_digest(&exec(&["/bin/sh", "-c", "true"]), &[]);
        assert_eq!(d.to_string(), STABLE_DIGEST);
        let git = Op::Source(SourceOp::Git {
            remote: "https://h/x.git".into(),
            reference: Some("main".into()),
            subdir: Some("sub".into()),
            keep_git_dir: true,
            checksum: Some("abc".into()),
            submodules: false,
        });
        assert_eq!(vertex_digest(&git, &[]).to_string(), STABLE_GIT_DIGEST);
    }

    const STABLE_DIGEST: &str =
        "blake3:9e7ef5702633b1a667f71786057670b7d799cd93cd7370f274cbfeeeed2cdc13";
    const STABLE_GIT_DIGEST: &str =
        "blake3:f93a8b70487b90049912223d8fc3b019b7ba58376c849e481c2ea20e0f6a8609";
}
