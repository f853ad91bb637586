//! Files nslab writes for the person who ran it (a capture, a saved REPL
//! session, a drawing, definition files) are theirs: under `sudo`, the user
//! sudo names (SUDO_UID, SUDO_GID) rather than root, as a file their shell
//! wrote (`sudo nslab plan lab.rhai > plan.sh`) would be. A file that was
//! there already keeps its owner. (In isolated mode root's files are made
//! outside its user namespace, by `opener`, so the same holds there.)

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::unistd::{Gid, Uid, fchown};

/// The user `sudo` ran nslab for, when nslab is root.
fn sudo_user() -> Option<(Uid, Gid)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let id = |k: &str| std::env::var(k).ok()?.parse::<u32>().ok();
    let (uid, gid) = (id("SUDO_UID")?, id("SUDO_GID")?);
    (uid != 0).then(|| (Uid::from_raw(uid), Gid::from_raw(gid)))
}

/// Gives a file or directory nslab just made to the sudo user (best effort:
/// through the open descriptor, so a path swapped meanwhile cannot redirect
/// it).
fn give(f: &File) {
    if let Some((uid, gid)) = sudo_user() {
        let _ = fchown(f, Some(uid), Some(gid));
    }
}

/// Opens `path` for writing, emptied, made with `mode` (the umask has the
/// last word) if it is not there; a file made here goes to the sudo user.
/// Root in isolated mode has it made outside (see `opener`).
pub fn create(path: &Path, mode: u32) -> io::Result<File> {
    match crate::opener::create(path, mode) {
        Some(made) => made,
        None => create_here(path, mode),
    }
}

/// Not a permission bit: asks `create_here` for a regular file only. It
/// travels in the mode so that the opener (which passes the mode through)
/// keeps the same rule.
const REGULAR_ONLY: u32 = 1 << 31;

/// What `create_regular` fails with when the path is there and is not a
/// regular file (a FIFO, a device, a socket).
pub const NOT_REGULAR: i32 = libc::EINVAL;

/// `create` with this process's own rights.
pub fn create_here(path: &Path, mode: u32) -> io::Result<File> {
    let regular = mode & REGULAR_ONLY != 0;
    let mode = mode & !REGULAR_ONLY;
    let mut o = std::fs::OpenOptions::new();
    // O_NONBLOCK: opening a FIFO for writing waits for a reader, for good,
    // and signals do not end the wait. A regular file ignores the flag.
    let flags = if regular {
        libc::O_CLOEXEC | libc::O_NONBLOCK
    } else {
        libc::O_CLOEXEC
    };
    o.write(true).mode(mode).custom_flags(flags);
    match o.clone().create_new(true).open(path) {
        Ok(f) => {
            give(&f);
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && regular => {
            // Emptied only once it is known to be a regular file.
            let f = o.open(path)?;
            if !f.metadata()?.file_type().is_file() {
                return Err(io::Error::from_raw_os_error(NOT_REGULAR));
            }
            f.set_len(0)?;
            Ok(f)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => o.truncate(true).open(path),
        Err(e) => Err(e),
    }
}

/// `create` that makes or empties a regular file and nothing else, without
/// ever blocking: a FIFO, device or socket at `path` is an error
/// (`NOT_REGULAR`, or ENXIO for a FIFO nobody reads).
pub fn create_regular(path: &Path, mode: u32) -> io::Result<File> {
    create(path, mode | REGULAR_ONLY)
}

/// Reads `path` if it is a regular file: None if there is nothing there,
/// `NOT_REGULAR` if it is something else. Never blocks (a FIFO is opened
/// with O_NONBLOCK, then seen for what it is).
pub fn read_regular(path: &Path) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !f.metadata()?.file_type().is_file() {
        return Err(io::Error::from_raw_os_error(NOT_REGULAR));
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// `fs::write` for a file of the user's (see `create`).
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    create(path, 0o644)?.write_all(text.as_bytes())
}

/// `mkdir -p`; a directory made here (the last one) goes to the sudo user.
pub fn create_dir(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path)?;
    give(&File::open(path)?);
    Ok(())
}
