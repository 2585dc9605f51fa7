//! The wire protocol between [`ReexecExecutor`](crate::ReexecExecutor) and the helper.
//!
//! The helper's stdin is one end of a Unix **socketpair**, used in both directions:
//!
//! 1. The executor writes one JSON [`Request`] and shuts down its write half; the helper reads
//!    stdin to EOF.
//! 2. The helper moves the socket to a close-on-exec descriptor and puts `/dev/null` on fd 0
//!    (the command's stdin).
//! 3. Any helper process (the outer helper, the namespace's init or the pre-exec child) writes
//!    newline-delimited JSON [`Status`] messages to the socket. The exec'd command never sees
//!    the socket (close-on-exec).
//!
//! With [`Request::stdin`] (`cairn run -i`), the first bytes of the request carry one
//! descriptor (`SCM_RIGHTS`): the read end of a pipe that becomes the command's stdin in place
//! of `/dev/null` — or, with [`Request::tty`] (`cairn run -t`), the slave of a pseudo-terminal
//! the builder made (never the user's own terminal), which becomes the command's stdio and
//! controlling terminal. The command never gets the socket itself, so it cannot write a status.
//!
//! Stdout and stderr carry only the command's output. A socketpair on fd 0 rather than an
//! extra fd 3 means nothing has to be placed at a fixed descriptor number in the child (which
//! would need `unsafe` `pre_exec`), and the socket can never leak into a helper spawned
//! concurrently by another task (std dups it onto fd 0 in the child only).
//!
//! Outcome rules ([`outcome`]): a `setup_error` anywhere wins (the sandbox failed, not the
//! command); otherwise the last `exited` gives the exit code; no message at all means the
//! helper died (killed, crashed).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Job, JobOutcome, SandboxError};

/// Exit code of the helper when it fails before running the command. Informational only: the
/// executor decides from the [`Status`] messages, since a command may exit 125 too.
pub const SETUP_FAILED_EXIT: i32 = 125;

/// What the executor sends to the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub job: Job,
    /// An empty host directory the helper may use as its scratch mount point (the executor
    /// removes it afterwards, so nothing is left even if the helper is killed). `None`: the
    /// helper creates and removes its own.
    pub scratch: Option<PathBuf>,
    /// The builder's pid. The helper dies with the thread that spawned it
    /// (`PR_SET_PDEATHSIG`) and checks it is still this process's child once that is armed,
    /// so a builder killed before then cannot leave it running. 0: no check.
    #[serde(default)]
    pub parent_pid: u32,
    /// The command's stdin is the descriptor sent with the request (an exec job only).
    #[serde(default)]
    pub stdin: bool,
    /// That descriptor is a terminal: the command's stdin, stdout, stderr and controlling
    /// terminal (`cairn run -t`).
    #[serde(default)]
    pub tty: bool,
    /// Transparent huge pages stay off for the step (they were off for the builder when it
    /// started: [`crate::builder_without_huge_pages`]); otherwise the step gets the system's
    /// setting back.
    #[serde(default)]
    pub huge_pages_off: bool,
}

/// A message from the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The job ran; the command's exit code (`128 + signal` if it was killed).
    Exited { code: i32 },
    /// The sandbox could not run the job (or the file operation failed).
    SetupError { message: String },
}

impl Status {
    /// One line of the wire format.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing this enum of plain fields cannot fail; fall back to a fixed message
        // rather than panicking.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"status":"setup_error","message":"unencodable status"}"#.to_vec()
        });
        line.push(b'\n');
        line
    }
}

/// Decide the job's result from everything the helper wrote on the status socket.
pub fn outcome(status_bytes: &[u8], helper_exit: &str) -> Result<JobOutcome, SandboxError> {
    let mut exited = None;
    for line in status_bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let status: Status = serde_json::from_slice(line).map_err(|e| {
            SandboxError::Protocol(format!(
                "bad status line {:?}: {e}",
                String::from_utf8_lossy(line)
            ))
        })?;
        match status {
            Status::SetupError { message } => return Err(SandboxError::Setup(message)),
            Status::Exited { code } => exited = Some(code),
        }
    }
    match exited {
        Some(exit_code) => Ok(JobOutcome { exit_code }),
        None => Err(SandboxError::HelperDied(helper_exit.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_error_wins_over_exit() {
        let mut bytes = Status::SetupError {
            message: "no such user".into(),
        }
        .encode();
        bytes.extend(Status::Exited { code: 125 }.encode());
        match outcome(&bytes, "exit status: 125") {
            Err(SandboxError::Setup(m)) => assert_eq!(m, "no such user"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn exit_code_and_missing_status() {
        let bytes = Status::Exited { code: 3 }.encode();
        assert_eq!(outcome(&bytes, "").ok(), Some(JobOutcome { exit_code: 3 }));
        assert!(matches!(
            outcome(b"", "signal: 9"),
            Err(SandboxError::HelperDied(s)) if s == "signal: 9"
        ));
        assert!(matches!(
            outcome(b"garbage\n", ""),
            Err(SandboxError::Protocol(_))
        ));
    }
}
