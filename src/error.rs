//! The library's error type: every variant names the file, field or shape at fault,
//! so the CLI can print it on one line and exit non-zero.

use std::path::PathBuf;

/// Errors a user can cause (bad files, bad shapes, bad settings). Bugs panic; user input never does.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that exists but whose content is wrong (bad magic, truncated, wrong count...).
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// Two shapes that had to agree and did not.
    #[error("shape mismatch in {what}: expected {expected:?}, found {found:?}")]
    Shape {
        what: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor a checkpoint should hold is absent.
    #[error("{path}: checkpoint has no tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    /// A setting or argument out of its domain.
    #[error("invalid {field}: {msg}")]
    Invalid { field: String, msg: String },
    /// A run that produced NaN or exploding values; the last good checkpoint is kept.
    #[error("diverged: {0}")]
    Diverged(String),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// A format error on `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
    /// An invalid setting.
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            msg: msg.into(),
        }
    }
}
