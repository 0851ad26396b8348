//! Arrow export through the Arrow PyCapsule interface
//! (`__arrow_c_stream__` / `__arrow_c_schema__`), so pyarrow, polars and
//! DuckDB take the columns built here without copying them.

use arrow_array::ffi::FFI_ArrowSchema;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{
    ArrayRef, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch, RecordBatchIterator,
    StringArray, TimestampMicrosecondArray, UInt16Array, UInt64Array, UInt8Array,
};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use pcaplens_core::FlowSummary;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::CString;
use std::sync::Arc;

/// A counter as a signed 64-bit value (the portable layout): no real count
/// reaches 2^63, but a value that did is an error, never a wrapped number.
fn signed(v: u64) -> Result<i64, ArrowError> {
    i64::try_from(v)
        .map_err(|_| ArrowError::ComputeError(format!("{v} does not fit a signed 64-bit column")))
}

/// Seconds since the epoch (whole microseconds, as the JSON writes them) as
/// microseconds: rounding undoes the float's last-bit error.
fn micros(secs: f64) -> i64 {
    (secs * 1e6).round() as i64
}

/// The flows of a report as one record batch, columns in `FlowSummary` field
/// order with the JSON names (absent → null). Numbers keep their Rust widths
/// and times are the JSON's float seconds, or with `portable` numbers become
/// the next wider signed type (u64 → int64, u16 → int32, u8 → int16) and
/// times `timestamp[us, UTC]`: Spark's `mapInArrow` and Ray both refuse
/// unsigned columns, both read such timestamps as their own time type, and
/// the values stay exact (the JSON's times are whole microseconds).
pub fn flows_batch(flows: &[FlowSummary], portable: bool) -> Result<RecordBatch, ArrowError> {
    let mut fields: Vec<Field> = Vec::with_capacity(FlowSummary::CSV_COLUMNS.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(FlowSummary::CSV_COLUMNS.len());
    let mut push = |name: &str, nullable: bool, array: ArrayRef| {
        fields.push(Field::new(name, array.data_type().clone(), nullable));
        columns.push(array);
    };
    macro_rules! col {
        ($name:literal, u64, $get:expr) => {
            if portable {
                let values = flows
                    .iter()
                    .map($get)
                    .map(signed)
                    .collect::<Result<Vec<i64>, _>>()?;
                push($name, false, Arc::new(Int64Array::from(values)))
            } else {
                push(
                    $name,
                    false,
                    Arc::new(UInt64Array::from_iter_values(flows.iter().map($get))),
                )
            }
        };
        ($name:literal, u16, $get:expr) => {
            if portable {
                push(
                    $name,
                    false,
                    Arc::new(Int32Array::from_iter_values(
                        flows.iter().map($get).map(i32::from),
                    )),
                )
            } else {
                push(
                    $name,
                    false,
                    Arc::new(UInt16Array::from_iter_values(flows.iter().map($get))),
                )
            }
        };
        ($name:literal, time, $get:expr) => {
            if portable {
                let micros = flows.iter().map($get).map(micros);
                push(
                    $name,
                    false,
                    Arc::new(
                        TimestampMicrosecondArray::from_iter_values(micros).with_timezone("UTC"),
                    ),
                )
            } else {
                push(
                    $name,
                    false,
                    Arc::new(Float64Array::from_iter_values(flows.iter().map($get))),
                )
            }
        };
        ($name:literal, f64, $get:expr) => {
            push(
                $name,
                false,
                Arc::new(Float64Array::from_iter_values(flows.iter().map($get))),
            )
        };
        ($name:literal, str, $get:expr) => {
            push(
                $name,
                false,
                Arc::new(StringArray::from_iter_values(flows.iter().map($get))),
            )
        };
        ($name:literal, opt_str, $get:expr) => {
            push(
                $name,
                true,
                Arc::new(flows.iter().map($get).collect::<StringArray>()),
            )
        };
        ($name:literal, opt_u8, $get:expr) => {
            if portable {
                push(
                    $name,
                    true,
                    Arc::new(
                        flows
                            .iter()
                            .map($get)
                            .map(|v| v.map(i16::from))
                            .collect::<Int16Array>(),
                    ),
                )
            } else {
                push(
                    $name,
                    true,
                    Arc::new(flows.iter().map($get).collect::<UInt8Array>()),
                )
            }
        };
        ($name:literal, opt_u16, $get:expr) => {
            if portable {
                push(
                    $name,
                    true,
                    Arc::new(
                        flows
                            .iter()
                            .map($get)
                            .map(|v| v.map(i32::from))
                            .collect::<Int32Array>(),
                    ),
                )
            } else {
                push(
                    $name,
                    true,
                    Arc::new(flows.iter().map($get).collect::<UInt16Array>()),
                )
            }
        };
    }
    col!("id", u64, |f| f.id);
    col!("community_id", str, |f| f.community_id.as_str());
    col!("transport", str, |f| f.transport.as_str());
    col!("orig_addr", str, |f| f.orig_addr.as_str());
    col!("orig_port", u16, |f| f.orig_port);
    col!("resp_addr", str, |f| f.resp_addr.as_str());
    col!("resp_port", u16, |f| f.resp_port);
    col!("service", opt_str, |f| f.service.as_deref());
    col!("first_ts", time, |f| f.first_ts);
    col!("last_ts", time, |f| f.last_ts);
    col!("duration_secs", f64, |f| f.duration_secs);
    col!("first_frame", u64, |f| f.first_frame);
    col!("last_frame", u64, |f| f.last_frame);
    col!("orig_packets", u64, |f| f.orig_packets);
    col!("orig_bytes", u64, |f| f.orig_bytes);
    col!("orig_ip_bytes", u64, |f| f.orig_ip_bytes);
    col!("orig_payload_bytes", u64, |f| f.orig_payload_bytes);
    col!("resp_packets", u64, |f| f.resp_packets);
    col!("resp_bytes", u64, |f| f.resp_bytes);
    col!("resp_ip_bytes", u64, |f| f.resp_ip_bytes);
    col!("resp_payload_bytes", u64, |f| f.resp_payload_bytes);
    col!("orig_tcp_flags", opt_str, |f| f.orig_tcp_flags.as_deref());
    col!("resp_tcp_flags", opt_str, |f| f.resp_tcp_flags.as_deref());
    col!("conn_state", str, |f| f.conn_state.as_str());
    col!("history", str, |f| f.history.as_str());
    col!("icmp_type", opt_u8, |f| f.icmp_type);
    col!("icmp_code", opt_u8, |f| f.icmp_code);
    col!("vlan", opt_u16, |f| f.vlan);
    col!("end_reason", str, |f| f.end_reason.as_str());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// An immutable Arrow table exported with the Arrow PyCapsule interface:
/// `pyarrow.table(t)`, `polars.DataFrame(t)` or DuckDB read it without copies.
#[pyclass(module = "pcaplens._native", name = "ArrowTable", frozen)]
pub struct ArrowTable {
    schema: SchemaRef,
    /// Slices of one batch (zero-copy), so a consumer can take the rows in
    /// bounded pieces.
    batches: Vec<RecordBatch>,
}

impl ArrowTable {
    /// `batch` exported as slices of at most `batch_rows` rows (all in one
    /// when None).
    pub fn new(batch: RecordBatch, batch_rows: Option<usize>) -> Self {
        let schema = batch.schema();
        let n = batch.num_rows();
        let step = batch_rows.unwrap_or(n).max(1);
        let batches = if n <= step {
            vec![batch]
        } else {
            (0..n)
                .step_by(step)
                .map(|off| batch.slice(off, step.min(n - off)))
                .collect()
        };
        ArrowTable { schema, batches }
    }

    fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

fn capsule_name(name: &str) -> CString {
    CString::new(name).expect("capsule names have no NUL")
}

#[pymethods]
impl ArrowTable {
    /// Export the schema as an `arrow_schema` PyCapsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyCapsule::new(py, schema, Some(capsule_name("arrow_schema")))
    }

    /// Export the data as an `arrow_array_stream` PyCapsule. A requested schema
    /// is ignored (allowed by the protocol): the columns have one fixed layout.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<PyObject>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        // Cloning a batch clones Arc pointers, not the column buffers.
        let reader = RecordBatchIterator::new(
            self.batches.iter().cloned().map(Ok).collect::<Vec<_>>(),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new(py, stream, Some(capsule_name("arrow_array_stream")))
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.rows()
    }

    /// Record batches the stream yields.
    #[getter]
    fn num_batches(&self) -> usize {
        self.batches.len()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.rows()
    }

    fn __repr__(&self) -> String {
        format!(
            "<pcaplens ArrowTable: {} rows × {} columns>",
            self.rows(),
            self.schema.fields().len()
        )
    }
}
