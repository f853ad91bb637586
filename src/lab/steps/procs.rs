//! Undoing `ns.spawn`: the process, and the cgroup all of the lab's
//! processes run in.

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::Header;
use crate::lab::space::Spaces;
use crate::net::{Result, exec, unit};

/// `kill` a process started with ns.spawn (and its group)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopProcess {
    pub pid: u32,
    pub start: u64,
}

impl Step for StopProcess {
    fn describe(&self) -> String {
        format!("stop process {}", self.pid)
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        let pid = self.pid;
        if pid > 1 && pid <= i32::MAX as u32 {
            Ok(())
        } else {
            Err(format!("{pid} is not a process nslab could have started"))
        }
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
