//! `RUN`: an exec op on the stage's root filesystem, with its `--mount`s, network and security
//! mode, heredoc scripts, and the build args in scope as environment.

use super::dispatch::{Lowerer, StageState, resolve_path};
use super::err;
use crate::instructions::{self as ins, Command, Located, MountKind as SpecKind};
use crate::parser::{Heredoc, Span};
use cairn_ir::{
    CacheSharing, ExecOp, FileAction, FileOp, Input, Mount, MountKind, NetworkMode, Op,
    SecurityMode,
};

/// A step's environment with the variables that secrets set shown as `****`.
struct Masked<'a> {
    base: &'a dyn crate::shell::Env,
    secrets: &'a [&'a str],
}

impl crate::shell::Env for Masked<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        if self.secrets.contains(&name) {
            Some("****")
        } else {
            self.base.get(name)
        }
    }
}

/// Where heredoc scripts with an interpreter line are mounted (as BuildKit does).
const HEREDOC_DIR: &str = "/dev/pipes";

/// The build arg BuildKit reads for the hostname of RUN steps.
pub(super) const SANDBOX_HOSTNAME_ARG: &str = "BUILDKIT_SANDBOX_HOSTNAME";

impl Lowerer<'_> {
    pub(super) fn run_step(
        &mut self,
        st: &mut StageState,
        run: &ins::Run,
        cmd: &Located,
    ) -> crate::error::Result<()> {
        let span = cmd.span;
        let mut inputs: Vec<Input> = Vec::new();
        let mut mounts = vec![Mount {
            target: "/".into(),
            input: st.state.map(|s| push_input(&mut inputs, s)),
            selector: "/".into(),
            readonly: false,
            kind: MountKind::Rootfs,
        }];
        let args = self.run_args(st, run, span, &mut inputs, &mut mounts)?;
        for spec in &run.mounts {
            let m = match &spec.deferred {
                None => self.mount(st, spec, span, &mut inputs)?,
                Some(raw) => {
                    // A typed key held a variable: expand every value with the step's
                    // environment, as BuildKit does, then read the mount.
                    let fields = ins::mount_fields(raw).map_err(|e| {
                        super::err(span, format!("failed to parse csv mounts: {e}"))
                    })?;
                    let mut expanded = Vec::with_capacity(fields.len());
                    for f in &fields {
                        expanded.push(match f.split_once('=') {
                            Some((k, v)) => format!("{k}={}", self.expand(st, v, span)?),
                            None => f.clone(),
                        });
                    }
                    let spec = ins::parse_mount(&ins::mount_record(&expanded), span)?;
                    if spec.deferred.is_some() {
                        return Err(super::err(
                            span,
                            format!("--mount={raw}: a value still holds a variable once expanded"),
                        ));
                    }
                    self.mount(st, &spec, span, &mut inputs)?
                }
            };
            mounts.push(m);
        }
        // Mounts are applied in order of target depth by the executor; keep a canonical order so
        // the digest does not depend on the order flags were written in, beyond what matters.
        if let Some((_rootfs, others)) = mounts.split_first_mut() {
            others.sort_by(|a, b| a.target.cmp(&b.target));
        }

        let mut env = st.config.env.clone();
        for (k, v) in st.args.iter() {
            if st.env_get(k).is_none() {
                env.push(format!("{k}={v}"));
            }
        }
        // BuildKit's `runCommandString`: every declared ARG, valueless ones too (`B=`), each
        // with the value the step sees (an ENV of the same name wins).
        let arg_pairs: Vec<String> = st
            .declared_args
            .iter()
            .map(|(k, v)| format!("{k}={}", st.env_get(k).unwrap_or(v)))
            .collect();
        // BuildKit's proxy env: `http_proxy` or `HTTP_PROXY` given as a build arg sets both
        // spellings for the step (unless the Dockerfile declares it as an ARG).
        let mut proxies: std::collections::BTreeMap<String, &String> = Default::default();
        for (k, v) in &self.opts.build_args {
            if super::PROXY_ARGS.contains(&k.as_str()) && !st.declared.contains(k) {
                proxies.insert(k.to_ascii_uppercase(), v);
            }
        }
        let proxy_env = proxies
            .iter()
            .flat_map(|(k, v)| {
                [
                    format!("{k}={v}"),
                    format!("{}={v}", k.to_ascii_lowercase()),
                ]
            })
            .filter(|kv| {
                let name = kv.split('=').next().unwrap_or_default();
                !st.declared.contains(name)
            })
            .collect();
        let exec = ExecOp {
            args: args.clone(),
            env,
            cwd: st.workdir().to_string(),
            user: st.config.user.clone().unwrap_or_default(),
            hostname: self.opts.build_args.get(SANDBOX_HOSTNAME_ARG).cloned(),
            network: match run.network {
                None => self.opts.default_network,
                Some(ins::Network::Default) => NetworkMode::Default,
                Some(ins::Network::None) => NetworkMode::None,
                Some(ins::Network::Host) => NetworkMode::Host,
            },
            security: match run.security {
                Some(ins::Security::Insecure) => SecurityMode::Insecure,
                _ => SecurityMode::Sandbox,
            },
            mounts,
            proxy_env,
            host_config: self.opts.host_config.clone(),
            // A stage for another platform than the build's runs its steps emulated.
            platform: (!self.opts.build_platform.serves(&st.platform))
                .then(|| Box::new(st.platform.clone())),
        };
        // BuildKit names the step with the variables it sees expanded, quotes and unset ones
        // kept, and a secret's env var shown as `****` (`processCmdEnv`, `withSecretEnvMask`).
        let secret_vars: Vec<&str> = exec
            .mounts
            .iter()
            .filter_map(|m| match &m.kind {
                MountKind::Secret { env: Some(var), .. } => Some(var.as_str()),
                _ => None,
            })
            .collect();
        let masked = Masked {
            base: &st.expansion_env(),
            secrets: &secret_vars,
        };
        let shown_name = self.lex.display(&cmd.original, &masked);
        let meta = self.meta(&st.describe(&shown_name), span);
        let d = self.add(Op::Exec(exec), inputs, meta, span)?;
        st.state = Some(Input::of(d));
        let shown = if arg_pairs.is_empty() {
            args.join(" ")
        } else {
            format!(
                "|{} {} {}",
                arg_pairs.len(),
                arg_pairs.join(" "),
                args.join(" ")
            )
        };
        st.config.history.push(cairn_ir::image::History {
            created: None,
            created_by: format!("RUN {shown} # buildkit"),
            comment: Some("buildkit.dockerfile.v0".into()),
            empty_layer: false,
        });
        Ok(())
    }

    /// The process arguments, adding a script mount when a heredoc is run by its interpreter line.
    fn run_args(
        &mut self,
        st: &StageState,
        run: &ins::Run,
        span: Span,
        inputs: &mut Vec<Input>,
        mounts: &mut Vec<Mount>,
    ) -> crate::error::Result<Vec<String>> {
        let shell = st.shell();
        let script = match &run.command {
            Command::Exec(args) => return Ok(args.clone()),
            Command::Shell(s) => s,
        };
        let Some(first) = run.heredocs.first() else {
            return Ok(shell.into_iter().chain([script.clone()]).collect());
        };
        let only_heredoc = run.heredocs.len() == 1 && is_heredoc_marker(script.trim(), first);
        if only_heredoc {
            // As in BuildKit, a RUN heredoc body is not expanded here: the shell does that.
            if first.content.starts_with("#!") {
                // Run the script file directly so its interpreter line takes effect.
                let content = first.content.clone();
                let path = format!("{HEREDOC_DIR}/{}", first.name);
                let file = FileOp {
                    base: None,
                    actions: vec![FileAction::Mkfile {
                        path: format!("/{}", first.name),
                        mode: 0o755,
                        data: content.into_bytes(),
                        owner: None,
                    }],
                };
                let meta = cairn_ir::VertexMeta {
                    description: format!("[internal] heredoc {}", first.name),
                    hidden: true,
                    ..Default::default()
                };
                let d = self.add(Op::File(file), vec![], meta, span)?;
                let idx = push_input(inputs, Input::of(d));
                mounts.push(Mount {
                    target: format!("{HEREDOC_DIR}/"),
                    input: Some(idx),
                    selector: "/".into(),
                    readonly: true,
                    kind: MountKind::Bind,
                });
                // BuildKit still prepends the shell: `/bin/sh -c /dev/pipes/EOF` (args and
                // history); the kernel runs the script by its interpreter line.
                return Ok(shell.into_iter().chain([path]).collect());
            }
            return Ok(shell.into_iter().chain([first.content.clone()]).collect());
        }
        // Heredocs used as input of a command (`RUN python3 <<EOF`): hand the shell the whole
        // script with its heredoc bodies, and let it do the redirection.
        let mut full = script.clone();
        for h in &run.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        Ok(shell.into_iter().chain([full]).collect())
    }

    /// A heredoc body, expanded unless its delimiter was quoted.
    pub(super) fn heredoc_content(
        &mut self,
        st: &StageState,
        h: &Heredoc,
        span: Span,
    ) -> crate::error::Result<String> {
        if !h.expand {
            return Ok(h.content.clone());
        }
        // Expand line by line so newlines survive; quotes in a heredoc body are literal text.
        let env = st.expansion_env();
        let mut out = String::with_capacity(h.content.len());
        for line in h.content.split_inclusive('\n') {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            out.push_str(&self.expand_heredoc_line(&env, body, span)?);
            out.push_str(nl);
        }
        Ok(out)
    }

    fn expand_heredoc_line(
        &mut self,
        env: &dyn crate::shell::Env,
        line: &str,
        span: Span,
    ) -> crate::error::Result<String> {
        // Quotes are not special inside a heredoc: protect them from the word lexer.
        let escape = self.opts.escape;
        let mut protected = String::with_capacity(line.len());
        for c in line.chars() {
            if c == '"' || c == '\'' {
                protected.push(escape);
            }
            protected.push(c);
        }
        self.expand_with(env, &protected, span)
    }

    fn mount(
        &mut self,
        st: &StageState,
        spec: &ins::MountSpec,
        span: Span,
        inputs: &mut Vec<Input>,
    ) -> crate::error::Result<Mount> {
        let target = match &spec.target {
            Some(t) => Some(resolve_path(st.workdir(), &self.expand(st, t, span)?)),
            None => None,
        };
        // Bind, cache and tmpfs mounts without a target go on the working directory; nothing
        // may be mounted over the root (BuildKit: `invalid mount target "/"`).
        let mount_point = |what: &str| -> crate::error::Result<String> {
            let t = target
                .clone()
                .unwrap_or_else(|| super::dispatch::clean_path(st.workdir()));
            if super::dispatch::clean_path(&t) == "/" {
                return Err(
                    err(span, "invalid mount target \"/\"".to_string()).with_help(format!(
                        "a {what} mount cannot cover the root: give target=/path{}",
                        if spec.target.is_none() {
                            " (without one it goes on the WORKDIR, here /)"
                        } else {
                            ""
                        }
                    )),
                );
            }
            Ok(t)
        };
        let source = match &spec.source {
            Some(s) => Some(self.expand(st, s, span)?),
            None => None,
        };
        let id = match &spec.id {
            Some(s) => Some(self.expand(st, s, span)?),
            None => None,
        };
        let from_input =
            |this: &mut Self, inputs: &mut Vec<Input>| -> crate::error::Result<Option<u32>> {
                match &spec.from {
                    Some(f) => Ok(this
                        .state_for_ref(st, f, span)?
                        .map(|s| push_input(inputs, s))),
                    None => Ok(None),
                }
            };
        let m = match spec.kind {
            SpecKind::Bind => {
                let target = mount_point("bind")?;
                let input = match &spec.from {
                    Some(_) => from_input(self, inputs)?,
                    None => Some(push_input(inputs, Input::of(self.context_source()?))),
                };
                let selector = context_selector(source.as_deref().unwrap_or("/"), span)?;
                Mount {
                    target,
                    input,
                    selector,
                    readonly: spec.readonly,
                    kind: MountKind::Bind,
                }
            }
            SpecKind::Cache => {
                let target = mount_point("cache")?;
                let input = from_input(self, inputs)?;
                let selector = clean_selector(source.as_deref().unwrap_or("/"));
                let id = id.unwrap_or_else(|| target.clone());
                let sharing = match spec.sharing {
                    ins::Sharing::Shared => CacheSharing::Shared,
                    ins::Sharing::Private => CacheSharing::Private,
                    ins::Sharing::Locked => CacheSharing::Locked,
                };
                Mount {
                    target,
                    input,
                    selector,
                    readonly: spec.readonly,
                    kind: MountKind::Cache {
                        id,
                        sharing,
                        mode: spec.mode,
                        uid: spec.uid,
                        gid: spec.gid,
                    },
                }
            }
            SpecKind::Tmpfs => {
                let target = mount_point("tmpfs")?;
                Mount {
                    target,
                    input: None,
                    selector: "/".into(),
                    readonly: false,
                    kind: MountKind::Tmpfs { size: spec.size },
                }
            }
            SpecKind::Secret => {
                let env = match &spec.env {
                    Some(e) => Some(self.expand(st, e, span)?),
                    None => None,
                };
                let id = id
                    .or_else(|| {
                        target
                            .as_deref()
                            .and_then(|t| t.rsplit('/').next())
                            .map(str::to_string)
                    })
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        err(span, "--mount=type=secret needs an id").with_help("add id=NAME")
                    })?;
                let target = match (&target, &env) {
                    (Some(t), _) => t.clone(),
                    (None, Some(_)) => String::new(),
                    (None, None) => format!("/run/secrets/{id}"),
                };
                Mount {
                    target,
                    input: None,
                    selector: "/".into(),
                    readonly: true,
                    kind: MountKind::Secret {
                        id,
                        required: spec.required,
                        mode: spec.mode.unwrap_or(0o400),
                        uid: spec.uid.unwrap_or(0),
                        gid: spec.gid.unwrap_or(0),
                        env,
                    },
                }
            }
            SpecKind::Ssh => {
                let id = id.unwrap_or_else(|| "default".into());
                let target = target.unwrap_or_else(|| "/run/buildkit/ssh_agent.0".into());
                Mount {
                    target,
                    input: None,
                    selector: "/".into(),
                    readonly: true,
                    kind: MountKind::Ssh {
                        id,
                        required: spec.required,
                        mode: spec.mode.unwrap_or(0o600),
                        uid: spec.uid.unwrap_or(0),
                        gid: spec.gid.unwrap_or(0),
                    },
                }
            }
        };
        Ok(m)
    }
}

fn is_heredoc_marker(script: &str, h: &Heredoc) -> bool {
    let rest = script.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let unquoted = rest.trim_matches(|c| c == '"' || c == '\'');
    unquoted == h.name
}

/// Add an input once, returning its index.
pub(super) fn push_input(inputs: &mut Vec<Input>, i: Input) -> u32 {
    let pos = inputs.iter().position(|x| *x == i).unwrap_or_else(|| {
        inputs.push(i);
        inputs.len() - 1
    });
    u32::try_from(pos).unwrap_or(u32::MAX)
}

/// A path inside the build context, refusing paths that climb out of it.
pub(super) fn context_selector(p: &str, span: Span) -> crate::error::Result<String> {
    let mut depth: i64 = 0;
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(err(span, format!("path {p:?} is outside the build context"))
                        .with_help("paths are relative to the context root; copy the file into the context first"));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(clean_selector(p))
}

pub(super) fn clean_selector(p: &str) -> String {
    super::dispatch::clean_path(&format!("/{p}"))
}
