"""Type stubs of the private extension module ``pcaplens._native`` (see ``src/*.rs``)."""

from typing import Any, final

from typing_extensions import CapsuleType

__all__ = [
    "Analyzer",
    "ArrowTable",
    "CaptureFormatError",
    "CorruptCaptureError",
    "NativeReport",
    "OPTION_NAMES",
    "OptionsError",
    "PartialError",
    "PartialOrderError",
    "PcaplensError",
    "SCHEMA_VERSION",
    "TruncatedCaptureError",
    "__version__",
    "analyze_path",
    "analyze_many",
    "analyze_merged",
    "merge_partials",
    "merge_partials_bytes",
    "partial_bytes",
    "partial_path",
    "capture_error_from_parts",
    "LeakAudit",
    "SANITIZE_OPTION_NAMES",
    "Sanitizer",
    "sanitize_path",
    "generate",
    "scenarios",
]
# Flow classification (issue 20), kept apart from the list above.
__all__ += ["CLASSIFY_OPTION_NAMES", "classify_inputs"]
__version__: str
SCHEMA_VERSION: int
OPTION_NAMES: list[str]

class PcaplensError(Exception):
    """Base class of every error raised by pcaplens."""

class _CaptureError(PcaplensError):
    # Typing-only base: the attributes every capture error carries.
    code: str
    offset: int
    frame: int
    report: Any

class CaptureFormatError(_CaptureError):
    """The input is not a pcap or pcapng capture."""

class TruncatedCaptureError(_CaptureError):
    """The capture was cut short in the middle of a header or record."""

class CorruptCaptureError(_CaptureError):
    """The capture is malformed, claims an oversized record, or uses an unsupported structure."""

class OptionsError(PcaplensError):
    """An analysis option is unknown or has an invalid value."""

class PartialError(PcaplensError):
    """A partial result (pcaplens.partial) cannot be read: not one, damaged, or another format version."""

class PartialOrderError(PartialError):
    """Partial results were merged out of capture order (byte ranges that do not meet, or time stepping back)."""

@final
class ArrowTable:
    """An immutable Arrow table exported with the Arrow PyCapsule interface."""

    def __arrow_c_schema__(self) -> CapsuleType: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> CapsuleType: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def num_batches(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...
    def __len__(self) -> int: ...

@final
class NativeReport:
    """The core report held in Rust."""

    def to_json(self) -> str: ...
    @property
    def partial(self) -> bool: ...
    @property
    def complete(self) -> bool: ...
    @property
    def packets(self) -> int: ...
    def exception(self) -> _CaptureError | None: ...
    def diagnosis_json(self) -> str: ...
    def flows_table(self, portable: bool = False, batch_rows: int | None = None) -> ArrowTable: ...

@final
class Analyzer:
    """Incremental analyzer: feed() byte chunks of any size, then finish()."""

    def __new__(cls, options: dict[str, Any] | None = None) -> Analyzer: ...
    def feed(self, data: bytes | bytearray) -> None: ...
    @property
    def error(self) -> _CaptureError | None: ...
    @property
    def bytes_fed(self) -> int: ...
    @property
    def packets(self) -> int: ...
    def finish(self) -> NativeReport: ...

def analyze_path(path: str | bytes, options: dict[str, Any] | None = None) -> NativeReport: ...
def analyze_many(
    paths: list[str], jobs: int, options: dict[str, Any] | None = None
) -> list[NativeReport]: ...
def partial_path(path: str | bytes, options: dict[str, Any] | None = None) -> bytes: ...
def partial_bytes(data: bytes, options: dict[str, Any] | None = None) -> bytes: ...
def merge_partials(partials: list[bytes]) -> NativeReport: ...
def merge_partials_bytes(partials: list[bytes]) -> bytes: ...
def analyze_merged(
    paths: list[str], jobs: int, options: dict[str, Any] | None = None
) -> NativeReport: ...
def generate(
    scenario: str, packets: int = 2000, seed: int = 1, flows: int | None = None
) -> tuple[bytes, str]: ...
def scenarios() -> list[str]: ...
def capture_error_from_parts(code: str, message: str, offset: int, frame: int) -> _CaptureError: ...

SANITIZE_OPTION_NAMES: list[str]

@final
class LeakAudit:
    """Re-parses a sanitised capture and searches it for the originals."""

    def feed(self, data: bytes | bytearray) -> None: ...
    def finish(self) -> str: ...

@final
class Sanitizer:
    """Streaming sanitiser: feed() returns the sanitised bytes for each chunk."""

    def __new__(cls, key: bytes, policy: dict[str, Any] | None = None) -> Sanitizer: ...
    def feed(self, data: bytes | bytearray) -> bytes: ...
    @property
    def failed(self) -> bool: ...
    def finish(self) -> str: ...
    def audit(self) -> LeakAudit: ...

def sanitize_path(
    src: str | bytes, dest: str | bytes, key: bytes, policy: dict[str, Any] | None = None
) -> str: ...

# --- flow classification (issue 20) ---

CLASSIFY_OPTION_NAMES: list[str]

def classify_inputs(
    sources: list[str | bytes],
    names: list[str],
    options: dict[str, Any] | None = None,
    model: str | None = None,
    rules: bool = False,
    key: bytes | None = None,
    drop_when_busy: bool = False,
) -> tuple[str, list[tuple[int, bool, _CaptureError]]]: ...
