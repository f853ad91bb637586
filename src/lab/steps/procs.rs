//! Undoing `ns.spawn`: the process, the files its output goes to, and
//! the cgroup all of the lab's processes run in.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::{Header, JOURNAL_DIR};
use crate::lab::names;
use crate::lab::space::Spaces;
use crate::net::{NetError, Result, exec, unit};

/// The longest command a journal keeps for `nslab ls` (in bytes; the
/// script's own is clipped to fit).
pub const MAX_SHOWN_COMMAND: usize = 1024;

/// `kill` a process started with ns.spawn (and its group)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopProcess {
    pub pid: u32,
    pub start: u64,
    /// The namespace it runs in (`host` for the one nslab started in) and
    /// its command, as `nslab ls` shows a kept lab's programs. (Journals
    /// written before they were kept have neither.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
}

impl Step for StopProcess {
    fn describe(&self) -> String {
        format!("stop process {}", self.pid)
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        let pid = self.pid;
        if pid <= 1 || pid > i32::MAX as u32 {
            return Err(format!("{pid} is not a process nslab could have started"));
        }
        if let Some(ns) = &self.ns
            && ns != "host"
        {
            names::check_nsname(ns).map_err(|e| e.message)?;
        }
        if let Some(cmd) = &self.cmd
            && (cmd.len() > MAX_SHOWN_COMMAND || cmd.contains('\0'))
        {
            return Err(format!(
                "the command of process {pid} is not one nslab would have written"
            ));
        }
        Ok(())
    }

    fn apply(&self, _: &mut Spaces, _: &Header) -> Result<Undone> {
        exec::stop(self.pid, self.start).map(|_| Undone::Done)
    }
}

/// `echo 1 > cgroup.kill; rmdir`: ends every process the lab started
/// (the cgroup of the lab's own they all run in)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillCgroup {
    pub path: String,
}

impl Step for KillCgroup {
    fn describe(&self) -> String {
        format!("stop the lab's processes (cgroup {})", self.path)
    }

    fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        let path = &self.path;
        if unit::is_cgroup_of(std::path::Path::new(path), &header.lab, header.pid) {
            Ok(())
        } else {
            Err(format!(
                "cgroup {path} is not the cgroup of lab '{}' run by pid {}",
                header.lab, header.pid
            ))
        }
    }

    fn apply(&self, _: &mut Spaces, _: &Header) -> Result<Undone> {
        unit::kill_cgroup(std::path::Path::new(&self.path)).map(|_| Undone::Done)
    }
}

/// Where lab `lab`'s spawned processes write their output:
/// `/run/nslab/LAB.out`, one `PID-N.stdout` and `PID-N.stderr` per process
/// (PID: the nslab that started it, N its number there).
pub fn outputs_dir(lab: &str) -> PathBuf {
    Path::new(JOURNAL_DIR).join(format!("{lab}.out"))
}

/// `rm -r /run/nslab/LAB.out`: the files the lab's processes wrote their
/// output to (a kept lab's go on writing there until `nslab down`)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveOutputs {
    pub dir: String,
}

impl Step for RemoveOutputs {
    fn describe(&self) -> String {
        format!("remove the output of the lab's processes ({})", self.dir)
    }

    fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        if Path::new(&self.dir) == outputs_dir(&header.lab) {
            Ok(())
        } else {
            Err(format!(
                "{} is not where lab '{}' keeps its processes' output",
                self.dir, header.lab
            ))
        }
    }

    /// Removes the files in it (a link is removed, never followed), then
    /// the directory; anything else in it is left, and the error says so.
    fn apply(&self, _: &mut Spaces, _: &Header) -> Result<Undone> {
        let dir = Path::new(&self.dir);
        let meta = fs::symlink_metadata(dir)
            .map_err(|e| NetError::os("read the processes' output directory", e))?;
        if !meta.is_dir() {
            return Ok(Undone::LeftAlone(format!(
                "{} is not a directory: not nslab's, left alone",
                self.dir
            )));
        }
        let entries = fs::read_dir(dir)
            .map_err(|e| NetError::os("read the processes' output directory", e))?;
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| !t.is_dir()) {
                fs::remove_file(e.path())
                    .or_else(not_found_is_done)
                    .map_err(|e| NetError::os("remove a process's output", e))?;
            }
        }
        fs::remove_dir(dir)
            .or_else(not_found_is_done)
            .map_err(|e| NetError::os("remove the processes' output directory", e))?;
        Ok(Undone::Done)
    }
}

fn not_found_is_done(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
