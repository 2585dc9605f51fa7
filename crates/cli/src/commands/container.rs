//! `cairn run`, `cairn commit`, `cairn ps`, `cairn rm`: a command in an image with a writable
//! layer on top (in the sandbox RUN steps get), and that layer made into an image
//! (`cairn_build::RunOptions`, `cairn_build::commit_container`).

use crate::commands::images::{StoreArgs, normalize};
use crate::commands::registry::RegistryArgs;
use anyhow::{Context, Result, bail};
use cairn_build::{Engine, RunOptions, Volume};
use cairn_sandbox::Stream;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Remove the container when the command ends.
    #[arg(long)]
    pub rm: bool,
    /// Name the container (for `cairn commit`, `cairn rm`).
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable; `KEY` alone takes it from this environment. Repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Working directory in the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (and group) to run as: NAME, UID, NAME:GROUP or UID:GID.
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Mount a host directory (created when missing); `:ro` read-only. Repeatable.
    #[arg(short = 'v', long = "volume", value_name = "HOST_DIR:TARGET[:ro]")]
    pub volumes: Vec<String>,
    /// default (a network namespace of its own, reaching out through slirp4netns), none, or
    /// host (needs --allow network.host).
    #[arg(long, value_name = "default|none|host", default_value = "default")]
    pub network: String,
    /// Grant an entitlement: network.host.
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// After the command, commit the container's layer as image NAME[:TAG] (as `cairn commit`).
    #[arg(long, value_name = "NAME[:TAG]")]
    pub commit: Option<String>,
    /// Pass this stdin to the command (through a pipe; without -i its stdin is /dev/null).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the command a terminal of its own (a new pseudo-terminal, not this one), sized as
    /// this one; with -i, what you type goes to it (this terminal in raw mode meanwhile).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The image to run.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments (default: the image's CMD), after its ENTRYPOINT.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn parse_volume(spec: &str) -> Result<Volume> {
    let bad = || {
        anyhow::anyhow!("invalid volume {spec:?}: expected HOST_DIR:TARGET or HOST_DIR:TARGET:ro")
    };
    let mut parts = spec.split(':');
    let (host, target) = (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
    let readonly = match parts.next() {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() || host.is_empty() || !target.starts_with('/') {
        return Err(bad());
    }
    let host = PathBuf::from(host);
    if !host.is_absolute() {
        bail!("invalid volume {spec:?}: the host directory must be an absolute path");
    }
    std::fs::create_dir_all(&host)
        .with_context(|| format!("cannot make the volume's directory {}", host.display()))?;
    Ok(Volume {
        host,
        target: target.to_string(),
        readonly,
    })
}

/// `cairn run`: exits with the command's exit code.
pub fn run(args: RunArgs) -> Result<i32> {
    let network = match args.network.as_str() {
        "default" => cairn_ir::NetworkMode::Default,
        "none" => cairn_ir::NetworkMode::None,
        "host" => {
            let allowed = cairn_build::entitlements::parse(&args.allow)?;
            if !allowed.network_host {
                bail!(
                    "--network=host needs the network.host entitlement: add --allow network.host \
                     if you trust this image"
                );
            }
            cairn_ir::NetworkMode::Host
        }
        other => bail!("invalid --network {other:?}: use default, none or host"),
    };
    let env = args
        .env
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect();
    let volumes = args
        .volumes
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>>>()?;
    let commit_as = args.commit.as_deref().map(normalize).transpose()?;
    let store = args.store.open()?;
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let engine = Engine::new(
        store.clone(),
        args.registry.client()?,
        args.registry.timeouts()?,
        None,
        (exe, vec![crate::SANDBOX_HELPER.into()]),
    )?;
    let opts = RunOptions {
        image: normalize(&args.image)?,
        command: args.command.clone(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        volumes,
        network,
        name: args.name.clone(),
        remove: args.rm && commit_as.is_none(),
    };
    let mut session = None;
    let stdin = if args.tty {
        let (slave, s) = crate::commands::terminal::Session::open(args.interactive)?;
        session = Some(s);
        Some(cairn_sandbox::Input::Terminal(slave))
    } else if args.interactive {
        Some(cairn_sandbox::Input::Pipe(stdin_pipe()?))
    } else {
        None
    };
    let outcome = engine.run_container(&opts, stdin, &mut |stream, mut line| {
        line.push(b'\n');
        let text = String::from_utf8_lossy(&line);
        match stream {
            Stream::Stdout => out!("{text}"),
            Stream::Stderr => crate::stdio::write_err(format_args!("{text}")),
        }
    });
    // The terminal back as it was, and everything the command wrote shown, before anything
    // else is printed.
    drop(session);
    let outcome = outcome?;
    if let Some(name) = commit_as {
        let image = cairn_build::commit_container(&store, &outcome.id, &name, None, None)?;
        errln!("committed {name}: {}", image.config);
        if args.rm {
            store.container_remove(&outcome.id)?;
        }
    }
    Ok(outcome.exit_code)
}

/// A pipe fed from this process's stdin by a thread of its own: the command reads the pipe,
/// never this process's terminal (whose ioctls could change the user's terminal).
fn stdin_pipe() -> Result<std::os::fd::OwnedFd> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .context("cannot make a pipe for stdin")?;
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut to = std::fs::File::from(write);
            // Ends at EOF, or when the command is gone (EPIPE): the pipe closes either way.
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to);
        })
        .context("cannot start the stdin thread")?;
    Ok(read)
}

/// The container `word` names: its name, its ID, or the start of its ID.
fn find(store: &cairn_store::Store, word: &str) -> Result<(String, cairn_store::ContainerRecord)> {
    let all = store.containers()?;
    if let Some(hit) = all.iter().find(|(_, c)| c.name == word) {
        return Ok(hit.clone());
    }
    let mut hits: Vec<_> = all
        .into_iter()
        .filter(|(id, _)| !word.is_empty() && id.starts_with(word))
        .collect();
    match (hits.pop(), hits.len()) {
        (Some(hit), 0) => Ok(hit),
        (None, _) => bail!("no container {word:?} (see `cairn ps -a`)"),
        (Some(_), n) => bail!(
            "{word:?} is the start of {} container IDs: give more of it",
            n + 1
        ),
    }
}

#[derive(Args)]
pub struct CommitArgs {
    /// The commit message (the new history entry's comment).
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// The image's author.
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// The container (name or ID).
    pub container: String,
    /// The new image's name.
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `cairn commit`: prints the new image's ID.
pub fn commit(args: CommitArgs) -> Result<()> {
    let store = args.store.open()?;
    let (id, _) = find(&store, &args.container)?;
    let name = normalize(&args.name)?;
    let image = cairn_build::commit_container(
        &store,
        &id,
        &name,
        args.message.as_deref(),
        args.author.as_deref(),
    )?;
    outln!("{}", image.config);
    Ok(())
}

#[derive(Args)]
pub struct PsArgs {
    /// Also the containers whose command has ended (all of them).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only the IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `cairn ps`: as `docker ps`. Without `-a`, only containers still running (or whose cairn
/// was killed before they ended).
pub fn ps(args: PsArgs) -> Result<()> {
    let list = match args.store.open_existing()? {
        Some(store) => store.containers()?,
        None => Vec::new(),
    };
    let mut list: Vec<_> = list
        .into_iter()
        .filter(|(_, c)| args.all || c.exit_code.is_none())
        .collect();
    list.sort_by_key(|c| std::cmp::Reverse(c.1.created));
    if args.quiet {
        for (id, _) in &list {
            outln!("{}", &id[..12]);
        }
        return Ok(());
    }
    outln!(
        "{:<14}{:<32}{:<24}{:<16}{:<20}NAMES",
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS"
    );
    let now = cairn_oci::now_unix();
    for (id, c) in list {
        let image = cairn_ir::reference::familiar(&c.image);
        let mut command = format!("\"{}\"", c.command.join(" "));
        if command.chars().count() > 22 {
            command = format!("{}…\"", command.chars().take(20).collect::<String>());
        }
        let ago = crate::commands::images::human_age(now - c.created);
        let status = match c.exit_code {
            Some(code) => format!("Exited ({code})"),
            None => "Running".into(),
        };
        outln!(
            "{:<14}{:<32}{:<24}{:<16}{:<20}{}",
            &id[..12],
            image,
            command,
            ago,
            status,
            c.name
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct RmArgs {
    /// Also containers that have not ended.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Containers (names or IDs). Repeatable.
    #[arg(required = true)]
    pub containers: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `cairn rm`: remove containers and their writable layers.
pub fn rm(args: RmArgs) -> Result<()> {
    let store = args.store.open()?;
    for word in &args.containers {
        let (id, c) = find(&store, word)?;
        if c.exit_code.is_none() && !args.force {
            bail!("container {word} has not ended: stop it first, or use -f");
        }
        store.container_remove(&id)?;
        outln!("{word}");
    }
    Ok(())
}
