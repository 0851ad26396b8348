//! Typed errors with stable codes. Every error says what went wrong and where
//! (absolute byte offset in the capture, and the frame number when one applies).

use serde::Serialize;

/// Why a capture could not be read (further). The reader stops at the first
/// such error; everything delivered before it stays valid, so the analysis of
/// the frames before the error is still returned (marked partial).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The first bytes match neither pcap nor pcapng.
    #[error("not a pcap or pcapng file (starts with {first_bytes})")]
    NotACapture { first_bytes: String },

    /// The input ended in the middle of a header or record.
    #[error(
        "capture cut short at byte {offset}: {what} needs {needed} bytes, only {available} present"
    )]
    Truncated {
        offset: u64,
        what: &'static str,
        needed: u64,
        available: u64,
    },

    /// A length field claims more than any real capture holds; refusing it
    /// keeps hostile files from making us buffer or allocate without bound.
    #[error("{what} at byte {offset} claims {claimed} bytes, more than the limit of {limit}")]
    RecordTooLarge {
        offset: u64,
        what: &'static str,
        claimed: u64,
        limit: u64,
    },

    /// A structure is inconsistent (bad lengths, bad magic inside a section, …).
    #[error("malformed {what} at byte {offset}: {detail}")]
    Malformed {
        offset: u64,
        what: &'static str,
        detail: String,
    },

    /// Well-formed but not something we (or the format) support.
    #[error("unsupported {what} at byte {offset}: {detail}")]
    Unsupported {
        offset: u64,
        what: &'static str,
        detail: String,
    },
}

impl CaptureError {
    /// A stable, machine-readable code (kept across versions; bindings map on it).
    pub fn code(&self) -> &'static str {
        match self {
            CaptureError::NotACapture { .. } => "not_a_capture",
            CaptureError::Truncated { .. } => "truncated",
            CaptureError::RecordTooLarge { .. } => "record_too_large",
            CaptureError::Malformed { .. } => "malformed",
            CaptureError::Unsupported { .. } => "unsupported",
        }
    }

    /// Byte offset in the capture where the problem starts.
    pub fn offset(&self) -> u64 {
        match self {
            CaptureError::NotACapture { .. } => 0,
            CaptureError::Truncated { offset, .. }
            | CaptureError::RecordTooLarge { offset, .. }
            | CaptureError::Malformed { offset, .. }
            | CaptureError::Unsupported { offset, .. } => *offset,
        }
    }

    /// True when nothing at all could be read as a capture.
    pub fn is_fatal_format(&self) -> bool {
        matches!(self, CaptureError::NotACapture { .. })
    }
}

/// The error as it appears inside a report (`Report::error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub offset: u64,
    /// The frame that would have come next (1-based), i.e. frames before it were analysed.
    pub next_frame: u64,
}

impl ErrorInfo {
    pub fn new(err: &CaptureError, next_frame: u64) -> Self {
        ErrorInfo {
            code: err.code().to_string(),
            message: err.to_string(),
            offset: err.offset(),
            next_frame,
        }
    }
}

/// Errors from analysis options supplied by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value out of its allowed range (`name` is the option's dotted key).
    #[error("invalid option {name}: {detail}")]
    Invalid { name: &'static str, detail: String },
    /// A key no option has; `key` is its full dotted path as written, and
    /// `expected` the keys that exist at that level.
    #[error("unknown option '{key}'; expected one of: {expected}")]
    Unknown { key: String, expected: String },
    /// A value of the wrong type for its key (as written).
    #[error("option {key} {detail}")]
    Value { key: String, detail: String },
    /// Options that are not a table of keys at all.
    #[error("{0}")]
    Other(String),
}

/// Render up to 8 leading bytes as hex for "starts with …" messages.
pub(crate) fn hex_prefix(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing: the input is empty".to_string();
    }
    let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let printable: String = bytes
        .iter()
        .take(8)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{} \"{}\"", shown.join(" "), printable)
}
