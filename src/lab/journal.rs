//! The journal: /run/nslab/LAB.json, one JSON object per line. The first
//! line describes the lab; each next line is an undo step, written before the
//! change it undoes reaches the host. `nslab down` replays it after a crash.
//!
//! The running lab holds an exclusive `flock` on its journal for its whole
//! life: the kernel drops it when the process ends, however it ends, so "is
//! the lab still running?" is a question no copied binary, reused pid or
//! zombie can answer wrongly. A journal is data from disk: `read` trusts it
//! only when this user owns it and nobody else can write it, and every step
//! is checked with the script API's own rules before `down` applies it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{LabError, Result};
use super::ledger::Undo;
use super::names;

pub const JOURNAL_DIR: &str = "/run/nslab";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub lab: String,
    pub pid: u32,
    /// The process's start time (field 22 of /proc/PID/stat), shown by `ls`.
    #[serde(default)]
    pub start: u64,
    /// A random token of this run of the lab; marks what it made (its
    /// nf_tables tables) and names it among the holders of host settings.
    #[serde(default)]
    pub id: String,
    pub script: String,
    pub started: u64,
    pub isolated: bool,
    /// `--prefix`: the kernel's names of the lab's namespaces and host
    /// links start with it (the journal's steps name them so); `show`
    /// and `repl --attach` take it off again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Step {
        seq: u64,
        undo: Undo,
    },
    Cancel {
        cancel: u64,
    },
    Kept {
        kept: bool,
    },
    /// An `nslab repl --attach` session took the (kept) lab: its pid and
    /// start time, for `ls` and for the error a second attach gets.
    Attached {
        attached: u32,
        start: u64,
    },
    /// That session ended (the lab stays kept).
    Detached {
        detached: u32,
    },
}

/// An open journal the running lab appends to (and holds locked).
pub struct Journal {
    path: PathBuf,
    file: File,
    seq: u64,
    /// Opened by `attach` (an `nslab repl --attach` session): says so when
    /// it lets go (`mark_kept`).
    attached: bool,
}

pub fn path_for(lab: &str) -> PathBuf {
    Path::new(JOURNAL_DIR).join(format!("{lab}.json"))
}

/// Makes /run/nslab (0755 whatever the umask), or checks the one there:
/// a directory, not a link, that only its owner (this user or root) can
/// write. One left 0777 by an older nslab is put right.
pub fn ensure_dir() -> Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(JOURNAL_DIR) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(LabError::new(
                format!("cannot create {JOURNAL_DIR}: {e}"),
                "nslab keeps its journal there; run as root or with --isolated",
            ));
        }
    }
    let meta = fs::symlink_metadata(JOURNAL_DIR).map_err(|e| {
        LabError::new(
            format!("cannot read {JOURNAL_DIR}: {e}"),
            "nslab keeps its journal there; run as root or with --isolated",
        )
    })?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || (meta.uid() != me && meta.uid() != 0) {
        return Err(LabError::new(
            format!("{JOURNAL_DIR} is not a directory owned by root or this user"),
            format!(
                "nslab will not keep its journal in a place others control: remove {JOURNAL_DIR}"
            ),
        ));
    }
    if meta.mode() & 0o7777 != 0o755 {
        if meta.uid() != me {
            return Err(LabError::new(
                format!("{JOURNAL_DIR} can be written by others"),
                format!("make it private: chmod 755 {JOURNAL_DIR}"),
            ));
        }
        fs::set_permissions(JOURNAL_DIR, fs::Permissions::from_mode(0o755)).map_err(|e| {
            LabError::new(
                format!("cannot set the mode of {JOURNAL_DIR}: {e}"),
                format!("make it private: chmod 755 {JOURNAL_DIR}"),
            )
        })?;
    }
    Ok(())
}

impl Journal {
    /// Starts the journal of a new lab; refuses a name that is in use.
    pub fn create(header: &Header) -> Result<Journal> {
        names::check_labname(&header.lab)?;
        ensure_dir()?;
        let path = path_for(&header.lab);
        // The journal appears under its name whole: written and locked as a
        // file without a name (O_TMPFILE), then linked into place. A lab
        // killed before that leaves nothing behind, and no other process
        // ever sees its journal empty or unlocked.
        let mut file = OpenOptions::new()
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_TMPFILE)
            .open(JOURNAL_DIR)
            .map_err(|e| {
                LabError::new(
                    format!("cannot write a journal in {JOURNAL_DIR}: {e}"),
                    "nslab keeps its journal under /run/nslab; run as root or with --isolated",
                )
            })?;
        // The mode asked for above went through the umask.
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err)?;
        // Nobody else has it yet: the lock is ours until the process ends.
        file.try_lock().map_err(|e| {
            LabError::new(
                format!("cannot lock the new journal: {e}"),
                "check the file system under /run/nslab",
            )
        })?;
        crate::net::exec::keep_from_children(std::os::fd::AsRawFd::as_raw_fd(&file));
        let line = serde_json::to_string(header).map_err(json_err)?;
        writeln!(file, "{line}").map_err(io_err)?;
        let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        match nix::unistd::linkat(
            nix::fcntl::AT_FDCWD,
            fd_path.as_str(),
            nix::fcntl::AT_FDCWD,
            &path,
            nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) => {
                crate::net::exec::keep_from_children(-1);
                return Err(match read(&path) {
                    Ok(j) => LabError::new(
                        format!(
                            "a lab named '{}' already exists ({})",
                            header.lab,
                            j.status()
                        ),
                        format!(
                            "remove it with `nslab down {}`, or give this one another name with --name",
                            header.lab
                        ),
                    ),
                    Err(e) => LabError::new(
                        format!(
                            "the name '{}' is taken by {}, which nslab cannot use: {}",
                            header.lab,
                            path.display(),
                            e.message
                        ),
                        format!(
                            "give this lab another name with --name, or remove the file (rm {})",
                            path.display()
                        ),
                    ),
                });
            }
            Err(e) => {
                crate::net::exec::keep_from_children(-1);
                return Err(LabError::new(
                    format!("cannot write the journal {}: {e}", path.display()),
                    "nslab keeps its journal under /run/nslab; run as root or with --isolated",
                ));
            }
        }
        Ok(Journal {
            path,
            file,
            seq: 0,
            attached: false,
        })
    }

    /// Takes the journal of kept lab `lab` for an `nslab repl --attach`
    /// session: its lock (held, as a running lab holds it, until this
    /// process ends), then the journal read afresh under it. What the session
    /// builds is appended to the same journal, numbered after the steps
    /// there, so `nslab down` undoes the lab and the session's additions as
    /// one. Refuses a lab that is missing, running, attached by another
    /// session, left behind by a crash without being kept, or isolated.
    pub fn attach(lab: &str) -> Result<(Journal, Record)> {
        names::check_labname(lab)?;
        let path = path_for(lab);
        if fs::symlink_metadata(&path).is_err() {
            return Err(LabError::new(
                format!("there is no lab named '{lab}'"),
                "`nslab ls` lists the labs; make a kept one with `nslab run --keep FILE` (or keep() in the script)",
            ));
        }
        let file = open_checked_with(&path, OpenOptions::new().append(true))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let rec = read(&path)?;
                return Err(match rec.attached_by() {
                    Some(pid) => LabError::new(
                        format!(
                            "lab '{lab}' is attached by another `nslab repl --attach` session (pid {pid})"
                        ),
                        format!(
                            "one session at a time: end that one (Ctrl-D or `exit` in it, or `kill {pid}`), then attach again"
                        ),
                    ),
                    None if rec.kept => LabError::new(
                        format!(
                            "lab '{lab}' is in use by another nslab (an attach or a `nslab down` under way)"
                        ),
                        "try again in a moment; `nslab ls` shows its state",
                    ),
                    None => LabError::new(
                        format!(
                            "lab '{lab}' is running (pid {}), not kept: only a kept lab can be attached",
                            rec.header.pid
                        ),
                        format!(
                            "a running lab belongs to its script; run it with `nslab run --keep` (or call keep() in it), let it finish, then `nslab repl --attach {lab}`"
                        ),
                    ),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(LabError::new(
                    format!("cannot lock {}: {e}", path.display()),
                    "check the file system under /run/nslab",
                ));
            }
        }
        // A `nslab down` may have removed the journal between the open and
        // the lock: then the lab is gone.
        let meta = file.metadata().map_err(io_err)?;
        let now = fs::symlink_metadata(&path).ok();
        if meta.nlink() == 0 || now.is_none_or(|m| (m.dev(), m.ino()) != (meta.dev(), meta.ino())) {
            return Err(LabError::new(
                format!("lab '{lab}' was taken down just now"),
                "`nslab ls` lists the labs there are",
            ));
        }
        let rec = read(&path)?;
        if rec.torn {
            return Err(LabError::new(
                format!(
                    "the journal of lab '{lab}' ends with a line cut short (its last writer crashed mid-write)"
                ),
                format!(
                    "nothing can be added after it; `nslab down {lab}` still takes the lab down"
                ),
            ));
        }
        if rec.header.isolated {
            return Err(LabError::new(
                format!("lab '{lab}' is an isolated lab, which cannot be attached"),
                "an isolated lab lives in private namespaces that end with its process; attach works on kept host-mode labs (`sudo nslab run --keep FILE`)",
            ));
        }
        if !rec.kept {
            return Err(LabError::new(
                // (Its process is gone: the lock was free.)
                format!(
                    "lab '{lab}' was not kept: it was left behind by pid {}, which is gone",
                    rec.header.pid
                ),
                format!(
                    "only a kept lab (`nslab run --keep`, keep()) can be attached; remove what is left of this one with `nslab down {lab}`"
                ),
            ));
        }
        crate::net::exec::keep_from_children(std::os::fd::AsRawFd::as_raw_fd(&file));
        let mut j = Journal {
            path,
            file,
            seq: rec.last_seq,
            attached: true,
        };
        let pid = std::process::id();
        let start = crate::net::exec::start_time(pid).unwrap_or(0);
        j.append(&Line::Attached {
            attached: pid,
            start,
        })?;
        Ok((j, rec))
    }

    fn append(&mut self, line: &Line) -> Result<()> {
        let text = serde_json::to_string(line).map_err(json_err)?;
        // One write per line with O_APPEND: a crash leaves whole lines only.
        self.file
            .write_all(format!("{text}\n").as_bytes())
            .map_err(io_err)
    }

    /// Records an undo step before its change is made; returns its number.
    pub fn intend(&mut self, undo: &Undo) -> Result<u64> {
        self.seq += 1;
        let seq = self.seq;
        self.append(&Line::Step {
            seq,
            undo: undo.clone(),
        })?;
        Ok(seq)
    }

    /// The change of step `seq` did not happen after all, or the script
    /// undid it itself (ns.route_delete of a route the lab added).
    pub fn cancel(&mut self, seq: u64) -> Result<()> {
        self.append(&Line::Cancel { cancel: seq })
    }

    pub fn mark_kept(&mut self) -> Result<()> {
        self.append(&Line::Kept { kept: true })?;
        if self.attached {
            self.append(&Line::Detached {
                detached: std::process::id(),
            })?;
        }
        Ok(())
    }

    /// Teardown finished: the lab is gone, and so is its journal.
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
        crate::net::exec::keep_from_children(-1);
    }
}

fn json_err(e: serde_json::Error) -> LabError {
    LabError::new(
        format!("cannot encode the journal: {e}"),
        "this is a bug; please report it",
    )
}

fn io_err(e: std::io::Error) -> LabError {
    LabError::new(
        format!("cannot write the journal: {e}"),
        "check that /run/nslab is writable and not full",
    )
}

/// A journal read back from disk, checked.
#[derive(Debug)]
pub struct Record {
    pub path: PathBuf,
    pub header: Header,
    pub steps: Vec<Undo>,
    /// The journal number of each step (same order as `steps`).
    pub seqs: Vec<u64>,
    /// The highest step number in the journal, cancelled ones included.
    pub last_seq: u64,
    pub kept: bool,
    /// The `nslab repl --attach` session that took the lab last and has
    /// not let go: (pid, start time).
    pub attached: Option<(u32, u64)>,
    /// The last line was cut short (a crash mid-write): nothing may be
    /// appended after it, or the journal would no longer read.
    pub torn: bool,
}

impl Record {
    /// Is the process that made the lab still running? It holds the lock.
    pub fn alive(&self) -> bool {
        match open_checked(&self.path) {
            Ok(f) => matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Takes the journal for `down`: its lock, held until the returned file
    /// is dropped, so that two `down`s never replay one lab at once. `None`
    /// while the lab's process (or another `down`) holds it.
    ///
    /// A lab killed a moment ago can still look alive for a moment: a child
    /// it had just forked holds a copy of the lock until its first
    /// instruction closes it. So a held lock is asked again for a while.
    pub fn claim(&self) -> Result<Option<File>> {
        let f = open_checked(&self.path)?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(Some(f)),
                Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => {
                    return Err(LabError::new(
                        format!("cannot lock {}: {e}", self.path.display()),
                        "check the file system under /run/nslab",
                    ));
                }
            }
        }
    }

    /// The journal read again under `lock` (from `claim`): an `nslab repl
    /// --attach` session that ended meanwhile may have added steps, and
    /// another `down` may have finished (and removed the journal; the name
    /// may even be another lab's by now, whose journal is not the file
    /// locked here). None when the file locked is no longer this journal.
    pub fn reread(&self, lock: &File) -> Result<Option<Record>> {
        let same_file = match (lock.metadata(), fs::symlink_metadata(&self.path)) {
            (Ok(l), Ok(p)) => l.nlink() > 0 && (l.dev(), l.ino()) == (p.dev(), p.ino()),
            _ => false,
        };
        if !same_file {
            return Ok(None);
        }
        read(&self.path).map(Some)
    }

    /// The pid of the `nslab repl --attach` session working on the lab,
    /// if there is one: the journal names it, and that very process (by its
    /// start time) still runs. (One killed without letting go is no one.)
    pub fn attached_by(&self) -> Option<u32> {
        let (pid, start) = self.attached?;
        (crate::net::exec::start_time(pid) == Some(start)).then_some(pid)
    }

    pub fn status(&self) -> String {
        let alive = self.alive();
        if alive
            && self.kept
            && let Some(pid) = self.attached_by()
        {
            return format!("kept, attached by pid {pid}");
        }
        match (alive, self.kept) {
            (true, _) => format!("running, pid {}", self.header.pid),
            (false, true) => "kept".into(),
            (false, false) => format!("left behind by pid {}, which is gone", self.header.pid),
        }
    }
}

/// Opens a journal only if it can be trusted: a regular file (not a link)
/// owned by this user and writable by nobody else.
fn open_checked(path: &Path) -> Result<File> {
    open_checked_with(path, OpenOptions::new().read(true))
}

/// `open_checked` with other open options (e.g. appending).
fn open_checked_with(path: &Path, opts: &mut OpenOptions) -> Result<File> {
    let f = opts
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            let why = if e.raw_os_error() == Some(libc::ELOOP) {
                "it is a symbolic link".to_string()
            } else {
                e.to_string()
            };
            LabError::new(
                format!("cannot open {}: {why}", path.display()),
                format!(
                    "nslab only follows journals it wrote; remove {}",
                    path.display()
                ),
            )
        })?;
    let meta = f.metadata().map_err(|e| {
        LabError::new(
            format!("cannot read {}: {e}", path.display()),
            "check the file system under /run/nslab",
        )
    })?;
    let me = nix::unistd::geteuid().as_raw();
    let why = if !meta.is_file() {
        Some("it is not a regular file".to_string())
    } else if meta.uid() != me {
        Some(format!(
            "it belongs to uid {}, not to this user ({me})",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "others can write it (mode {:o})",
            meta.mode() & 0o777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(LabError::new(
            format!("refusing the journal {}: {why}", path.display()),
            "nslab replays only journals this user wrote and nobody else can change; inspect and remove it by hand",
        )),
        None => Ok(f),
    }
}

/// Reads and checks a journal: its owner and mode, its header, and every
/// step against the rules the script API applies (a journal that says
/// "restore kernel.hostname" or "delete namespace ../../etc" is refused
/// whole, before anything is applied).
pub fn read(path: &Path) -> Result<Record> {
    let f = open_checked(path)?;
    let bad = |what: String| {
        LabError::new(
            format!("refusing the journal {}: {what}", path.display()),
            "it was not written by nslab, or was changed since; inspect and remove it by hand",
        )
    };
    let mut lines = BufReader::new(f).lines();
    let first = lines
        .next()
        .ok_or_else(|| bad("it is empty".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let header: Header = serde_json::from_str(&first).map_err(|e| bad(format!("line 1: {e}")))?;
    names::check_labname(&header.lab).map_err(|e| bad(format!("line 1: {}", e.message)))?;
    if let Some(p) = &header.prefix {
        names::check_prefix(p).map_err(|e| bad(format!("line 1: {}", e.message)))?;
    }
    if path.file_name() != path_for(&header.lab).file_name() {
        return Err(bad(format!(
            "it describes lab '{}' but is named {}",
            header.lab,
            path.display()
        )));
    }
    let mut steps: Vec<(u64, Undo)> = Vec::new();
    let mut last_seq = 0;
    let mut kept = false;
    let mut attached = None;
    let mut torn: Option<usize> = None;
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| bad(e.to_string()))?;
        let n = i + 2;
        if let Some(t) = torn {
            return Err(bad(format!("line {t} cannot be read")));
        }
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Step { seq, undo }) => {
                undo.validate(&header)
                    .map_err(|why| bad(format!("line {n}: {why}")))?;
                last_seq = last_seq.max(seq);
                steps.push((seq, undo));
            }
            Ok(Line::Cancel { cancel }) => steps.retain(|(s, _)| *s != cancel),
            Ok(Line::Kept { kept: k }) => kept = k,
            Ok(Line::Attached {
                attached: pid,
                start,
            }) => {
                if pid <= 1 || pid > i32::MAX as u32 {
                    return Err(bad(format!(
                        "line {n}: {pid} is not a process that could have attached"
                    )));
                }
                attached = Some((pid, start));
            }
            Ok(Line::Detached { .. }) => attached = None,
            // A torn last line (crash mid-write) is skipped; anywhere else
            // an unreadable line means the file is not what nslab wrote.
            Err(_) => torn = Some(n),
        }
    }
    let (seqs, steps) = steps.into_iter().unzip();
    Ok(Record {
        path: path.to_path_buf(),
        header,
        steps,
        seqs,
        last_seq,
        kept,
        attached,
        torn: torn.is_some(),
    })
}

/// All journals under /run/nslab, sorted by lab name; the ones that cannot
/// be trusted come back as errors, so `ls` and `down --all` can say so.
pub fn list() -> Vec<std::result::Result<Record, (PathBuf, LabError)>> {
    let mut out: Vec<_> = fs::read_dir(JOURNAL_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .map(|p| read(&p).map_err(|e| (p, e)))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|r| match r {
        Ok(rec) => rec.path.clone(),
        Err((p, _)) => p.clone(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `lines` as the journal of lab "x" in a fresh directory.
    fn journal(lines: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let header =
            r#"{"lab":"x","pid":5,"start":0,"id":"","script":"","started":0,"isolated":false}"#;
        let text: String = std::iter::once(header)
            .chain(lines.iter().copied())
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        (dir, path)
    }

    /// A journal written by nslab at d45f327 (before undo steps moved to
    /// steps/): a kept host-mode lab (journal-d45f327.rhai, run in a private
    /// network and mount namespace): 21 steps of 17 of the 18 kinds (all but
    /// restore_port). It is
    /// read, every step passes its checks, and each is written back as the
    /// same bytes.
    #[test]
    fn a_journal_of_the_old_code_reads_back_and_writes_the_same_bytes() {
        let text = include_str!("testdata/journal-d45f327.json");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fixture.json");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let rec = read(&path).unwrap();
        assert!(rec.kept);
        let mut lines = text.lines();
        assert_eq!(
            serde_json::to_string(&rec.header).unwrap(),
            lines.next().unwrap()
        );
        let mut ops = std::collections::BTreeSet::new();
        for (seq, undo) in rec.seqs.iter().zip(&rec.steps) {
            let line = serde_json::to_string(&Line::Step {
                seq: *seq,
                undo: undo.clone(),
            })
            .unwrap();
            assert_eq!(line, lines.next().unwrap());
            ops.insert(line.split('"').nth(7).unwrap_or_default().to_string());
        }
        assert_eq!(lines.next(), Some(r#"{"kept":true}"#));
        assert_eq!(ops.len(), 17, "{ops:?}");
    }

    const NETNS_A: &str = r#"{"seq":1,"undo":{"op":"delete_netns","name":"a","dev":4,"ino":10}}"#;

    /// An attached session's lines: its steps are numbered after the lab's
    /// (cancelled ones too), and it is named until it lets go.
    #[test]
    fn a_session_s_lines_read_back() {
        let (_d, path) = journal(&[
            NETNS_A,
            r#"{"seq":2,"undo":{"op":"delete_netns","name":"b","dev":4,"ino":11}}"#,
            r#"{"cancel":2}"#,
            r#"{"kept":true}"#,
            r#"{"attached":77,"start":9}"#,
            r#"{"seq":3,"undo":{"op":"delete_netns","name":"c","dev":4,"ino":12}}"#,
        ]);
        let rec = read(&path).unwrap();
        assert!(rec.kept && !rec.torn);
        assert_eq!(rec.seqs, vec![1, 3]);
        assert_eq!(rec.last_seq, 3);
        assert_eq!(rec.attached, Some((77, 9)));
        let (_d, path) = journal(&[
            NETNS_A,
            r#"{"kept":true}"#,
            r#"{"attached":77,"start":9}"#,
            r#"{"kept":true}"#,
            r#"{"detached":77}"#,
        ]);
        let rec = read(&path).unwrap();
        assert_eq!(rec.attached, None);
        assert_eq!(rec.last_seq, 1);
    }

    #[test]
    fn a_session_line_naming_no_process_is_refused() {
        for pid in ["0", "1", "4294967295"] {
            let line = format!(r#"{{"attached":{pid},"start":9}}"#);
            let (_d, path) = journal(&[NETNS_A, r#"{"kept":true}"#, &line]);
            let e = read(&path).unwrap_err();
            assert!(
                e.message
                    .contains("is not a process that could have attached"),
                "{pid}: {}",
                e.message
            );
        }
    }

    /// A torn last line is skipped when reading, but attach must not write
    /// after it: the record says so.
    #[test]
    fn a_torn_last_line_is_reported() {
        let (_d, path) = journal(&[NETNS_A, r#"{"kept":true}"#, r#"{"seq":2,"und"#]);
        let rec = read(&path).unwrap();
        assert!(rec.torn && rec.kept);
        assert_eq!(rec.steps.len(), 1);
    }
}
