//! `cairn run` and `cairn commit`: a command in an image with a writable layer on top, in the
//! same sandbox as a RUN step (the same namespaces, capabilities, seccomp profile, masked
//! paths, network), and that writable layer turned into an image layer — the third way to
//! make an image, as `docker container commit` and `buildah commit` give it.
//!
//! A container lives in the store (`cairn_store::ContainerRecord`, its overlay's upper and
//! work directories); the layers it stands on count as in use, so prune keeps them.

use crate::error::{Context, Result, bail};
use crate::{BuiltImage, Engine};
use cairn_ir::NetworkMode;
use cairn_sandbox::{ExecJob, ExecMount, ExecMountKind, Executor, Job, Rootfs, Stream};
use cairn_store::{ContainerRecord, ImageRecord, LayerRecord, NamedImage};
use std::path::PathBuf;

/// A host directory seen in the container (`-v HOST:TARGET[:ro]`): writes reach the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host: PathBuf,
    pub target: String,
    pub readonly: bool,
}

/// What `cairn run` runs.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The image, normalized (`docker.io/library/busybox:latest`): pulled when missing.
    pub image: String,
    /// Replaces the image's CMD (its ENTRYPOINT stays, as with docker); empty: the image's.
    pub command: Vec<String>,
    /// `KEY=value`, over the image's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub volumes: Vec<Volume>,
    pub network: NetworkMode,
    /// The container's name (default: from its ID).
    pub name: Option<String>,
    /// `--rm`: removed when the command ends.
    pub remove: bool,
}

/// Where the command's stdin comes from: a pipe the driver feeds (`-i`) or the slave of a
/// pseudo-terminal the driver made (`-t`) — never the driver's own terminal — else
/// `/dev/null`.
pub type Stdin = Option<cairn_sandbox::Input>;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The container's ID (gone from the store when it was removed).
    pub id: String,
    pub exit_code: i32,
}

fn new_id() -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"cairn-container\0");
    h.update(&std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    if let Ok(random) = std::fs::read("/proc/sys/kernel/random/uuid") {
        h.update(&random);
    }
    h.finalize().to_hex().to_string()
}

impl Engine {
    /// Run `opts` in a new container, passing its output lines to `output` as they come.
    /// Stops (the command killed, the container kept as it is) on SIGINT, SIGTERM or SIGHUP.
    pub fn run_container(
        &self,
        opts: &RunOptions,
        stdin: Stdin,
        output: &mut dyn FnMut(Stream, Vec<u8>),
    ) -> Result<RunOutcome> {
        cairn_sandbox::remove_stale_scratch();
        let platform = cairn_ir::Platform::host();
        let resolved = cairn_ir::resolve::ImageResolver::resolve(
            &self.resolver(false),
            &opts.image,
            &platform,
        )
        .map_err(|e| crate::BuildError::msg(e.0))?
        .with_context(|| format!("no image {} in the store", opts.image))?;
        let pinned = resolved.pinned.unwrap_or_else(|| opts.image.clone());
        let rec = self
            .store
            .image_resolve_one(&pinned)?
            .with_context(|| format!("no image {} in the store", opts.image))?;
        let config = resolved.config;
        let mut args = config.entrypoint.clone().unwrap_or_default();
        if opts.command.is_empty() {
            args.extend(config.cmd.clone().unwrap_or_default());
        } else {
            args.extend(opts.command.iter().cloned());
        }
        if args.is_empty() {
            bail!(
                "no command to run: {} has no ENTRYPOINT or CMD (give one after the image)",
                opts.image
            );
        }
        let mut env = config.env.clone();
        for kv in &opts.env {
            let key = kv.split('=').next().unwrap_or(kv);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        let id = new_id();
        let record = ContainerRecord {
            name: opts
                .name
                .clone()
                .unwrap_or_else(|| format!("cairn-{}", &id[..12])),
            image: opts.image.clone(),
            image_id: rec.config.to_string(),
            layers: rec.layers.clone(),
            command: args.clone(),
            created: cairn_oci::now_unix(),
            exit_code: None,
        };
        if let Some(name) = &opts.name
            && self
                .store
                .containers()?
                .iter()
                .any(|(_, c)| &c.name == name)
        {
            bail!("a container is already named {name:?} (see `cairn ps -a`; `cairn rm {name}`)");
        }
        let dir = self.store.container_create(&id, &record)?;
        let job = Job::Exec(ExecJob {
            rootfs: Rootfs {
                lowers: rec.layers.iter().map(|l| self.store.layer_dir(l)).collect(),
                upper: dir.join("upper"),
                work: dir.join("work"),
            },
            args,
            env,
            cwd: opts
                .workdir
                .clone()
                .or(config.working_dir.clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            user: opts
                .user
                .clone()
                .or(config.user.clone())
                .unwrap_or_default(),
            hostname: id[..12].to_string(),
            network: opts.network,
            security: cairn_ir::SecurityMode::Sandbox,
            mounts: opts
                .volumes
                .iter()
                .map(|v| ExecMount {
                    target: v.target.clone(),
                    kind: ExecMountKind::Cache {
                        dir: v.host.clone(),
                        selector: "/".into(),
                        readonly: v.readonly,
                        owner: None,
                    },
                })
                .collect(),
            host_config: cairn_ir::HostConfig::default(),
        });
        let executor =
            cairn_sandbox::ReexecExecutor::new(self.helper.0.clone(), self.helper.1.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let ran = self.runtime.block_on(async {
            let run = async {
                match stdin {
                    Some(input) => executor.run_with_input(&job, tx, input).await,
                    None => executor.run(&job, tx).await,
                }
            };
            tokio::pin!(run);
            let mut outcome = None;
            loop {
                tokio::select! {
                    r = &mut run, if outcome.is_none() => outcome = Some(r),
                    line = rx.recv() => match line {
                        Some(l) => output(l.stream, l.line),
                        None => break,
                    },
                    sig = crate::stop_signal() => {
                        return Err(crate::BuildError::msg(format!("interrupted ({sig})")));
                    }
                }
            }
            outcome
                .unwrap_or_else(|| Err(cairn_sandbox::SandboxError::Protocol("no outcome".into())))
                .map_err(|e| {
                    crate::BuildError::with_source("cannot run the container".to_string(), e)
                })
        });
        let exit_code = match ran {
            Ok(o) => o.exit_code,
            Err(e) => {
                if opts.remove {
                    let _ = self.store.container_remove(&id);
                }
                return Err(e);
            }
        };
        if opts.remove {
            self.store.container_remove(&id)?;
        } else {
            self.store.container_put(
                &id,
                &ContainerRecord {
                    exit_code: Some(exit_code),
                    ..record
                },
            )?;
        }
        Ok(RunOutcome { id, exit_code })
    }
}

/// Turn container `id`'s writable layer into a new top layer over its image, named `name`
/// (normalized), with a history entry (`message` as its comment) and `author`: docker
/// container commit. The container stays as it is.
pub fn commit(
    store: &cairn_store::Store,
    id: &str,
    name: &str,
    message: Option<&str>,
    author: Option<&str>,
) -> Result<BuiltImage> {
    let rec = store
        .container_get(id)?
        .with_context(|| format!("no container {id}"))?;
    let config_digest = cairn_store::OciDigest::parse(&rec.image_id)
        .map_err(|e| crate::BuildError::msg(format!("container {id}: bad image ID: {e}")))?;
    let (mut config, platform) =
        cairn_oci::config_blob(store, &config_digest).with_context(|| {
            format!(
                "cannot read the config of {} (image {})",
                rec.image, rec.image_id
            )
        })?;
    // The writable layer in overlay form → a tar → a layer of the store (the container keeps
    // its own: it may go on changing).
    let upper = store.container_dir(id)?.join("upper");
    let staging = store.staging()?;
    let tar =
        tempfile::tempfile_in(store.root().join("tmp")).context("cannot make a scratch file")?;
    let mut tar = cairn_oci::write_layer_tar(&upper, tar, None)
        .with_context(|| format!("cannot read the container's layer {}", upper.display()))?;
    use std::io::Seek as _;
    tar.rewind().context("cannot read back the layer")?;
    cairn_oci::unpack_layer(std::io::BufReader::new(tar), staging.upper())
        .context("cannot unpack the container's layer")?;
    let layer = cairn_oci::content_digest(staging.upper())?;
    store.commit_layer(staging, layer.as_str(), LayerRecord::default())?;
    config.history.push(cairn_ir::image::History {
        created: None,
        created_by: rec.command.join(" "),
        comment: message.map(str::to_string),
        empty_layer: false,
    });
    if let Some(a) = author {
        config.author = Some(a.to_string());
    }
    let mut layers = rec.layers.clone();
    let base_layers = layers.len();
    layers.push(layer);
    let spec = cairn_oci::ImageSpec {
        platform,
        config,
        layers: layers.clone(),
        epoch: None,
        base_layers,
    };
    let assembled =
        cairn_oci::assemble_image_in_store(store, &spec).context("cannot assemble the image")?;
    store.image_put(
        name,
        &NamedImage::single(ImageRecord {
            manifest: assembled.manifest.clone(),
            config: assembled.config.clone(),
            layers,
        }),
    )?;
    Ok(BuiltImage {
        manifest: assembled.manifest.to_string(),
        config: assembled.config.to_string(),
        pushed: Vec::new(),
    })
}
