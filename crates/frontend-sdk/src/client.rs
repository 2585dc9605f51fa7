//! The frontend's side of the protocol: read the request, make calls, send the result.

use crate::framing::{FramingError, read_message, write_message};
use crate::protocol::*;
use base64::Engine as _;
use cairn_ir::{Graph, Platform};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Stdin, Stdout, Write};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("talking to cairn: {0}")]
    Framing(#[from] FramingError),
    #[error("talking to cairn: {0}")]
    Protocol(String),
    /// cairn answered the call with an error.
    #[error("{0}")]
    Call(#[from] CallError),
    /// The frontend's own input or graph is wrong.
    #[error("{0}")]
    Invalid(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Framing(e.into())
    }
}

/// A frontend's connection to cairn.
pub struct Client<R, W> {
    reader: R,
    writer: W,
    request: Request,
    next_id: u64,
}

impl Client<BufReader<Stdin>, Stdout> {
    /// The connection a frontend program has: cairn on stdin and stdout. (Write nothing else
    /// to stdout; stderr is shown to the user.)
    pub fn stdio() -> Result<Self, Error> {
        Client::new(BufReader::new(std::io::stdin()), std::io::stdout())
    }
}

/// A connection whichever way cairn started the frontend.
pub type AnyClient = Client<Box<dyn BufRead + Send>, Box<dyn Write + Send>>;

impl AnyClient {
    /// The socket `$CAIRN_FRONTEND_SOCKET` names (a frontend run from an image, in the
    /// sandbox), else stdin and stdout (a program run with `--frontend exec:`).
    pub fn connect() -> Result<Self, Error> {
        match std::env::var_os("CAIRN_FRONTEND_SOCKET") {
            Some(path) => {
                let stream = std::os::unix::net::UnixStream::connect(&path)?;
                let reader = stream.try_clone()?;
                Client::new(Box::new(BufReader::new(reader)), Box::new(stream))
            }
            None => Client::new(
                Box::new(BufReader::new(std::io::stdin())),
                Box::new(std::io::stdout()),
            ),
        }
    }
}

impl<R: BufRead, W: Write> Client<R, W> {
    /// Read cairn's request from `reader`.
    pub fn new(mut reader: R, writer: W) -> Result<Self, Error> {
        let line = read_message(&mut reader, MAX_MESSAGE)?
            .ok_or_else(|| Error::Protocol("cairn sent no request".into()))?;
        let request = match serde_json::from_slice(&line) {
            Ok(HostMessage::Request(r)) => r,
            Ok(other) => {
                return Err(Error::Protocol(format!(
                    "expected a request, got {other:?}"
                )));
            }
            Err(e) => return Err(Error::Protocol(format!("cannot read the request: {e}"))),
        };
        if request.protocol != PROTOCOL_VERSION {
            return Err(Error::Protocol(format!(
                "cairn speaks protocol {}, this frontend {PROTOCOL_VERSION}",
                request.protocol
            )));
        }
        Ok(Client {
            reader,
            writer,
            request,
            next_id: 1,
        })
    }

    /// What to build.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Call `method` and wait for its reply.
    fn call<T: DeserializeOwned>(
        &mut self,
        method: &str,
        params: impl Serialize,
    ) -> Result<T, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let params = serde_json::to_value(params).map_err(|e| Error::Invalid(e.to_string()))?;
        write_message(
            &mut self.writer,
            &FrontendMessage::Call {
                id,
                method: method.into(),
                params,
            },
        )?;
        let line = read_message(&mut self.reader, MAX_MESSAGE)?
            .ok_or_else(|| Error::Protocol("cairn closed the connection".into()))?;
        let reply = match serde_json::from_slice(&line) {
            Ok(HostMessage::Reply(r)) if r.id == id => r,
            Ok(other) => {
                return Err(Error::Protocol(format!(
                    "expected reply {id}, got {other:?}"
                )));
            }
            Err(e) => return Err(Error::Protocol(format!("cannot read a reply: {e}"))),
        };
        match (reply.result, reply.error) {
            (_, Some(e)) => Err(Error::Call(e)),
            (Some(v), None) => {
                serde_json::from_value(v).map_err(|e| Error::Protocol(format!("{method}: {e}")))
            }
            (None, None) => Err(Error::Protocol(format!("{method}: an empty reply"))),
        }
    }

    /// What is at `path` in the context; `None` when nothing (or an ignored file) is.
    pub fn stat(&mut self, path: &str) -> Result<Option<FileInfo>, Error> {
        match self.call("stat", PathParams { path: path.into() }) {
            Ok(info) => Ok(Some(info)),
            Err(Error::Call(CallError {
                code: ErrorCode::NotFound,
                ..
            })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The whole content of the file at `path` in the context, read in parts of at most
    /// [`MAX_READ`] bytes; `limit` bounds the total (a file longer is an error).
    pub fn read_file_limited(&mut self, path: &str, limit: u64) -> Result<Vec<u8>, Error> {
        self.read_in_parts("read_file", path, limit, |offset| {
            serde_json::to_value(ReadFileParams {
                path: path.into(),
                offset,
                length: Some(MAX_READ),
            })
        })
    }

    /// A file read by `method`, part by part (`params` for each offset), at most `limit` bytes.
    fn read_in_parts(
        &mut self,
        method: &str,
        path: &str,
        limit: u64,
        params: impl Fn(u64) -> serde_json::Result<serde_json::Value>,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        loop {
            let p = params(out.len() as u64).map_err(|e| Error::Invalid(e.to_string()))?;
            let part: FileData = self.call(method, p)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(part.data.as_bytes())
                .map_err(|e| Error::Protocol(format!("{method} {path}: {e}")))?;
            out.extend_from_slice(&bytes);
            if out.len() as u64 > limit {
                return Err(Error::Invalid(format!(
                    "{path} is larger than {limit} bytes"
                )));
            }
            if part.eof || bytes.is_empty() {
                return Ok(out);
            }
        }
    }

    /// [`Self::read_file_limited`] with a 32 MiB limit (a build file, not a data set).
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        self.read_file_limited(path, 32 << 20)
    }

    /// The entries of the directory at `path` in the context, sorted by name.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, Error> {
        let d: DirEntries = self.call("read_dir", PathParams { path: path.into() })?;
        Ok(d.entries)
    }

    /// A base image's config and pinned reference (pulled by cairn if needed).
    pub fn resolve_image(
        &mut self,
        reference: &str,
        platform: Option<&Platform>,
    ) -> Result<cairn_ir::resolve::ResolvedImage, Error> {
        let r: ResolvedImage = self.call(
            "resolve_image",
            ResolveImageParams {
                reference: reference.into(),
                platform: platform.cloned(),
            },
        )?;
        Ok(cairn_ir::resolve::ResolvedImage {
            pinned: Some(r.pinned),
            config: r.config,
        })
    }

    /// Have cairn build `graph` now (an intermediate result to look at, e.g. to run a tool
    /// that lists what to build next); the name to read its files by.
    pub fn solve(&mut self, graph: &Graph) -> Result<String, Error> {
        let document = cairn_ir::format::to_value(graph);
        let r: SolveReply = self.call("solve", SolveParams { graph: document })?;
        Ok(r.result)
    }

    /// The whole content of `path` in the solved `result` (at most `limit` bytes).
    pub fn read_result_file(
        &mut self,
        result: &str,
        path: &str,
        limit: u64,
    ) -> Result<Vec<u8>, Error> {
        self.read_in_parts("read_result_file", path, limit, |offset| {
            serde_json::to_value(ResultReadParams {
                result: result.into(),
                path: path.into(),
                offset,
                length: Some(MAX_READ),
            })
        })
    }

    /// The entries of the directory `path` in the solved `result`.
    pub fn read_result_dir(&mut self, result: &str, path: &str) -> Result<Vec<DirEntry>, Error> {
        let d: DirEntries = self.call(
            "read_result_dir",
            ResultPathParams {
                result: result.into(),
                path: path.into(),
            },
        )?;
        Ok(d.entries)
    }

    /// A warning for the user, at `file:line` when given.
    pub fn warn(
        &mut self,
        message: &str,
        file: Option<&str>,
        line: Option<usize>,
    ) -> Result<(), Error> {
        self.send(&FrontendMessage::Warning {
            message: message.into(),
            file: file.map(str::to_string),
            line,
        })
    }

    /// A progress note.
    pub fn progress(&mut self, message: &str) -> Result<(), Error> {
        self.send(&FrontendMessage::Progress {
            message: message.into(),
        })
    }

    /// Send the graph: the frontend's work is done.
    pub fn finish(mut self, graph: &Graph) -> Result<(), Error> {
        self.send(&FrontendMessage::Result {
            graph: cairn_ir::format::to_value(graph),
            source_date_epoch: None,
        })
    }

    /// Refuse the input, at `file:line` when given: cairn shows it as its own errors.
    pub fn fail(
        mut self,
        message: &str,
        file: Option<&str>,
        line: Option<usize>,
    ) -> Result<(), Error> {
        self.send(&FrontendMessage::Error {
            message: message.into(),
            file: file.map(str::to_string),
            line,
        })
    }

    /// One message that needs no reply.
    fn send(&mut self, message: &FrontendMessage) -> Result<(), Error> {
        Ok(write_message(&mut self.writer, message)?)
    }
}
