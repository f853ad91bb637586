//! What a script may use: memory (always bounded) and operations (bounded
//! with `--max-ops`).
//!
//! rhai's own size limits (`set_max_array_size` and friends) are not used:
//! with any of them set, rhai recounts the whole value after every call that
//! changes it, so `a.push(x)` costs the length of `a` and a loop of pushes is
//! quadratic (100k pushes took 5 s, 300k 50 s). Instead every allocation of
//! the process is counted (one atomic add), the total is compared with the
//! budget between script operations, and the few calls that can allocate
//! any amount at once (`pad`, `blob`) are checked before they do.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rhai::{Blob, Dynamic, Engine, EvalAltResult, FuncRegistration, INT, ImmutableString};

use crate::doc::ApiError;

/// The default memory budget, in MiB (`--max-mem`).
pub const DEFAULT_MAX_MEM_MIB: usize = 1024;

/// The system allocator, counting the bytes the process holds.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static BUDGET: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MEM_MIB << 20);

// SAFETY: every call goes to the system allocator with the same arguments;
// the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                LIVE.fetch_add(new_size - layout.size(), Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

/// Bytes the process holds now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Sets the memory budget (`--max-mem`, in MiB).
pub fn set_budget_mib(mib: usize) {
    BUDGET.store(mib.saturating_mul(1 << 20), Relaxed);
    TRIP.store(mib.saturating_mul(1 << 20), Relaxed);
}

fn budget() -> usize {
    BUDGET.load(Relaxed)
}

/// Where the next over-budget error is raised: the budget, or (after one)
/// another budget's worth above what was held then, so that a REPL session
/// is not stuck failing every line while the value is still in a variable.
/// It comes back to the budget once the process holds less again.
static TRIP: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_MEM_MIB << 20);

/// The error that stops a script over its budget (between operations).
pub fn over_budget() -> Option<ApiError> {
    let (b, held, trip) = (budget(), live(), TRIP.load(Relaxed));
    if held <= trip {
        if held < b && trip > b {
            TRIP.store(b, Relaxed);
        }
        return None;
    }
    TRIP.store(held.saturating_add(b), Relaxed);
    Some(ApiError {
        message: format!(
            "the script holds more than {} MiB of data (its arrays, strings and maps together)",
            b >> 20
        ),
        help: Some(
            "a value grows here without end? A lab needs far less; if this one really needs more, raise --max-mem MIB".into(),
        ),
        at: None,
    })
}

/// A value of about `bytes` would not fit in the budget.
fn too_big(what: String, bytes: u128) -> Result<(), Box<EvalAltResult>> {
    let b = budget() as u128;
    if bytes <= b {
        return Ok(());
    }
    Err(crate::api::bad(
        format!(
            "{what} would take about {} MiB; a script may hold at most {} MiB",
            bytes >> 20,
            b >> 20
        ),
        "ask for less; if the lab really needs it, raise --max-mem MIB",
    ))
}

fn want(len: INT) -> u128 {
    u128::try_from(len).unwrap_or(0)
}

/// Bytes of one copy of `v` (roughly: what pad clones per element).
fn size_of_item(v: &Dynamic) -> u128 {
    let own = if let Some(s) = v.read_lock::<ImmutableString>() {
        s.len()
    } else if let Some(a) = v.read_lock::<rhai::Array>() {
        a.len() * std::mem::size_of::<Dynamic>()
    } else if let Some(b) = v.read_lock::<Blob>() {
        b.len()
    } else {
        0
    };
    (std::mem::size_of::<Dynamic>() + own) as u128
}

/// rhai's `pad` and `blob` with a check before they allocate (as rhai's own
/// would with size limits set), and a padding string that must not be empty
/// (rhai's loops forever on "").
pub fn register(engine: &mut Engine) {
    crate::api::register_typed(
        engine,
        FuncRegistration::new("pad"),
        |a: &mut rhai::Array, len: INT, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
            let n = want(len);
            if n <= a.len() as u128 {
                return Ok(());
            }
            too_big(
                format!("an array of {len} elements"),
                n * size_of_item(&item),
            )?;
            a.resize(n as usize, item);
            Ok(())
        },
    );
    crate::api::register_typed(
        engine,
        FuncRegistration::new("pad"),
        |s: &mut ImmutableString, len: INT, c: char| -> Result<(), Box<EvalAltResult>> {
            let n = want(len);
            let have = s.chars().count() as u128;
            if n <= have {
                return Ok(());
            }
            too_big(
                format!("a string of {len} characters"),
                n * c.len_utf8() as u128,
            )?;
            let p = s.make_mut();
            p.extend(std::iter::repeat_n(c, (n - have) as usize));
            Ok(())
        },
    );
    crate::api::register_typed(
        engine,
        FuncRegistration::new("pad"),
        |s: &mut ImmutableString, len: INT, padding: &str| -> Result<(), Box<EvalAltResult>> {
            let n = want(len);
            let have = s.chars().count() as u128;
            if n <= have {
                return Ok(());
            }
            if padding.is_empty() {
                return Err(crate::api::bad(
                    "pad() needs a padding string that is not empty",
                    "pad with a character or a string, e.g. s.pad(10, ' ')",
                ));
            }
            let widest = padding.chars().map(char::len_utf8).max().unwrap_or(1);
            too_big(format!("a string of {len} characters"), n * widest as u128)?;
            let p = s.make_mut();
            p.extend(padding.chars().cycle().take((n - have) as usize));
            Ok(())
        },
    );
    crate::api::register_typed(
        engine,
        FuncRegistration::new("pad"),
        |b: &mut Blob, len: INT, value: INT| -> Result<(), Box<EvalAltResult>> {
            let n = want(len);
            if n <= b.len() as u128 {
                return Ok(());
            }
            too_big(format!("a blob of {len} bytes"), n)?;
            b.resize(n as usize, (value & 0xff) as u8);
            Ok(())
        },
    );
    let new_blob = |len: INT, value: INT| -> Result<Blob, Box<EvalAltResult>> {
        let n = want(len);
        too_big(format!("a blob of {len} bytes"), n)?;
        Ok(vec![(value & 0xff) as u8; n as usize])
    };
    // Typed: see register_typed (these replace rhai's own pad and blob).
    crate::api::register_typed(engine, FuncRegistration::new("blob"), move |len: INT| {
        new_blob(len, 0)
    });
    crate::api::register_typed(engine, FuncRegistration::new("blob"), new_blob);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut e = Engine::new();
        register(&mut e);
        e
    }

    #[test]
    fn pad_keeps_rhais_meaning() {
        let e = engine();
        let s: String = e
            .eval(r#"let t = "hello"; t.pad(10, "(!)"); t.pad(8, "***"); t"#)
            .unwrap();
        assert_eq!(s, "hello(!)(!");
        let s: String = e.eval(r#"let t = "hé"; t.pad(4, 'é'); t"#).unwrap();
        assert_eq!(s, "hééé");
        let n: INT = e.eval("let a = [1]; a.pad(3, 0); a.len()").unwrap();
        assert_eq!(n, 3);
        let n: INT = e
            .eval("let b = blob(4, 0x42); b.pad(6, 1); b.len()")
            .unwrap();
        assert_eq!(n, 6);
    }

    #[test]
    fn pad_past_the_budget_is_refused_before_allocating() {
        let e = engine();
        for script in [
            "let a = []; a.pad(9223372036854775807, 0);",
            "let s = \"\"; s.pad(9223372036854775807, 'x');",
            "let s = \"\"; s.pad(9223372036854775807, \"xy\");",
            "blob(9223372036854775807);",
        ] {
            let err = e.run(script).unwrap_err();
            let m = crate::api::message_of(&err);
            assert!(m.contains("a script may hold at most"), "{script}: {m}");
        }
        let m = crate::api::message_of(&e.run("let s = \"a\"; s.pad(5, \"\");").unwrap_err());
        assert!(m.contains("not empty"), "{m}");
    }
}
