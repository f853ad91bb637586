//! Standard output set aside while a script runs (plan, graph).

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd};

/// Standard output set aside (at the descriptor, so programs the script
/// runs follow it) until dropped: `nslab plan` keeps it for the plan and
/// sends the script's output to stderr; `nslab graph` keeps it for the
/// picture and sends the script's output nowhere.
pub struct Aside {
    saved: File,
}

impl Aside {
    /// Standard output goes to standard error.
    pub fn to_stderr() -> Option<Aside> {
        Aside::to(std::io::stderr().as_fd().try_clone_to_owned().ok()?)
    }

    /// Standard output goes to /dev/null.
    pub fn to_null() -> Option<Aside> {
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
        Aside::to(null.ok()?.into())
    }

    fn to(target: std::os::fd::OwnedFd) -> Option<Aside> {
        let _ = std::io::stdout().flush();
        let saved = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
        // SAFETY: dup2 onto the process's own standard output.
        (unsafe { libc::dup2(target.as_raw_fd(), 1) } == 1).then(|| Aside {
            saved: File::from(saved),
        })
    }

    /// Writes to the standard output set aside.
    pub fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        (&self.saved).write_all(bytes)
    }
}

impl Drop for Aside {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        // SAFETY: puts the saved descriptor back as fd 1.
        unsafe {
            libc::dup2(self.saved.as_raw_fd(), 1);
        }
    }
}
