//! The one error mapping of the bindings (as polars' `exceptions.rs`): every
//! core error becomes a member of a small exception hierarchy here, and
//! nowhere else.
//!
//! ```text
//! PcaplensError
//!  ├── CaptureFormatError     not a pcap/pcapng capture at all   (core code "not_a_capture")
//!  ├── TruncatedCaptureError  cut short inside a header/record   ("truncated")
//!  ├── CorruptCaptureError    malformed, oversized or unsupported ("malformed", "record_too_large", "unsupported")
//!  ├── OptionsError           bad analysis options
//!  └── PartialError           a partial value that cannot be read (damaged, another version)
//!       └── PartialOrderError  partials merged out of capture order
//! ```
//!
//! Capture exceptions carry `code`, `offset` (byte offset of the damage) and
//! `frame` (1-based number of the frame that could not be read) as attributes,
//! and say both in the message.

use pcaplens_core::{ConfigError, ErrorInfo};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::wrap_pyfunction;

create_exception!(
    pcaplens,
    PcaplensError,
    PyException,
    "Base class of every error raised by pcaplens."
);
create_exception!(
    pcaplens,
    CaptureFormatError,
    PcaplensError,
    "The input is not a pcap or pcapng capture."
);
create_exception!(
    pcaplens,
    TruncatedCaptureError,
    PcaplensError,
    "The capture was cut short in the middle of a header or record."
);
create_exception!(
    pcaplens,
    CorruptCaptureError,
    PcaplensError,
    "The capture is malformed, claims an oversized record, or uses an unsupported structure."
);
create_exception!(
    pcaplens,
    OptionsError,
    PcaplensError,
    "An analysis option is unknown or has an invalid value."
);

create_exception!(
    pcaplens,
    PartialError,
    PcaplensError,
    "A partial result (pcaplens.partial) cannot be read: not one, damaged, or another format version."
);
create_exception!(
    pcaplens,
    PartialOrderError,
    PartialError,
    "Partial results were merged out of capture order (byte ranges that do not meet, or time stepping back)."
);

pub fn register(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PcaplensError", py.get_type::<PcaplensError>())?;
    m.add("CaptureFormatError", py.get_type::<CaptureFormatError>())?;
    m.add(
        "TruncatedCaptureError",
        py.get_type::<TruncatedCaptureError>(),
    )?;
    m.add("CorruptCaptureError", py.get_type::<CorruptCaptureError>())?;
    m.add("OptionsError", py.get_type::<OptionsError>())?;
    m.add("PartialError", py.get_type::<PartialError>())?;
    m.add("PartialOrderError", py.get_type::<PartialOrderError>())?;
    m.add_function(wrap_pyfunction!(capture_error_from_parts, m)?)?;
    Ok(())
}

/// The exception for a capture error recorded in a report (or by a feed).
pub fn capture_error(py: Python<'_>, info: &ErrorInfo) -> PyErr {
    let analysed = match info.next_frame {
        0 | 1 => "no frame was analysed".to_string(),
        2 => "frame 1 was analysed".to_string(),
        n => format!("frames 1-{} were analysed", n - 1),
    };
    let msg = format!(
        "{} [code {}, byte offset {}, frame {}; {analysed}]",
        info.message, info.code, info.offset, info.next_frame
    );
    let err = match info.code.as_str() {
        "not_a_capture" => CaptureFormatError::new_err(msg),
        "truncated" => TruncatedCaptureError::new_err(msg),
        // "malformed", "record_too_large", "unsupported" and any code added later.
        _ => CorruptCaptureError::new_err(msg),
    };
    let value = err.value(py);
    // Attributes on a fresh exception instance cannot fail to be set.
    let _ = value.setattr("code", info.code.as_str());
    let _ = value.setattr("offset", info.offset);
    let _ = value.setattr("frame", info.next_frame);
    err
}

pub fn options_error(err: ConfigError) -> PyErr {
    OptionsError::new_err(err.to_string())
}

/// A partial that cannot be read or merged, naming the item (`what`).
pub fn partial_error(what: &str, err: &pcaplens_core::partial::PartialError) -> PyErr {
    use pcaplens_core::partial::PartialError as E;
    match err {
        E::OutOfOrder(_) => PartialOrderError::new_err(format!("{what}: {err}")),
        _ => PartialError::new_err(format!("{what}: {err}")),
    }
}

/// A failure of native-io's piece reading as the Python exception it maps
/// to: OSError (kind kept, so a missing file is FileNotFoundError) with the
/// file named, a file that cannot be cut as CaptureFormatError.
pub fn pieces_error(err: pcaplens_native_io::pieces::PiecesError) -> PyErr {
    use pcaplens_native_io::pieces::PiecesError as E;
    match err {
        E::Read(label, e) => PyErr::from(std::io::Error::new(e.kind(), format!("{label}: {e}"))),
        E::Cut(label, m) => CaptureFormatError::new_err(format!("{label}: {m}")),
        E::Config(e) => options_error(e),
        E::Merge(e) => partial_error("merging the pieces", &e),
    }
}

/// The exception (not raised) for a capture error given by its report fields,
/// for errors that reach Python as JSON (e.g. the sanitize summary).
#[pyfunction]
pub fn capture_error_from_parts(
    py: Python<'_>,
    code: String,
    message: String,
    offset: u64,
    frame: u64,
) -> PyObject {
    let info = ErrorInfo {
        code,
        message,
        offset,
        next_frame: frame,
    };
    capture_error(py, &info).into_value(py).into_any()
}
