//! nft's own library, libnftables, loaded at run time: a transaction in
//! nft's syntax applied from a thread of nslab instead of an `nft -f -`
//! process (what `nft -f` does, without its exec, dynamic linking and exit).
//!
//! Why: rules-2000 is four transactions (a user namespace caps one netlink
//! write at ~200 KB); as four `nft` processes they took 62-116 ms in a
//! private host, through one library 30-40 ms (issue 24, bench/README.md).
//! The library is opened with dlopen, not linked: nslab builds and runs
//! where it is missing, and then starts `nft` as before. `NSLAB_NFT` (an
//! explicit nft binary) always gets the process.

use super::{NetError, Result};
use nix::sched::{CloneFlags, setns};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxBuffer = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxGetBuffer = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The few entry points nslab calls (libnftables(3)).
struct Lib {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxBuffer,
    buffer_error: CtxBuffer,
    get_error: CtxGetBuffer,
    run_cmd: RunCmd,
}

/// libnftables, opened once; None where it is not installed (or lacks a
/// symbol) or `NSLAB_NFT` names the nft to run.
fn lib() -> Option<&'static Lib> {
    static LIB: OnceLock<Option<Lib>> = OnceLock::new();
    LIB.get_or_init(|| {
        if std::env::var_os("NSLAB_NFT").is_some() {
            return None;
        }
        // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is
        // never closed, so the symbols stay valid for the process's life.
        // Each symbol is cast to the signature libnftables(3) documents.
        unsafe {
            let h = libc::dlopen(
                c"libnftables.so.1".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_LOCAL,
            );
            if h.is_null() {
                return None;
            }
            let sym = |name: &CStr| {
                let p = libc::dlsym(h, name.as_ptr());
                (!p.is_null()).then_some(p)
            };
            Some(Lib {
                ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(sym(c"nft_ctx_new")?),
                ctx_free: std::mem::transmute::<*mut c_void, CtxFree>(sym(c"nft_ctx_free")?),
                buffer_output: std::mem::transmute::<*mut c_void, CtxBuffer>(sym(
                    c"nft_ctx_buffer_output",
                )?),
                buffer_error: std::mem::transmute::<*mut c_void, CtxBuffer>(sym(
                    c"nft_ctx_buffer_error",
                )?),
                get_error: std::mem::transmute::<*mut c_void, CtxGetBuffer>(sym(
                    c"nft_ctx_get_error_buffer",
                )?),
                run_cmd: std::mem::transmute::<*mut c_void, RunCmd>(sym(
                    c"nft_run_cmd_from_buffer",
                )?),
            })
        }
    })
    .as_ref()
}

/// Applies `text` (nft's syntax, one transaction) inside `ns` through
/// libnftables, on a thread of its own that enters `ns` (a thread's network
/// namespace is its own; the caller's stays where it is). None when the
/// library is not there: the caller starts `nft` instead. An error is nft's
/// first error line, as `nft -f` would print it.
pub fn apply_text(ns: BorrowedFd<'_>, text: &str) -> Option<Result<()>> {
    let lib = lib()?;
    let Ok(cmd) = CString::new(text) else {
        return Some(Err(NetError::Nft("a rule holds a NUL character".into())));
    };
    let res = std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            setns(ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::os("enter the namespace for nft", e.into()))?;
            // SAFETY: one context, made, used and freed on this thread; the
            // buffers it returns are read before it is freed.
            unsafe {
                let ctx = (lib.ctx_new)(0);
                if ctx.is_null() {
                    return Err(NetError::Nft("libnftables: no context".into()));
                }
                // Buffered: nothing of it reaches nslab's own stdout/stderr.
                (lib.buffer_output)(ctx);
                (lib.buffer_error)(ctx);
                let rc = (lib.run_cmd)(ctx, cmd.as_ptr());
                let out = if rc == 0 {
                    Ok(())
                } else {
                    let p = (lib.get_error)(ctx);
                    let msg = if p.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(p).to_string_lossy().into_owned()
                    };
                    Err(NetError::Nft(super::nft::first_error(&msg)))
                };
                (lib.ctx_free)(ctx);
                out
            }
        })
        .join()
    });
    Some(res.unwrap_or_else(|_| Err(NetError::Nft("libnftables: its thread failed".into()))))
}
