//! A frontend that is a program of its own, spoken to over the frontend protocol
//! (`docs/frontend-protocol.md`, types in `cairn-frontend-sdk`).
//!
//! cairn starts the program with an empty environment (only `PATH`), `/` as its directory, its
//! stdin and stdout as the protocol's two directions and its stderr shown to the user; writes
//! the [`Request`]; answers its calls — the context read through `ContextReader` (confined,
//! `.dockerignore` applied, bounded), base images through the build's resolver — and takes its
//! graph. Every way a frontend can misbehave ends in a clear error and a killed process: a
//! non-zero exit, a message that is not JSON or longer than the protocol's limit, a graph that
//! does not check, no answer within the time limit.

use crate::error::{BuildError, Result};
use crate::events::{BuildEvent, EventSink};
use crate::frontend_context::ContextReader;
use crate::{Frontend, FrontendHost, FrontendOutput};
use base64::Engine as _;
use cairn_frontend_sdk::framing::{FramingError, read_message, write_message};
use cairn_frontend_sdk::protocol::*;
use cairn_ir::Platform;
use cairn_ir::resolve::ImageResolver;
use cairn_store::Staging;
use std::collections::{BTreeMap, VecDeque};
use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a frontend may take, by default (`--frontend-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Lines of a frontend's stderr kept for the error when it fails.
const STDERR_TAIL: usize = 20;

/// What the frontend refused, where: shown by the driver like its own source errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", place(file, line))]
pub struct FrontendError {
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
}

fn place(file: &Option<String>, line: &Option<usize>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{f}:{l}: "),
        (Some(f), None) => format!("{f}: "),
        _ => String::new(),
    }
}

/// A frontend program and what it is asked to build.
pub struct ProcessFrontend {
    /// What the user calls it (`exec:./fe.py`), for messages.
    pub name: String,
    /// What runs: a program of the host, or an image's entrypoint in the sandbox.
    pub launch: Launch,
    /// Where the frontend was named (a Dockerfile's `# syntax=` line: file relative to the
    /// context, line): a frontend that cannot be started is reported there.
    pub origin: Option<(String, usize)>,
    /// The directory of the build context.
    pub context: PathBuf,
    pub options: BTreeMap<String, String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: Platform,
    pub timeout: Duration,
    /// Progress notes and the frontend's stderr go here as they come.
    pub events: Arc<dyn EventSink>,
}

/// How a protocol frontend is started.
#[derive(Debug, Clone)]
pub enum Launch {
    /// `--frontend exec:PROGRAM`: a program of the host (trusted as the user's own tool), with
    /// an empty environment, in a process group of its own; stdin and stdout are the protocol.
    Program { program: PathBuf, args: Vec<String> },
    /// `--frontend image:REF`, `# syntax=REF`: the image's entrypoint, in the sandbox like a
    /// RUN step, without network or context; the protocol runs over a socket
    /// (`$CAIRN_FRONTEND_SOCKET`), see [`crate::image_frontend`].
    Image { reference: String },
}

/// The frontend's side, whatever runs it: how it ended, waited for until `deadline`.
pub(crate) trait Peer {
    fn wait(&mut self, deadline: Instant) -> Exit;
}

/// The child, killed and reaped however the conversation ends.
struct Running {
    child: Child,
}

impl Peer for Running {
    fn wait(&mut self, deadline: Instant) -> Exit {
        wait_until(&mut self.child, deadline)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The frontend leads a process group of its own: whatever it started goes with it.
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Frontend for ProcessFrontend {
    fn definition(&self) -> String {
        format!("frontend {}", self.name)
    }

    fn lower(&self, host: &FrontendHost<'_>) -> Result<FrontendOutput> {
        let fail = |what: String| BuildError::msg(format!("frontend {}: {what}", self.name));
        let mut context = ContextReader::open(&self.context).map_err(|e| {
            BuildError::with_source(
                format!("cannot open the build context {}", self.context.display()),
                e,
            )
        })?;
        let deadline = Instant::now() + self.timeout;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let started = match &self.launch {
            Launch::Program { program, args } => self.start_program(program, args, &tail)?,
            Launch::Image { reference } => crate::image_frontend::start(
                host,
                reference,
                &self.platform,
                &self.name,
                deadline,
                self.events.clone(),
                tail.clone(),
            )
            .map_err(|e| match &self.origin {
                Some((file, line)) => BuildError::Frontend(Box::new(FrontendError {
                    message: cairn_solver::with_causes(&e),
                    file: Some(file.clone()),
                    line: Some(*line),
                })),
                None => e,
            })?,
        };
        let Started {
            mut peer,
            reader,
            writer: to_frontend,
            output,
        } = started;
        let messages = read_messages(reader);

        let with_tail = |msg: String| {
            let lines: Vec<String> = tail
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            if lines.is_empty() {
                fail(msg)
            } else {
                fail(format!("{msg}\nits last output:\n  {}", lines.join("\n  ")))
            }
        };

        let request = HostMessage::Request(Request {
            protocol: PROTOCOL_VERSION,
            options: self.options.clone(),
            build_args: self.build_args.clone(),
            target: self.target.clone(),
            platform: self.target_platform(host),
        });
        // A frontend that exits before reading is caught below, by its exit status.
        // Written by a thread of its own, so a frontend that stops reading cannot block cairn
        // past the time limit (a reply can be larger than a pipe holds).
        let (replies, writer) = write_messages(to_frontend);
        let _ = replies.send(request);
        let mut warnings = Vec::new();
        let mut results = Results::default();
        let outcome = loop {
            let now = Instant::now();
            let line = match messages.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(Ok(line)) => line,
                Ok(Err(FramingError::TooLarge(max))) => {
                    break Err(fail(format!("it sent a message longer than {max} bytes")));
                }
                Ok(Err(e)) => break Err(fail(format!("reading its output: {e}"))),
                Err(RecvTimeoutError::Timeout) => {
                    break Err(fail(format!(
                        "it did not finish within {} s (--frontend-timeout)",
                        self.timeout.as_secs()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = peer.wait(deadline);
                    break Err(with_tail(format!(
                        "it ended ({status}) without sending a graph"
                    )));
                }
            };
            let message: FrontendMessage = match serde_json::from_slice(&line) {
                Ok(m) => m,
                Err(e) => {
                    let shown =
                        String::from_utf8_lossy(line.get(..200).unwrap_or(&line)).into_owned();
                    break Err(with_tail(format!(
                        "it sent something that is not a protocol message ({e}): {shown:?}"
                    )));
                }
            };
            match message {
                FrontendMessage::Call { id, method, params } => {
                    let reply = self.answer(&method, params, &mut context, &mut results, host);
                    let reply = match reply {
                        Ok(result) => Reply {
                            id,
                            result: Some(result),
                            error: None,
                        },
                        Err(error) => Reply {
                            id,
                            result: None,
                            error: Some(error),
                        },
                    };
                    if replies.send(HostMessage::Reply(reply)).is_err() {
                        let status = peer.wait(deadline);
                        break Err(with_tail(format!(
                            "it stopped reading and ended ({status})"
                        )));
                    }
                }
                FrontendMessage::Warning {
                    message,
                    file,
                    line,
                } => warnings.push(format!("{}{message}", place(&file, &line))),
                FrontendMessage::Progress { message } => self
                    .events
                    .emit(BuildEvent::Info(format!("[frontend] {message}"))),
                FrontendMessage::Error {
                    message,
                    file,
                    line,
                } => {
                    break Err(BuildError::Frontend(Box::new(FrontendError {
                        message,
                        file,
                        line,
                    })));
                }
                FrontendMessage::Result {
                    graph,
                    source_date_epoch,
                } => {
                    let graph = cairn_ir::format::from_value(&graph).map_err(|e| {
                        BuildError::with_source(
                            format!("frontend {}: its graph is not valid", self.name),
                            e,
                        )
                    });
                    break graph.map(|graph| FrontendOutput {
                        graph,
                        source_date_epoch,
                        warnings: std::mem::take(&mut warnings),
                    });
                }
            }
        };
        drop(replies);
        // A result counts once the program has ended well: a crash after it is a failure.
        let outcome = match outcome {
            Ok(out) => match peer.wait(deadline) {
                Exit::Code(0) => Ok(out),
                other => Err(with_tail(format!("it sent a graph, then ended ({other})"))),
            },
            Err(e) => Err(e),
        };
        drop(peer);
        if let Some(t) = output {
            let _ = t.join();
        }
        let _ = writer.join();
        for w in warnings {
            self.events.emit(BuildEvent::Warning(w));
        }
        outcome
    }
}

/// A started frontend: its side, the two directions of the protocol, and the thread that
/// forwards its free-text output (joined at the end).
pub(crate) struct Started<'a> {
    pub peer: Box<dyn Peer + 'a>,
    pub reader: Box<dyn std::io::Read + Send>,
    pub writer: Box<dyn std::io::Write + Send>,
    pub output: Option<std::thread::JoinHandle<()>>,
}

impl ProcessFrontend {
    /// The platform this lowering is for: the build's (`--platform`), else the frontend's.
    fn target_platform(&self, host: &FrontendHost<'_>) -> Platform {
        host.platform().unwrap_or(&self.platform).clone()
    }

    /// `exec:PROGRAM`: the program with an empty environment, `/` as its directory, a process
    /// group of its own; stdin and stdout are the protocol, stderr is shown.
    fn start_program(
        &self,
        program: &std::path::Path,
        args: &[String],
        tail: &Arc<Mutex<VecDeque<String>>>,
    ) -> Result<Started<'static>> {
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("CAIRN_FRONTEND_PROTOCOL", PROTOCOL_VERSION.to_string())
            .current_dir("/")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                BuildError::with_source(
                    format!(
                        "cannot start frontend {} ({})",
                        self.name,
                        program.display()
                    ),
                    e,
                )
            })?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let running = Running { child };
        let (Some(stdin), Some(stdout), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(BuildError::msg(format!(
                "frontend {}: its pipes could not be made",
                self.name
            )));
        };
        let output = forward_stderr(stderr, self.name.clone(), self.events.clone(), tail.clone());
        Ok(Started {
            peer: Box::new(running),
            reader: Box::new(stdout),
            writer: Box::new(stdin),
            output: Some(output),
        })
    }

    /// The result of one call, as the protocol's JSON.
    fn answer(
        &self,
        method: &str,
        params: serde_json::Value,
        context: &mut ContextReader,
        results: &mut Results,
        host: &FrontendHost<'_>,
    ) -> std::result::Result<serde_json::Value, CallError> {
        let resolver: &dyn ImageResolver = host;
        fn parse<T: serde::de::DeserializeOwned>(
            method: &str,
            params: serde_json::Value,
        ) -> std::result::Result<T, CallError> {
            serde_json::from_value(params).map_err(|e| CallError {
                code: ErrorCode::Invalid,
                message: format!("{method}: {e}"),
            })
        }
        let to_json = |v: std::result::Result<serde_json::Value, serde_json::Error>| {
            v.map_err(|e| CallError {
                code: ErrorCode::Failed,
                message: e.to_string(),
            })
        };
        match method {
            "stat" => {
                let p: PathParams = parse(method, params)?;
                to_json(serde_json::to_value(context.stat(&p.path)?))
            }
            "read_file" => {
                let p: ReadFileParams = parse(method, params)?;
                to_json(file_data(context.read_file(&p.path, p.offset, p.length)?))
            }
            "read_dir" => {
                let p: PathParams = parse(method, params)?;
                to_json(serde_json::to_value(DirEntries {
                    entries: context.read_dir(&p.path)?,
                }))
            }
            "resolve_image" => {
                let p: ResolveImageParams = parse(method, params)?;
                let failed = |message: String| CallError {
                    code: ErrorCode::Failed,
                    message,
                };
                let reference = cairn_ir::Reference::parse(&p.reference)
                    .map_err(|e| CallError {
                        code: ErrorCode::Invalid,
                        message: format!("{}: {e}", p.reference),
                    })?
                    .to_string();
                let platform = p.platform.unwrap_or_else(|| self.target_platform(host));
                let resolved = resolver
                    .resolve(&reference, &platform)
                    .map_err(|e| failed(e.to_string()))?
                    .ok_or_else(|| failed(format!("image {reference} is not in the store")))?;
                let pinned = resolved
                    .pinned
                    .ok_or_else(|| failed(format!("image {reference} could not be pinned")))?;
                to_json(serde_json::to_value(ResolvedImage {
                    pinned,
                    config: resolved.config,
                }))
            }
            "solve" => {
                let p: SolveParams = parse(method, params)?;
                to_json(serde_json::to_value(results.solve(host, &p.graph)?))
            }
            "stat_result" => {
                let p: ResultPathParams = parse(method, params)?;
                to_json(serde_json::to_value(results.get(&p.result)?.stat(&p.path)?))
            }
            "read_result_file" => {
                let p: ResultReadParams = parse(method, params)?;
                let part = results
                    .get_mut(&p.result)?
                    .read_file(&p.path, p.offset, p.length)?;
                to_json(file_data(part))
            }
            "read_result_dir" => {
                let p: ResultPathParams = parse(method, params)?;
                to_json(serde_json::to_value(DirEntries {
                    entries: results.get(&p.result)?.read_dir(&p.path)?,
                }))
            }
            other => Err(CallError {
                code: ErrorCode::Invalid,
                message: format!(
                    "unknown method {other:?} (protocol {PROTOCOL_VERSION} has stat, read_file, \
                     read_dir, resolve_image, solve, stat_result, read_result_file, read_result_dir)"
                ),
            }),
        }
    }
}

/// A `read_file` / `read_result_file` answer: the bytes in base64, and whether the file ends.
fn file_data((bytes, eof): (Vec<u8>, bool)) -> serde_json::Result<serde_json::Value> {
    serde_json::to_value(FileData {
        data: base64::engine::general_purpose::STANDARD.encode(bytes),
        eof,
    })
}

/// The results a frontend had solved, by name (`r1`, `r2`, …): each flattened into a staging
/// directory of the store (removed when the frontend is done) and read as its own root.
#[derive(Default)]
struct Results {
    solved: Vec<(Staging, ContextReader)>,
}

/// The most sub-graphs one frontend may have solved.
const MAX_RESULTS: usize = 64;

impl Results {
    fn solve(
        &mut self,
        host: &FrontendHost<'_>,
        document: &serde_json::Value,
    ) -> std::result::Result<SolveReply, CallError> {
        let failed = |message: String| CallError {
            code: ErrorCode::Failed,
            message,
        };
        if self.solved.len() >= MAX_RESULTS {
            return Err(CallError {
                code: ErrorCode::TooLarge,
                message: format!("a frontend may have at most {MAX_RESULTS} results solved"),
            });
        }
        let graph = cairn_ir::format::from_value(document).map_err(|e| CallError {
            code: ErrorCode::Invalid,
            message: format!("the graph is not valid: {e}"),
        })?;
        let layers = host
            .solve(graph)
            .map_err(|e| failed(cairn_solver::with_causes(&e)))?;
        let store = host.store();
        let staging = store.staging().map_err(|e| failed(e.to_string()))?;
        let dirs: Vec<PathBuf> = layers.iter().map(|l| store.layer_dir(l)).collect();
        cairn_oci::flatten_layers_with(&dirs, staging.upper(), cairn_oci::Devices::Omit)
            .map_err(|e| failed(format!("cannot read the result: {e}")))?;
        let reader =
            ContextReader::open_result(staging.upper()).map_err(|e| failed(e.to_string()))?;
        self.solved.push((staging, reader));
        Ok(SolveReply {
            result: format!("r{}", self.solved.len()),
        })
    }

    fn index(name: &str) -> Option<usize> {
        name.strip_prefix('r')?
            .parse::<usize>()
            .ok()?
            .checked_sub(1)
    }

    fn get(&self, name: &str) -> std::result::Result<&ContextReader, CallError> {
        Self::index(name)
            .and_then(|i| self.solved.get(i))
            .map(|(_, r)| r)
            .ok_or_else(|| unknown_result(name))
    }

    fn get_mut(&mut self, name: &str) -> std::result::Result<&mut ContextReader, CallError> {
        Self::index(name)
            .and_then(|i| self.solved.get_mut(i))
            .map(|(_, r)| r)
            .ok_or_else(|| unknown_result(name))
    }
}

fn unknown_result(name: &str) -> CallError {
    CallError {
        code: ErrorCode::NotFound,
        message: format!("no result {name:?} was solved"),
    }
}

/// The frontend's messages, read on a thread of their own (so a silent frontend is noticed
/// by the time limit), each at most [`MAX_MESSAGE`] bytes; reading stops at the first error.
fn read_messages(
    stdout: Box<dyn std::io::Read + Send>,
) -> Receiver<std::result::Result<Vec<u8>, FramingError>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        loop {
            match read_message(&mut r, MAX_MESSAGE) {
                Ok(Some(line)) => {
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// Messages to the frontend, written in order by a thread of their own; it stops at the first
/// write that fails (the frontend closed its input or ended).
fn write_messages(
    mut stdin: Box<dyn std::io::Write + Send>,
) -> (
    std::sync::mpsc::Sender<HostMessage>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel::<HostMessage>();
    let handle = std::thread::spawn(move || {
        for m in rx {
            if write_message(&mut stdin, &m).is_err() {
                return;
            }
        }
    });
    (tx, handle)
}

/// The frontend's stderr, line by line, to the user; the last lines kept for an error.
fn forward_stderr(
    stderr: std::process::ChildStderr,
    name: String,
    events: Arc<dyn EventSink>,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(stderr);
        // Bounded like the protocol's messages: a frontend cannot flood memory through stderr.
        while let Ok(Some(line)) = read_message(&mut r, 64 << 10) {
            let line = String::from_utf8_lossy(&line).into_owned();
            events.emit(BuildEvent::Info(format!("[{name}] {line}")));
            if let Ok(mut t) = tail.lock() {
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        }
        // Whatever follows an over-long line is drained unread.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    })
}

/// How a frontend process ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
    /// Still running at the deadline (it is then killed).
    Running,
    Unknown(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Running => f.write_str("still running at the time limit"),
            Exit::Unknown(e) => write!(f, "status unknown: {e}"),
        }
    }
}

/// Wait for the child until `deadline` (at least a moment, for a program that just closed
/// its output).
fn wait_until(child: &mut Child, deadline: Instant) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    let deadline = deadline.max(Instant::now() + Duration::from_millis(500));
    loop {
        match child.try_wait() {
            Ok(Some(s)) => {
                return match (s.code(), s.signal()) {
                    (Some(c), _) => Exit::Code(c),
                    (None, Some(sig)) => Exit::Signal(sig),
                    _ => Exit::Unknown(s.to_string()),
                };
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => return Exit::Running,
            Err(e) => return Exit::Unknown(e.to_string()),
        }
    }
}
