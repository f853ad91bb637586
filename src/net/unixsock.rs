//! Unix socket files: is a program listening on one yet? (What a daemon's
//! readiness comes to: its control socket accepts connections.) A path
//! socket is found through the file system, so nslab reaches one in any
//! network namespace, through the backing directory of a node's private
//! directory.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The longest path a `sockaddr_un` holds (without its NUL).
const MAX_SUN_PATH: usize = 107;

/// Connects to the socket at `path` and hangs up at once: Ok once a
/// program listens there; else the error connect(2) gave (ENOENT: no file
/// yet; ECONNREFUSED: a socket file nobody listens on; ENOTSOCK: another
/// kind of file).
pub fn accepts(path: &Path) -> io::Result<()> {
    let len = path.as_os_str().len();
    if len <= MAX_SUN_PATH {
        return UnixStream::connect(path).map(drop);
    }
    // Too long for a sockaddr_un (a node's backing directory under a long
    // lab name): reach it through its directory, opened by itself.
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    };
    let d = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(d.as_raw_fd().to_string())
        .join(name);
    UnixStream::connect(short).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_listening_socket_accepts_and_others_say_why_not() {
        let dir = std::env::temp_dir().join(format!("nslab-unixsock-{}", std::process::id()));
        // Longer than a sockaddr_un: reached through the directory.
        let deep = dir.join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        for d in [&dir, &deep] {
            let sock = d.join("s.sock");
            assert_eq!(
                accepts(&sock).unwrap_err().raw_os_error(),
                Some(libc::ENOENT)
            );
            // Bound as a daemon would, from inside its directory.
            let dfd = File::open(d).unwrap();
            let at = Path::new("/proc/self/fd")
                .join(dfd.as_raw_fd().to_string())
                .join("s.sock");
            let l = UnixListener::bind(at).unwrap();
            assert!(accepts(&sock).is_ok(), "{}", sock.display());
            drop(l);
            assert_eq!(
                accepts(&sock).unwrap_err().raw_os_error(),
                Some(libc::ECONNREFUSED)
            );
            std::fs::write(d.join("plain"), "x").unwrap();
            assert!(accepts(&d.join("plain")).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
