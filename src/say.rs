//! Diagnostics on standard error (a leaf: every layer that warns uses it). A closed stderr (`nslab run x 2>&1 | head
//! -c 10`) is not a crash: `eprintln!` panics on EPIPE (exit 101, and the
//! teardown cut short), so every report goes through `say!`, which drops
//! what cannot be written and lets the command end with its own exit code.

use std::fmt;
use std::io::Write as _;

/// Writes one line to standard error; a failed write is ignored.
pub fn line(args: fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: see the module's comment.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::say::line(format_args!($($t)*))
    };
}
pub(crate) use say;
