//! Files for the user, made from outside isolation. Root in isolated mode
//! runs in a user namespace that maps root alone, and there it may not
//! create a file in a directory owned by anyone else: `sudo nslab run
//! --isolated lab.rhai` could not write `link.capture("x.pcap")` or the
//! REPL's `save()` into the user's own directory, nor `nslab graph -o`.
//! So before isolating, root forks a small opener that stays outside: it
//! creates each such file (as `owner::create` does, for the sudo user) and
//! hands the open descriptor back over a socket. It ends when nslab does
//! (`finish`, or PR_SET_PDEATHSIG when nslab dies).

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

/// The socket to the opener, and its pid (see `finish`).
static OPENER: OnceLock<Mutex<Option<(UnixDatagram, nix::unistd::Pid)>>> = OnceLock::new();

/// Longest path asked for (PATH_MAX) plus the mode.
const MAX_REQUEST: usize = 4 + 4096;

/// How the opener makes a file: `owner::create_here`, passed in so that
/// `owner` (which asks the opener first) and this module do not import each
/// other.
pub type Make = fn(&Path, u32) -> io::Result<File>;

/// Forks the opener. Only before any thread exists (as isolation itself).
pub fn start(make: Make) -> io::Result<()> {
    let (ours, theirs) = UnixDatagram::pair()?;
    // SAFETY: single-threaded here; the child serves requests and leaves
    // with _exit, touching nothing of the parent's beyond its socket.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            // SAFETY: plain prctl; ends the opener with nslab, even on kill -9.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            serve(&theirs, make);
            // SAFETY: ends the child without running the parent's exit code.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let _ = OPENER.set(Mutex::new(Some((ours, child))));
            Ok(())
        }
    }
}

/// In the opener: one request per datagram (mode, then the path), one
/// answer (the errno, 0 with the descriptor attached).
fn serve(sock: &UnixDatagram, make: Make) {
    let mut buf = vec![0u8; MAX_REQUEST];
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if n < 4 {
            return;
        }
        let mode = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let path = Path::new(std::ffi::OsStr::from_bytes(&buf[4..n]));
        let answer = make(path, mode);
        let errno = match &answer {
            Ok(_) => 0i32,
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        };
        let bytes = errno.to_le_bytes();
        let iov = [IoSlice::new(&bytes)];
        let fds: Vec<RawFd> = answer.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        if sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None).is_err() {
            return;
        }
    }
}

/// `owner::create` done by the opener, if there is one (root in isolated
/// mode); None otherwise.
pub fn create(path: &Path, mode: u32) -> Option<io::Result<File>> {
    let guard = OPENER.get()?.lock().ok()?;
    let (sock, _) = guard.as_ref()?;
    Some(ask(sock, path, mode))
}

/// At exit: the opener is ended and waited for (a datagram socket shows it
/// no end of file; and no zombie of nslab's is left to whoever reaps
/// orphans).
pub fn finish() {
    let Some(lock) = OPENER.get() else { return };
    let Some((sock, pid)) = lock.lock().ok().and_then(|mut g| g.take()) else {
        return;
    };
    drop(sock);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

fn ask(sock: &UnixDatagram, path: &Path, mode: u32) -> io::Result<File> {
    // Relative to where nslab started, as the opener's own directory is.
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > MAX_REQUEST - 4 {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let mut req = mode.to_le_bytes().to_vec();
    req.extend_from_slice(bytes);
    sock.send(&req)?;
    let mut errno = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut errno)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fd = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just gave this process the descriptor.
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    let errno = i32::from_le_bytes(errno);
    match (errno, fd) {
        (0, Some(fd)) => Ok(File::from(fd)),
        (0, None) => Err(io::Error::other("the opener sent no file")),
        (e, _) => Err(io::Error::from_raw_os_error(e)),
    }
}
