//! Native code for a campaign's segment (CAMPAIGN.md §8): an [`ExprCode`] compiled with
//! Cranelift into a loop over a [`CustomerTable`]'s columns that writes one verdict per row.
//!
//! The interpreter (`callscript_runtime::vm::eval`) is the reference. The compiled code gives
//! `Keep` or `Drop` only where the interpreter gives `true` or `false`; wherever the interpreter
//! could fail (an overflow, a division by zero, a date off the calendar) or reads a value the
//! row does not give, the row's verdict is `Interpret`, and the caller asks the interpreter, so
//! the result and the error message are exactly its own. Code the JIT does not handle (text
//! concatenation, ordering texts, malformed code) is refused when compiling, and the caller
//! interprets every row.
//!
//! A session starts by computing its lets and the defaults of inputs a row leaves empty, and
//! that can fail too: the compiled code computes them the same way before the segment.

mod codegen;

use std::ops::Range;

use callscript_compiler::bytecode::{ExprCode, ScriptCode};
use callscript_runtime::campaign::table::CustomerTable;
use callscript_runtime::vm::eval::Builtins;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};

/// Why a segment is not compiled; the caller interprets it instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JitError {
    #[error("the JIT does not compile {0}")]
    Unsupported(String),
    #[error("this platform has no native code generator: {0}")]
    NoTarget(String),
    #[error("native code generation failed: {0}")]
    Codegen(String),
}

/// What the compiled code says of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The segment is false.
    Drop,
    /// The segment is true.
    Keep,
    /// The interpreter must decide: the row fails somewhere, or reads a value it does not give.
    Interpret,
}

impl Verdict {
    /// The byte the compiled code writes.
    fn from_byte(byte: u8) -> Verdict {
        match byte {
            VERDICT_DROP => Verdict::Drop,
            VERDICT_KEEP => Verdict::Keep,
            _ => Verdict::Interpret,
        }
    }
}

const VERDICT_DROP: u8 = 0;
const VERDICT_KEEP: u8 = 1;
const VERDICT_INTERPRET: u8 = 2;

/// `(columns, validity bitmaps, first row, row count, verdicts)`; a column without missing
/// values has a null bitmap.
type SegmentFn = unsafe extern "C" fn(*const *const u8, *const *const u8, u64, u64, *mut u8);

/// A segment compiled for one table (its text ids and column layout are built in).
pub struct CompiledSegment<'t> {
    table: &'t CustomerTable,
    columns: Vec<*const u8>,
    validity: Vec<*const u8>,
    entry: SegmentFn,
    /// Owns the code `entry` points into; freed on drop.
    module: Option<JITModule>,
}

impl Drop for CompiledSegment<'_> {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: `entry` points into this module's memory and dies with `self`.
            unsafe { module.free_memory() };
        }
    }
}

impl<'t> CompiledSegment<'t> {
    /// Compiles `condition` (a segment over `script`'s values) for the rows of `table`, with
    /// the builtins a session reads (`today`, `attempt`, …) fixed.
    pub fn compile(
        condition: &ExprCode,
        script: &ScriptCode,
        table: &'t CustomerTable,
        builtins: Builtins,
    ) -> Result<CompiledSegment<'t>, JitError> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags.set(name, value).map_err(|e| JitError::Codegen(format!("setting {name}: {e}")))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        let isa = cranelift_native::builder()
            .map_err(|e| JitError::NoTarget(e.to_string()))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| JitError::NoTarget(e.to_string()))?;
        let mut module = JITModule::new(JITBuilder::with_isa(isa, cranelift_module::default_libcall_names()));
        let entry = match codegen::define(&mut module, condition, script, table, builtins) {
            Ok(code) => code,
            Err(e) => {
                // SAFETY: nothing points into the module yet.
                unsafe { module.free_memory() };
                return Err(e);
            }
        };
        // SAFETY: `define` built the function with exactly `SegmentFn`'s signature.
        let entry = unsafe { std::mem::transmute::<*const u8, SegmentFn>(entry) };
        let columns = table.columns().iter().map(|c| c.data.as_ptr()).collect();
        let validity =
            table.columns().iter().map(|c| c.validity.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())).collect();
        Ok(CompiledSegment { table, columns, validity, entry, module: Some(module) })
    }

    pub fn table(&self) -> &'t CustomerTable {
        self.table
    }

    /// Writes the verdict bytes of the rows from `start` into `out` (as many as fit and
    /// exist); returns how many rows it did.
    pub fn select_into(&self, start: usize, out: &mut [u8]) -> usize {
        let count = out.len().min(self.table.rows().saturating_sub(start));
        if count > 0 {
            // SAFETY: the columns and bitmaps are the table's, borrowed for `'t`, and hold
            // every row in `start..start + count`; `out` holds `count` bytes.
            unsafe {
                (self.entry)(
                    self.columns.as_ptr(),
                    self.validity.as_ptr(),
                    start as u64,
                    count as u64,
                    out.as_mut_ptr(),
                )
            };
        }
        count
    }

    /// The verdicts of `rows`.
    pub fn select(&self, rows: Range<usize>) -> Vec<Verdict> {
        let mut bytes = vec![VERDICT_INTERPRET; rows.len()];
        let done = self.select_into(rows.start, &mut bytes);
        bytes.truncate(done);
        bytes.into_iter().map(Verdict::from_byte).collect()
    }
}

/// Each row's verdict from `condition`, compiled for `table`; an error when the JIT does not
/// compile it, and the caller then interprets every row.
pub fn select_all(
    condition: &ExprCode,
    script: &ScriptCode,
    table: &CustomerTable,
    builtins: Builtins,
) -> Result<Vec<Verdict>, JitError> {
    let segment = CompiledSegment::compile(condition, script, table, builtins)?;
    Ok(segment.select(0..table.rows()))
}
