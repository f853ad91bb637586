//! Packet captures (`link.capture("file.pcap")`): started on a link, kept
//! by the lab, stopped before its namespaces go. A capture only reads, so it
//! needs no undo step; its file is the user's and stays.

use super::{Lab, LabError, NsId, Result};
use std::path::{Path, PathBuf};

use crate::net::capture::{self, Capture, Opts};
use crate::net::pcap_read::{self, Packet};

/// A capture the lab keeps.
pub(super) struct Running {
    ns: NsId,
    link: String,
    path: PathBuf,
    cap: Capture,
}

/// What a capture reports to the script.
pub struct CaptureView {
    pub packets: u64,
    pub running: bool,
    pub path: PathBuf,
    /// Packets the kernel dropped because the writer fell behind.
    pub dropped: u64,
}

impl Lab {
    /// `tcpdump -i LINK -w FILE [-c COUNT] [-s SNAPLEN]` in the link's
    /// namespace; returns the capture's number.
    pub fn capture(&mut self, id: NsId, link: &str, file: &str, opts: Opts) -> Result<usize> {
        if let Some(r) = self.remote_capture(id, link, file, &opts) {
            return r;
        }
        let cur = self.link(id, link)?;
        let path = capture_path(file)?;
        if let Some(other) = self
            .running
            .captures()
            .iter()
            .find(|c| c.path == path && c.cap.running())
        {
            return Err(LabError::new(
                format!(
                    "{} is being written by the capture on '{}' already",
                    path.display(),
                    other.link
                ),
                "give each capture a file of its own, or stop the other one first (cap.stop())",
            ));
        }
        let index = cur.index;
        let what = format!("link '{link}' in '{}'", self.sp.name(id));
        let sock = self
            .sp
            .run_in(id, move || capture::open(index))
            .map_err(|e| match e {
                crate::net::NetError::Other(msg) => LabError::new(
                    format!("cannot capture on {what}: {msg}"),
                    "capture on an Ethernet-like link instead (a veth, bridge, macvlan, vxlan end)",
                ),
                e if e.raw_errno() == Some(libc::ENODEV) => LabError::new(
                    format!("cannot capture on {what}: it is gone"),
                    format!(
                        "check the name: {}.links() lists the links there",
                        self.var_hint(id)
                    ),
                ),
                e => LabError::kernel("open a packet socket", &what, e),
            })?;
        let f = create(&path)?;
        let cap = capture::start(sock, f, opts)
            .map_err(|e| LabError::kernel("start a capture", &what, e))?;
        Ok(self.running.add_capture(Running {
            ns: id,
            link: link.to_string(),
            path,
            cap,
        }))
    }

    /// Capture `idx` as it stands.
    pub fn capture_view(&self, idx: usize) -> Option<CaptureView> {
        if idx >= super::remote::REMOTE_CAPS {
            return self.remote_capture_view(idx);
        }
        let c = self.running.captures().get(idx)?;
        Some(CaptureView {
            packets: c.cap.packets(),
            running: c.cap.running(),
            path: c.path.clone(),
            dropped: c.cap.dropped(),
        })
    }

    /// Capture `idx`'s file on this machine; one written on another
    /// machine is brought here as it is there now (None: no such capture,
    /// or its machine did not answer).
    pub fn capture_file(&self, idx: usize) -> Option<PathBuf> {
        if let Some(r) = self.remote_capture_file(idx) {
            return r.ok();
        }
        self.capture_view(idx).map(|v| v.path)
    }

    /// `tcpdump -n -r FILE` of capture `idx`: the first `max` packets of
    /// its file, decoded (what the writer has flushed: it does whenever the
    /// link is idle).
    pub fn capture_packets(&self, idx: usize, max: usize) -> Result<Vec<Packet>> {
        let path = match self.remote_capture_file(idx) {
            Some(p) => p?,
            None => match self.running.captures().get(idx) {
                Some(c) => c.path.clone(),
                None => return Ok(Vec::new()),
            },
        };
        let data = std::fs::read(&path).map_err(|e| {
            LabError::new(
                format!("cannot read the capture file {}: {e}", path.display()),
                "the file was moved or removed after the capture wrote it; capture again",
            )
        })?;
        pcap_read::read(&data, max).map_err(|e| {
            LabError::new(
                format!("cannot decode {}: {e}", path.display()),
                "the file was replaced after the capture wrote it; capture again",
            )
        })
    }

    /// `cap.stop()`: the packets seen until now are written and the file
    /// closed. Stopping twice is fine.
    pub fn capture_stop(&mut self, idx: usize) -> Result<()> {
        if let Some(r) = self.remote_capture_stop(idx) {
            return r;
        }
        match self.running.captures_mut().get_mut(idx) {
            Some(c) => stop(c),
            None => Ok(()),
        }
    }

    /// Stops the captures in namespace `only` (every one with None): their
    /// sockets pin their namespaces. Returns the files that failed.
    pub(super) fn stop_captures(&mut self, only: Option<NsId>) -> Vec<LabError> {
        self.running
            .captures_mut()
            .iter_mut()
            .filter(|c| only.is_none_or(|id| c.ns == id))
            .filter_map(|c| stop(c).err())
            .collect()
    }
}

fn stop(c: &mut Running) -> Result<()> {
    c.cap.stop().map(|_| ()).map_err(|e| {
        LabError::new(
            format!(
                "the capture on '{}' could not write {}: {e}",
                c.link,
                c.path.display()
            ),
            "the file holds the packets written before that; make room or pick another place for it",
        )
    })
}

/// The file a capture writes, absolute: a relative path is taken from the
/// directory nslab was started in (isolated and rootless mode do not change
/// it). Its directory must exist and outlive the lab.
pub(super) fn capture_path(file: &str) -> Result<PathBuf> {
    if file.is_empty() {
        return Err(LabError::new(
            "no file name given for the capture",
            "name the file to write, e.g. link.capture(\"ping.pcap\")",
        ));
    }
    let given = Path::new(file);
    let cwd = std::env::current_dir().map_err(|e| {
        LabError::new(
            format!("cannot tell the current directory for '{file}': {e}"),
            "give an absolute path, e.g. link.capture(\"/tmp/ping.pcap\")",
        )
    })?;
    let full = cwd.join(given);
    let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
        return Err(is_dir(file));
    };
    if file.ends_with('/') {
        return Err(is_dir(file));
    }
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        LabError::new(
            format!(
                "cannot write the capture file '{file}': directory {} {}",
                dir.display(),
                match e.kind() {
                    std::io::ErrorKind::NotFound => "does not exist".to_string(),
                    std::io::ErrorKind::PermissionDenied => "cannot be reached (permission denied)".to_string(),
                    _ => format!("cannot be read ({e})"),
                }
            ),
            "create the directory first, or write the file where you are: link.capture(\"ping.pcap\")",
        )
    })?;
    if !dir.is_dir() {
        return Err(LabError::new(
            format!(
                "cannot write the capture file '{file}': {} is not a directory",
                dir.display()
            ),
            "give a path inside a directory, e.g. link.capture(\"ping.pcap\")",
        ));
    }
    // In isolated and rootless mode these are mounts of nslab's own, which
    // vanish with it: the file would be lost.
    if let Some(p) = crate::isolate::private_dirs()
        .iter()
        .find(|p| dir.starts_with(p))
    {
        return Err(LabError::new(
            format!(
                "cannot write the capture file '{file}': {p} is private to this isolated lab, and what is written there vanishes with it"
            ),
            "write it somewhere else, e.g. where you are (link.capture(\"ping.pcap\")) or under /tmp",
        ));
    }
    let path = dir.join(name);
    not_a_file_of_others(&path, file)?;
    Ok(path)
}

/// A capture may overwrite an earlier capture (or an empty file), nothing
/// else: nslab runs as root, and `link.capture("/etc/hosts")` must not
/// empty a file the lab did not make.
fn not_a_file_of_others(path: &Path, file: &str) -> Result<()> {
    use std::io::Read;
    // Not there (or not to be looked at: create() says why).
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let refuse = |what: &str| {
        Err(LabError::new(
            format!(
                "nslab will not overwrite '{}': it {what}",
                crate::text::clip(file, 80)
            ),
            "give the capture a new file name, or remove that file first if it is yours to lose",
        ))
    };
    if meta.is_dir() {
        return Err(is_dir(file));
    }
    if !meta.file_type().is_file() {
        return refuse("is not a regular file");
    }
    if meta.len() == 0 && !path.starts_with("/proc") && !path.starts_with("/sys") {
        return Ok(());
    }
    let mut magic = [0u8; 4];
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok();
    // pcap (µs, ns; either byte order) and pcapng.
    const MAGICS: [u32; 5] = [
        0xa1b2_c3d4,
        0xd4c3_b2a1,
        0xa1b2_3c4d,
        0x4d3c_b2a1,
        0x0a0d_0d0a,
    ];
    if ok && MAGICS.contains(&u32::from_be_bytes(magic)) {
        Ok(())
    } else {
        refuse("exists and is not a packet capture")
    }
}

fn is_dir(file: &str) -> LabError {
    LabError::new(
        format!("cannot write the capture file '{file}': it names a directory"),
        "give a file name, e.g. link.capture(\"ping.pcap\")",
    )
}

/// Creates (or empties) the capture file, readable by all as tcpdump's are
/// (the umask has the last word). It is the user's: in rootless mode nslab
/// writes it as them, under sudo it is given to them (`owner`).
pub(super) fn create(path: &Path) -> Result<std::fs::File> {
    crate::owner::create(path, 0o644).map_err(|e| {
            let shown = path.display();
            match e.raw_os_error() {
                Some(libc::EACCES) | Some(libc::EPERM) => LabError::new(
                    format!("cannot write the capture file {shown}: permission denied"),
                    if crate::isolate::private_dirs().is_empty() {
                        "pick a file in a directory you can write".to_string()
                    } else {
                        "nslab writes it as the user who started it (isolated and rootless mode give no other rights over files): pick a directory that user can write, e.g. the current one or /tmp".to_string()
                    },
                ),
                Some(libc::EISDIR) => is_dir(&path.to_string_lossy()),
                Some(libc::EROFS) => LabError::new(
                    format!("cannot write the capture file {shown}: the file system is read-only"),
                    "pick a place on a writable file system, e.g. /tmp",
                ),
                _ => LabError::new(
                    format!("cannot write the capture file {shown}: {e}"),
                    "pick another place for it, e.g. /tmp",
                ),
            }
        })
}
