//! Arrow export through the Arrow PyCapsule interface
//! (`__arrow_c_stream__` / `__arrow_c_schema__`), so pyarrow, polars and
//! DuckDB take the columns built here without copying them.

use arrow_array::ffi::FFI_ArrowSchema;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, RecordBatchIterator, StringArray, UInt16Array,
    UInt64Array, UInt8Array,
};
use arrow_schema::{ArrowError, Field, Schema};
use pcaplens_core::FlowSummary;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::CString;
use std::sync::Arc;

/// The flows of a report as one record batch, columns in `FlowSummary` field
/// order with the JSON names (numbers keep their Rust widths; absent → null).
pub fn flows_batch(flows: &[FlowSummary]) -> Result<RecordBatch, ArrowError> {
    let mut fields: Vec<Field> = Vec::with_capacity(FlowSummary::CSV_COLUMNS.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(FlowSummary::CSV_COLUMNS.len());
    let mut push = |name: &str, nullable: bool, array: ArrayRef| {
        fields.push(Field::new(name, array.data_type().clone(), nullable));
        columns.push(array);
    };
    macro_rules! col {
        ($name:literal, u64, $get:expr) => {
            push(
                $name,
                false,
                Arc::new(UInt64Array::from_iter_values(flows.iter().map($get))),
            )
        };
        ($name:literal, u16, $get:expr) => {
            push(
                $name,
                false,
                Arc::new(UInt16Array::from_iter_values(flows.iter().map($get))),
            )
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
            push(
                $name,
                true,
                Arc::new(flows.iter().map($get).collect::<UInt8Array>()),
            )
        };
        ($name:literal, opt_u16, $get:expr) => {
            push(
                $name,
                true,
                Arc::new(flows.iter().map($get).collect::<UInt16Array>()),
            )
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
    col!("first_ts", f64, |f| f.first_ts);
    col!("last_ts", f64, |f| f.last_ts);
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
    batch: RecordBatch,
}

impl ArrowTable {
    pub fn new(batch: RecordBatch) -> Self {
        ArrowTable { batch }
    }
}

fn capsule_name(name: &str) -> CString {
    CString::new(name).expect("capsule names have no NUL")
}

#[pymethods]
impl ArrowTable {
    /// Export the schema as an `arrow_schema` PyCapsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.batch.schema().as_ref())
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
        let schema = self.batch.schema();
        // Cloning a batch clones Arc pointers, not the column buffers.
        let reader = RecordBatchIterator::new(vec![Ok(self.batch.clone())], schema);
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new(py, stream, Some(capsule_name("arrow_array_stream")))
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    fn __repr__(&self) -> String {
        format!(
            "<pcaplens ArrowTable: {} rows × {} columns>",
            self.batch.num_rows(),
            self.batch.num_columns()
        )
    }
}
