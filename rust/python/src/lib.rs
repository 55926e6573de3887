//! `stagekit._core`: the PyO3 binding of stagekit-core.
//!
//! Every entry point goes through [`gate`], which releases the GIL for the Rust work, catches panics and
//! turns them into `stagekit.VerifierError`, so a bug in the core never aborts the interpreter.
//! Arrow inputs are read in place through the Arrow C data interface (no string is copied); Python
//! sequences are read once while the GIL is held, lone surrogates replaced by U+FFFD.

use arrow_array::builder::{BooleanBuilder, StringBuilder, UInt8Builder};
use arrow_array::{Array, LargeStringArray, StringArray, StringViewArray, UInt64Array};
use arrow_data::ArrayData;
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use arrow_schema::DataType;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyRuntimeWarning, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use rayon::ThreadPool;
use stagekit_core::{self as core, Options, Status, Verdict};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

create_exception!(_core, VerifierError, PyRuntimeError, "An internal error of the Rust verifier core.");

/// Stack size of the verifier's worker threads (deeply nested answers recurse).
const STACK_BYTES: usize = 16 << 20;

fn panic_message(e: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Run Rust work with the GIL released, mapping a panic to `VerifierError`. The work runs with the
/// stack every entry point of the core needs ([`core::guard::entry`]), so a Python thread with a small
/// stack (`threading.stack_size(64 * 1024)`) is safe.
fn gate<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(|| core::guard::entry(f))))
        .map_err(|e| VerifierError::new_err(format!("stagekit core panicked: {}", panic_message(e))))
}

/// The verifier's one thread pool, sized at the largest thread count asked for so far (at most
/// [`max_threads`]); a call asking for fewer threads runs on that many of its workers
/// ([`core::check_many_on`]). When a larger pool replaces it, the smaller one's threads exit as soon as
/// the calls running on it return, so the process never holds more than about `max_threads()` of them.
fn pool(threads: usize) -> PyResult<Arc<ThreadPool>> {
    static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);
    let mut slot = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = slot.as_ref().filter(|p| p.current_num_threads() >= threads) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(STACK_BYTES)
        .thread_name(|i| format!("stagekit-verify-{i}"))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start {threads} verifier threads: {e}")))?;
    let p = Arc::new(p);
    *slot = Some(p.clone());
    Ok(p)
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Most verifier threads a call may use: four per core (more only adds threads waiting for a core).
fn max_threads() -> usize {
    4 * default_threads()
}

/// The `threads=` argument: all cores by default; below 1 a `ValueError`; above [`max_threads`] that
/// many, with a `RuntimeWarning`.
fn resolve_threads(py: Python<'_>, threads: Option<i64>) -> PyResult<usize> {
    let Some(n) = threads else { return Ok(default_threads()) };
    if n < 1 {
        return Err(PyValueError::new_err(format!("threads must be at least 1, got {n}")));
    }
    let max = max_threads();
    if n as u64 > max as u64 {
        let msg = format!("threads={n} is more than {max} (4 per core on {} cores); using {max}", default_threads());
        let msg = CString::new(msg).unwrap_or_default();
        PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &msg, 1)?;
        return Ok(max);
    }
    Ok(n as usize)
}

fn opts(rel_tol: f64, require_marker: bool) -> PyResult<Options> {
    if !(rel_tol.is_finite() && (0.0..1.0).contains(&rel_tol)) {
        return Err(PyValueError::new_err(format!("rel_tol must be a finite number in [0, 1), got {rel_tol}")));
    }
    Ok(Options { rel_tol, require_marker })
}

fn lossy(s: &Bound<'_, PyString>) -> String {
    s.to_string_lossy().into_owned()
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Correct => 0,
        Status::Incorrect => 1,
        Status::NoAnswer => 2,
        Status::Unparseable => 3,
    }
}

/// The final answer a completion commits to, or None (with `require_marker`, only a marked answer).
#[pyfunction]
#[pyo3(signature = (text, require_marker = false))]
fn extract_answer(py: Python<'_>, text: &Bound<'_, PyString>, require_marker: bool) -> PyResult<Option<String>> {
    let t = lossy(text);
    gate(py, move || core::extract::extract_answer_with(&t, require_marker))
}

/// The part of a completion that may hold its answer: after the last `</think>`; None while a `<think>` is open.
#[pyfunction]
fn answer_region(py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Option<String>> {
    let t = lossy(text);
    gate(py, move || core::extract::answer_region(&t).map(str::to_string))
}

/// The answer of a gold reference (`#### 72`, a last `\boxed{}`, or the bare answer).
#[pyfunction]
fn extract_gold(py: Python<'_>, gold: &Bound<'_, PyString>) -> PyResult<String> {
    let g = lossy(gold);
    gate(py, move || core::extract_gold(&g))
}

/// Normalized form of an answer (LaTeX noise removed), as the verifier sees it.
#[pyfunction]
fn normalize(py: Python<'_>, answer: &Bound<'_, PyString>) -> PyResult<String> {
    let a = lossy(answer);
    gate(py, move || core::normalize::normalize(&a))
}

/// `(status, predicted, gold_answer)` for one pair.
#[pyfunction]
#[pyo3(signature = (completion, gold, rel_tol = 1e-8, require_marker = false))]
fn check(
    py: Python<'_>,
    completion: &Bound<'_, PyString>,
    gold: &Bound<'_, PyString>,
    rel_tol: f64,
    require_marker: bool,
) -> PyResult<(&'static str, Option<String>, String)> {
    let (c, g, o) = (lossy(completion), lossy(gold), opts(rel_tol, require_marker)?);
    let v = gate(py, move || core::check(&c, &g, &o))?;
    Ok((v.status.as_str(), v.predicted, v.gold))
}

/// Status of two already extracted answers.
#[pyfunction]
#[pyo3(signature = (predicted, gold, rel_tol = 1e-8))]
fn compare(
    py: Python<'_>,
    predicted: &Bound<'_, PyString>,
    gold: &Bound<'_, PyString>,
    rel_tol: f64,
) -> PyResult<&'static str> {
    let (p, g, o) = (lossy(predicted), lossy(gold), opts(rel_tol, false)?);
    Ok(gate(py, move || core::compare(&p, &g, &o))?.as_str())
}

/// One chunk of an Arrow string column.
enum Chunk {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
}

/// A column of strings: Arrow chunks read in place, or owned strings from a Python sequence.
enum Column {
    Arrow(Vec<Chunk>),
    Owned(Vec<Option<String>>),
}

impl Column {
    fn from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Column> {
        if obj.hasattr("__arrow_c_array__")? {
            return Ok(Column::Arrow(vec![chunk(obj, what)?]));
        }
        // A pyarrow ChunkedArray: read its chunks in place.
        if obj.hasattr("chunks")? && obj.hasattr("num_chunks")? {
            let mut chunks = Vec::new();
            for ch in obj.getattr("chunks")?.try_iter()? {
                chunks.push(chunk(&ch?, what)?);
            }
            return Ok(Column::Arrow(chunks));
        }
        if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "{what} must be a sequence of strings or an Arrow string array, not a single str"
            )));
        }
        let type_name = |o: &Bound<'_, PyAny>| o.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        let iter = obj.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a sequence of strings or an Arrow string array, got {}",
                type_name(obj)
            ))
        })?;
        let mut out = Vec::new();
        for (i, item) in iter.enumerate() {
            let item = item?;
            if item.is_none() {
                out.push(None);
            } else if let Ok(s) = item.cast::<PyString>() {
                out.push(Some(lossy(s)));
            } else {
                return Err(PyTypeError::new_err(format!("{what}[{i}] must be a str or None, got {}", type_name(&item))));
            }
        }
        Ok(Column::Owned(out))
    }

    /// Borrowed views of every row, in order.
    fn rows(&self) -> Vec<Option<&str>> {
        match self {
            Column::Owned(v) => v.iter().map(|s| s.as_deref()).collect(),
            Column::Arrow(chunks) => {
                let mut out = Vec::new();
                for c in chunks {
                    match c {
                        Chunk::Utf8(a) => out.extend(a.iter()),
                        Chunk::Large(a) => out.extend(a.iter()),
                        Chunk::View(a) => out.extend(a.iter()),
                    }
                }
                out
            }
        }
    }
}

fn chunk(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Chunk> {
    let data = ArrayData::from_pyarrow_bound(obj)?;
    Ok(match data.data_type() {
        DataType::Utf8 => Chunk::Utf8(StringArray::from(data)),
        DataType::LargeUtf8 => Chunk::Large(LargeStringArray::from(data)),
        DataType::Utf8View => Chunk::View(StringViewArray::from(data)),
        other => {
            return Err(PyTypeError::new_err(format!(
                "{what} must be an Arrow string array (string, large_string or string_view), got {other}"
            )))
        }
    })
}

/// Rows verified per step of a batch: verdicts are turned into Arrow columns step by step, so the
/// intermediate `Verdict`s (with their owned strings) never exist for the whole batch at once.
const CHUNK: usize = 1 << 14;

fn run_batch(
    py: Python<'_>,
    completions: &Bound<'_, PyAny>,
    golds: &Bound<'_, PyAny>,
    threads: Option<i64>,
    o: Options,
    sink: &mut (dyn FnMut(&[Verdict]) + Send),
) -> PyResult<()> {
    let threads = resolve_threads(py, threads)?;
    let c = Column::from_py(completions, "completions")?;
    let g = Column::from_py(golds, "golds")?;
    let pool = if threads > 1 { Some(pool(threads)?) } else { None };
    gate(py, move || {
        let (cr, gr) = (c.rows(), g.rows());
        if cr.len() != gr.len() {
            return Err(format!("completions has {} rows but golds has {}", cr.len(), gr.len()));
        }
        for (cc, gc) in cr.chunks(CHUNK).zip(gr.chunks(CHUNK)) {
            // Each distinct gold of a chunk is prepared once for all its rows.
            let verdicts: Vec<Verdict> = match &pool {
                Some(p) => p.install(|| core::check_many_on(cc, gc, &o, threads)),
                None => core::check_many_on(cc, gc, &o, 1),
            };
            sink(&verdicts);
        }
        Ok(())
    })?
    .map_err(PyValueError::new_err)
}

/// Correctness of many pairs as a pyarrow BooleanArray.
#[pyfunction]
#[pyo3(signature = (completions, golds, threads = None, rel_tol = 1e-8, require_marker = false))]
fn verify_batch<'py>(
    py: Python<'py>,
    completions: &Bound<'py, PyAny>,
    golds: &Bound<'py, PyAny>,
    threads: Option<i64>,
    rel_tol: f64,
    require_marker: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut correct = BooleanBuilder::new();
    run_batch(py, completions, golds, threads, opts(rel_tol, require_marker)?, &mut |vs| {
        vs.iter().for_each(|v| correct.append_value(v.correct()))
    })?;
    correct.finish().into_data().to_pyarrow(py)
}

/// `(correct, status_code, predicted, gold)` arrays for many pairs; status codes index `STATUSES`;
/// `gold` is None unless `with_gold`.
#[pyfunction]
#[pyo3(signature = (completions, golds, threads = None, rel_tol = 1e-8, with_gold = true, require_marker = false))]
fn check_batch<'py>(
    py: Python<'py>,
    completions: &Bound<'py, PyAny>,
    golds: &Bound<'py, PyAny>,
    threads: Option<i64>,
    rel_tol: f64,
    with_gold: bool,
    require_marker: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut correct = BooleanBuilder::new();
    let mut codes = UInt8Builder::new();
    let mut predicted = StringBuilder::new();
    let mut gold = StringBuilder::new();
    run_batch(py, completions, golds, threads, opts(rel_tol, require_marker)?, &mut |vs| {
        for v in vs {
            correct.append_value(v.correct());
            codes.append_value(status_code(v.status));
            predicted.append_option(v.predicted.as_deref());
            if with_gold {
                gold.append_value(&v.gold);
            }
        }
    })?;
    let gold = if with_gold { gold.finish().into_data().to_pyarrow(py)? } else { py.None().into_bound(py) };
    PyTuple::new(
        py,
        [
            correct.finish().into_data().to_pyarrow(py)?,
            codes.finish().into_data().to_pyarrow(py)?,
            predicted.finish().into_data().to_pyarrow(py)?,
            gold,
        ],
    )
}

type ClaimTuple = (usize, usize, String, String, String, bool);

/// Every arithmetic claim `a op b = c` of a text: `(start, end, lhs, stated, actual, ok)`, with
/// character (not byte) offsets.
#[pyfunction]
fn arithmetic_claims(py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Vec<ClaimTuple>> {
    let t = lossy(text);
    gate(py, move || {
        core::steps::arithmetic_claims(&t)
            .into_iter()
            .map(|c| (char_offset(&t, c.start), char_offset(&t, c.end), c.lhs, c.stated, c.actual, c.ok))
            .collect()
    })
}

fn char_offset(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

/// The first false claim of each text: arrays `(start, end, lhs, stated, actual)`, null where a text has
/// no false claim (offsets in characters).
#[pyfunction]
#[pyo3(signature = (texts, threads = None))]
fn first_false_claims<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    threads: Option<i64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let threads = resolve_threads(py, threads)?;
    let col = Column::from_py(texts, "texts")?;
    let pool = if threads > 1 { Some(pool(threads)?) } else { None };
    let found: Vec<Option<(usize, usize, String, String, String)>> = gate(py, move || {
        let rows = col.rows();
        let first = |i: usize| {
            let t = rows[i]?;
            core::steps::first_false_claim(t)
                .map(|c| (char_offset(t, c.start), char_offset(t, c.end), c.lhs, c.stated, c.actual))
        };
        match &pool {
            Some(p) => p.install(|| core::map_on_workers(rows.len(), threads, first)),
            None => core::map_on_workers(rows.len(), 1, first),
        }
    })?;
    let start: UInt64Array = found.iter().map(|f| f.as_ref().map(|c| c.0 as u64)).collect();
    let end: UInt64Array = found.iter().map(|f| f.as_ref().map(|c| c.1 as u64)).collect();
    let lhs: StringArray = found.iter().map(|f| f.as_ref().map(|c| c.2.as_str())).collect();
    let stated: StringArray = found.iter().map(|f| f.as_ref().map(|c| c.3.as_str())).collect();
    let actual: StringArray = found.iter().map(|f| f.as_ref().map(|c| c.4.as_str())).collect();
    PyTuple::new(
        py,
        [
            start.into_data().to_pyarrow(py)?,
            end.into_data().to_pyarrow(py)?,
            lhs.into_data().to_pyarrow(py)?,
            stated.into_data().to_pyarrow(py)?,
            actual.into_data().to_pyarrow(py)?,
        ],
    )
}

/// Raise a Rust panic inside the gate (for testing that panics become exceptions).
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    gate(py, || panic!("deliberate test panic"))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(extract_answer, m)?)?;
    m.add_function(wrap_pyfunction!(extract_gold, m)?)?;
    m.add_function(wrap_pyfunction!(answer_region, m)?)?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch, m)?)?;
    m.add_function(wrap_pyfunction!(check_batch, m)?)?;
    m.add_function(wrap_pyfunction!(arithmetic_claims, m)?)?;
    m.add_function(wrap_pyfunction!(first_false_claims, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add("VerifierError", m.py().get_type::<VerifierError>())?;
    m.add("STATUSES", Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>())?;
    m.add("MAX_THREADS", max_threads())?;
    m.add("MAX_DEPTH", core::guard::MAX_DEPTH)?;
    m.add("MAX_ANSWER_BYTES", core::extract::MAX_ANSWER_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
