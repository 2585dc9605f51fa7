//! The messages of the frontend protocol, version [`PROTOCOL_VERSION`]
//! (`docs/frontend-protocol.md` is the specification; these types are its Rust form).
//!
//! Both ways, a message is one JSON object on one line (see [`crate::framing`]) with a `type`.
//! cairn sends a [`Request`] first, then only [`Reply`]s to the frontend's calls; the frontend
//! sends calls, warnings and progress in any order, and ends with exactly one `result` or
//! `error`.

use cairn_ir::{ImageConfig, Platform};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol version this crate speaks. cairn refuses a frontend that asks for another.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest message either side sends or accepts, in bytes (a line longer than this is a
/// protocol error, read no further): bounds cairn's memory whatever a frontend writes.
pub const MAX_MESSAGE: usize = 64 << 20;

/// The most `read_file` returns in one reply; a longer file is read in parts.
pub const MAX_READ: u64 = 4 << 20;

/// The most entries `read_dir` returns; a larger directory is an error (`too_large`).
pub const MAX_DIR_ENTRIES: usize = 100_000;

/// A message from cairn to the frontend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMessage {
    Request(Request),
    Reply(Reply),
}

/// What to build: the first message cairn sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The protocol version cairn speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The frontend's options: `filename` (the file the user named with `-f`, relative to
    /// the context; the frontend's own default when absent) and every `--frontend-opt K=V`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `--build-arg` values.
    #[serde(default)]
    pub build_args: BTreeMap<String, String>,
    /// `--target`, when given.
    #[serde(default)]
    pub target: Option<String>,
    /// The platform to build for.
    pub platform: Platform,
}

/// cairn's answer to one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The `id` of the call.
    pub id: u64,
    /// The call's result (its shape is the method's), when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CallError>,
}

/// Why a call failed. The frontend may go on (a file that is not there is an answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No such file (or it is excluded by `.dockerignore`).
    NotFound,
    /// The path leads outside the context (`..`, an absolute symlink out).
    OutsideContext,
    /// More than the protocol's limits allow.
    TooLarge,
    /// The call itself is wrong: unknown method, bad parameters.
    Invalid,
    /// It could not be done (an image that cannot be pulled, an I/O error).
    Failed,
}

/// A message from the frontend to cairn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FrontendMessage {
    /// Ask cairn something; answered by a [`Reply`] with the same `id`. Methods and their
    /// params: `stat` ([`PathParams`] → [`FileInfo`]), `read_file` ([`ReadFileParams`] →
    /// [`FileData`]), `read_dir` ([`PathParams`] → [`DirEntries`]), `resolve_image`
    /// ([`ResolveImageParams`] → [`ResolvedImage`]), `solve` ([`SolveParams`] →
    /// [`SolveReply`]), and on a solved result `stat_result` ([`ResultPathParams`] →
    /// [`FileInfo`]), `read_result_file` ([`ResultReadParams`] → [`FileData`]),
    /// `read_result_dir` ([`ResultPathParams`] → [`DirEntries`]).
    Call {
        id: u64,
        method: String,
        #[serde(default)]
        params: serde_json::Value,
    },
    /// Shown to the user; the build goes on.
    Warning {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
    /// What the frontend is doing, for the progress display.
    Progress { message: String },
    /// The build graph: a graph document (`docs/ir.md`), the image config inside it.
    Result {
        graph: serde_json::Value,
        /// The epoch of a reproducible build the input set, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_date_epoch: Option<i64>,
    },
    /// The input is wrong: shown like cairn's own errors, at `file:line` when given.
    Error {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
}

/// `stat` and `read_dir`: a path relative to the context root (`/` and `.` are the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathParams {
    pub path: String,
}

/// `read_file`: up to `length` (at most [`MAX_READ`]) bytes from `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFileParams {
    pub path: String,
    #[serde(default)]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What `stat` tells (symlinks inside the context are followed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits (`0o644` = 420).
    pub mode: u32,
}

/// `read_file`'s answer: the bytes, base64 (RFC 4648, with padding), and whether the file
/// ends there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileData {
    pub data: String,
    pub eof: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub name: String,
    pub kind: FileKind,
    pub size: u64,
    pub mode: u32,
}

/// `read_dir`'s answer, sorted by name, `.dockerignore`d entries left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntries {
    pub entries: Vec<DirEntry>,
}

/// `resolve_image`: a reference as `docker` takes it (`busybox`, `ghcr.io/o/r:1`,
/// `name@sha256:…`), for `platform` (the request's when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveImageParams {
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// `resolve_image`'s answer: the normalized reference pinned to its manifest digest (put it in
/// the image source op) and the image's config (ENV, WORKDIR, … a frontend builds on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedImage {
    pub pinned: String,
    pub config: ImageConfig,
}

/// `solve`: build a graph document now (with the build's cache, context and flags); its steps
/// show in the build's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolveParams {
    pub graph: serde_json::Value,
}

/// `solve`'s answer: the name to read the result by (`r1`, `r2`, …; at most 64 per build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolveReply {
    pub result: String,
}

/// `stat_result`, `read_result_dir`: a path in a solved result's file system (absolute
/// symlinks in it mean its own root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultPathParams {
    pub result: String,
    pub path: String,
}

/// `read_result_file`: like [`ReadFileParams`], in a solved result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultReadParams {
    pub result: String,
    pub path: String,
    #[serde(default)]
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_documented_shape() {
        let call: FrontendMessage = serde_json::from_str(
            r#"{"type": "call", "id": 7, "method": "read_file", "params": {"path": "a"}}"#,
        )
        .unwrap();
        assert_eq!(
            call,
            FrontendMessage::Call {
                id: 7,
                method: "read_file".into(),
                params: serde_json::json!({"path": "a"}),
            }
        );
        let reply = HostMessage::Reply(Reply {
            id: 7,
            result: None,
            error: Some(CallError {
                code: ErrorCode::NotFound,
                message: "no a".into(),
            }),
        });
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"type":"reply","id":7,"error":{"code":"not_found","message":"no a"}}"#
        );
        let err: FrontendMessage =
            serde_json::from_str(r#"{"type": "error", "message": "bad", "line": 3}"#).unwrap();
        assert!(matches!(err, FrontendMessage::Error { line: Some(3), .. }));
        assert!(serde_json::from_str::<FrontendMessage>(r#"{"type": "launch"}"#).is_err());
    }
}
