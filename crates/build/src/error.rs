//! What a build can fail with. Three kinds a driver renders differently: the frontend's own
//! error (shown against the source it is about), a failed step (its Dockerfile lines and last
//! output), and everything else (a message with its chain of causes kept, so "No space left on
//! device" is never lost behind "cannot write the image").

use cairn_ir::Digest;
use std::error::Error as StdError;
use std::fmt;

/// A `Result` whose error is a [`BuildError`].
pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// A boxed error from elsewhere, kept as the cause.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug)]
pub enum BuildError {
    /// The frontend refused its input. The error is the frontend's own: the driver that chose
    /// the frontend knows how to render it (a Dockerfile error shows the line and a caret).
    Frontend(Cause),
    /// A step failed, or the cache key of one could not be computed.
    Step(Box<StepFailure>),
    /// Anything else: what was being done, and why it failed.
    Other {
        message: String,
        source: Option<Cause>,
    },
}

/// A step that failed, with what a driver needs to show it as BuildKit does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The vertex (its digest in the graph).
    pub digest: Digest,
    /// The step as progress shows it (`[build 2/3] RUN make`).
    pub vertex: String,
    pub message: String,
    /// The step's last lines of output.
    pub last_lines: Vec<String>,
    /// The source file and lines the step came from, when the frontend said.
    pub file: Option<String>,
    pub lines: Option<(usize, usize)>,
}

impl BuildError {
    /// An error that is only a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        BuildError::Other {
            message: message.to_string(),
            source: None,
        }
    }

    /// `message`, caused by `source`.
    pub fn with_source(message: impl fmt::Display, source: impl Into<Cause>) -> Self {
        BuildError::Other {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Frontend(e) => e.fmt(f),
            BuildError::Step(s) => write!(f, "{}: {}", s.vertex, s.message),
            BuildError::Other { message, .. } => f.write_str(message),
        }
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BuildError::Frontend(e) => e.source(),
            BuildError::Step(_) => None,
            BuildError::Other { source, .. } => source.as_deref().map(|e| e as &dyn StdError),
        }
    }
}

/// A bare I/O error (most carry context added where they happen).
impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        BuildError::with_source("I/O error", e)
    }
}

/// Errors of the crates below, as one message with every cause in it (and, for a full file
/// system, which one).
macro_rules! from_library {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for BuildError {
            fn from(e: $t) -> Self {
                BuildError::msg(cairn_solver::with_causes(&e))
            }
        }
    )*};
}
from_library!(
    cairn_store::Error,
    cairn_oci::Error,
    cairn_registry::Error,
    cairn_ir::GraphError,
);

/// Adds what was being done to an error, as `anyhow::Context` does, keeping the error as the
/// cause.
pub trait Context<T> {
    fn context(self, message: impl fmt::Display) -> Result<T>;
    fn with_context<M: fmt::Display>(self, f: impl FnOnce() -> M) -> Result<T>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, message: impl fmt::Display) -> Result<T> {
        self.map_err(|e| BuildError::with_source(message, e))
    }
    fn with_context<M: fmt::Display>(self, f: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| BuildError::with_source(f(), e))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, message: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| BuildError::msg(message))
    }
    fn with_context<M: fmt::Display>(self, f: impl FnOnce() -> M) -> Result<T> {
        self.ok_or_else(|| BuildError::msg(f()))
    }
}

/// `return Err(BuildError::msg(format!(...)))`.
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::error::BuildError::msg(format!($($t)*))) };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_cause_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let e = Err::<(), _>(io)
            .context("cannot write the layer")
            .context("cannot export the image")
            .err();
        let e = e.as_ref().map(|e| e as &dyn StdError);
        let mut chain = Vec::new();
        let mut cur = e;
        while let Some(c) = cur {
            chain.push(c.to_string());
            cur = c.source();
        }
        assert_eq!(
            chain,
            [
                "cannot export the image",
                "cannot write the layer",
                "No space left on device"
            ]
        );
    }
}
