//! `nslab ls`: the labs with a journal (kept, running, left behind).

use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;

use crate::lab::journal;
use crate::lab::plan::comment_text as shown;
use crate::session::CmdResult;

/// A journal's file name or lab name can hold control bytes (a journal
/// planted in /run/nslab, say): the text table shows them escaped, as
/// `nslab plan` does, so they cannot rewrite the terminal. `--json` keeps
/// them, escaped by JSON itself.
pub fn run(json: bool) -> CmdResult {
    if json {
        return super::view::ls_json();
    }
    let labs = journal::list();
    if labs.is_empty() {
        println!("no labs");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<20} {:<40} {:>5}  SCRIPT", "LAB", "STATUS", "STEPS");
    for r in labs {
        match r {
            Ok(r) => {
                println!(
                    "{:<20} {:<40} {:>5}  {}",
                    shown(&r.header.lab),
                    status(&r),
                    r.steps.len(),
                    shown(&r.header.script)
                );
                // A kept lab's programs run on until `nslab down`.
                for p in super::view::kept_programs(&r) {
                    println!("  pid {} in {}: {}", p.pid, shown(&p.ns), shown(&p.command));
                }
            }
            Err((path, e)) => println!(
                "{:<20} {:<40} {:>5}  {}",
                shown(
                    &path
                        .file_stem()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                ),
                "refused: not a journal nslab trusts",
                "-",
                shown(&e.message)
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `Record::status`, with a running lab's process named as this PID
/// namespace sees it.
fn status(r: &journal::Record) -> String {
    let attached = r.kept && r.attached_by().is_some();
    if attached || !r.alive() {
        return r.status();
    }
    match holder(r) {
        Holder::Pid(pid) => format!("running, pid {pid}"),
        Holder::Elsewhere => format!("running, pid {} in another PID ns", r.header.pid),
    }
}

/// The process running a lab, as the caller sees it.
pub(super) enum Holder {
    Pid(u32),
    /// It has no pid in the caller's PID namespace (a sibling container's).
    Elsewhere,
}

/// The journal names the lab's process by the pid it has in its own PID
/// namespace: 1 when nslab ran as a namespace's init (`unshare --pid
/// --fork nslab run …`), which here is the host's init, not the lab. The
/// lock the lab holds on its journal is listed in /proc/locks under the pid
/// this namespace gives its owner, so that is the pid to show and to
/// `kill`. An owner with no pid here is listed as 0, or (newer kernels) not
/// at all: a lock held but not listed is one of those. /proc/locks not
/// readable leaves the journal's pid.
pub(super) fn holder(r: &journal::Record) -> Holder {
    let journal_pid = Holder::Pid(r.header.pid);
    let Ok(meta) = std::fs::metadata(&r.path) else {
        return journal_pid;
    };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return journal_pid;
    };
    let dev = meta.dev();
    let file = (
        u64::from(libc::major(dev)),
        u64::from(libc::minor(dev)),
        meta.ino(),
    );
    match lock_owner(&locks, file) {
        Some(0) => Holder::Elsewhere,
        Some(pid) => Holder::Pid(pid),
        None if r.alive() => Holder::Elsewhere,
        None => journal_pid,
    }
}

/// The pid owning the exclusive flock on `file` (major, minor, inode) in a
/// /proc/locks text: `1: FLOCK  ADVISORY  WRITE 1234 fe:00:5366648 0 EOF`
/// (device numbers in hex; waiters' lines carry `->` and are skipped).
fn lock_owner(locks: &str, file: (u64, u64, u64)) -> Option<u32> {
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] != "FLOCK" || f[3] != "WRITE" {
            return None;
        }
        let mut id = f[5].split(':');
        let major = u64::from_str_radix(id.next()?, 16).ok()?;
        let minor = u64::from_str_radix(id.next()?, 16).ok()?;
        let ino: u64 = id.next()?.parse().ok()?;
        ((major, minor, ino) == file).then(|| f[4].parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::lock_owner;

    #[test]
    fn the_lock_owner_is_read_by_device_and_inode() {
        let locks = "1: FLOCK  ADVISORY  WRITE 30050 00:29:2 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 31000 00:29:7 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 0 00:2a:7 0 EOF\n\
                     3: FLOCK  ADVISORY  READ 29508 fe:00:10133507 0 EOF\n\
                     4: POSIX  ADVISORY  WRITE 5 00:29:7 0 EOF\n\
                     5: FLOCK  ADVISORY  WRITE 812 00:29:7 0 EOF\n";
        assert_eq!(lock_owner(locks, (0, 0x29, 7)), Some(812));
        assert_eq!(lock_owner(locks, (0, 0x2a, 7)), Some(0));
        assert_eq!(lock_owner(locks, (0, 0x29, 2)), Some(30050));
        assert_eq!(lock_owner(locks, (0xfe, 0, 10133507)), None);
        assert_eq!(lock_owner(locks, (0, 0x29, 9)), None);
    }
}
