//! Undoing a node's private files (`netns(name, #{dirs, hostname})` and
//! the hosts file every lab namespace's programs see): the lab's directory
//! under /run/nslab/nodes goes with everything in it, and a target
//! directory the lab had to make goes if it is still empty.

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::Header;
use crate::lab::names;
use crate::lab::space::Spaces;
use crate::net::{NetError, Result};

/// Where the private files of the lab's nodes live: one directory a lab,
/// one a namespace in it (`hosts`, and `dirs/` with a backing directory
/// per private directory).
pub const NODES_DIR: &str = "/run/nslab/nodes";

/// The directory of lab `lab`'s node files.
pub fn lab_dir(lab: &str) -> String {
    format!("{NODES_DIR}/{lab}")
}

/// `rm -rf /run/nslab/nodes/LAB`: the private directories and hosts files
/// of the lab's nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveNodeFiles {
    pub dir: String,
}

impl Step for RemoveNodeFiles {
    fn describe(&self) -> String {
        format!("remove the nodes' private files ({})", self.dir)
    }

    fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        names::check_labname(&header.lab).map_err(|e| e.message)?;
        if self.dir == lab_dir(&header.lab) {
            Ok(())
        } else {
            Err(format!(
                "{} is not where lab '{}' keeps its nodes' files",
                self.dir, header.lab
            ))
        }
    }

    fn apply(&self, _: &mut Spaces, _: &Header) -> Result<Undone> {
        // remove_dir_all does not follow symbolic links a node's programs
        // may have left in there.
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NetError::os("remove the nodes' private files", e)),
        }
        // The last lab out takes the parent (another lab's files keep it).
        let _ = std::fs::remove_dir(NODES_DIR);
        Ok(Undone::Done)
    }
}

/// `rm -rf /run/nslab/nodes/LAB/NS/dirs`: the private directories of one
/// node. The step also says what the node was made with, so that an
/// `nslab repl --attach` session gives the node's programs the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveNodeDirs {
    pub ns: String,
    pub dirs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// Where the private directories of namespace `ns` of lab `lab` live.
pub fn node_dirs(lab: &str, ns: &str) -> String {
    format!("{}/{ns}/dirs", lab_dir(lab))
}

impl Step for RemoveNodeDirs {
    fn describe(&self) -> String {
        format!("remove the private directories of '{}'", self.ns)
    }

    fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        names::check_labname(&header.lab).map_err(|e| e.message)?;
        names::check_nsname(&self.ns).map_err(|e| e.message)?;
        for d in &self.dirs {
            names::check_node_dir(d).map_err(|e| e.message)?;
        }
        if let Some(h) = &self.hostname {
            names::check_hostname(h).map_err(|e| e.message)?;
        }
        Ok(())
    }

    fn apply(&self, _: &mut Spaces, header: &Header) -> Result<Undone> {
        match std::fs::remove_dir_all(node_dirs(&header.lab, &self.ns)) {
            Ok(()) => Ok(Undone::Done),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Undone::Done),
            Err(e) => Err(NetError::os("remove a node's private directories", e)),
        }
    }
}

/// `rmdir PATH`: a target directory that did not exist, made so that a
/// node's private directory could be bound over it; left alone unless
/// empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveMadeDir {
    pub path: String,
}

impl Step for RemoveMadeDir {
    fn describe(&self) -> String {
        format!("remove directory {}", self.path)
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        names::check_node_dir(&self.path).map_err(|e| e.message)
    }

    fn apply(&self, _: &mut Spaces, _: &Header) -> Result<Undone> {
        match std::fs::remove_dir(&self.path) {
            Ok(()) => Ok(Undone::Done),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Undone::Done),
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(Undone::LeftAlone(format!(
                "directory {} (made by the lab for a node's private directory) is not empty now: left alone",
                self.path
            ))),
            Err(e) => Err(NetError::os("remove a directory the lab made", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::ledger::Undo;
    use crate::lab::ledger::tests::header;

    /// Both steps survive the journal, and a journal may name only the
    /// lab's own node directory and plain absolute paths.
    #[test]
    fn node_steps_round_trip_and_name_only_what_the_lab_could_have_made() {
        let h = header();
        let good = [
            Undo::RemoveNodeFiles(RemoveNodeFiles {
                dir: "/run/nslab/nodes/x".into(),
            }),
            Undo::RemoveMadeDir(RemoveMadeDir {
                path: "/var/tmp/frr".into(),
            }),
            Undo::RemoveNodeDirs(RemoveNodeDirs {
                ns: "r1".into(),
                dirs: vec!["/etc/frr".into()],
                hostname: Some("r1".into()),
            }),
        ];
        for step in &good {
            let text = serde_json::to_string(step).unwrap();
            let back: Undo = serde_json::from_str(&text).unwrap();
            assert_eq!(&back, step);
            assert_eq!(step.validate(&h), Ok(()), "{text}");
        }
        let bad = [
            Undo::RemoveNodeFiles(RemoveNodeFiles {
                dir: "/run/nslab/nodes/y".into(),
            }),
            Undo::RemoveNodeFiles(RemoveNodeFiles {
                dir: "/run/nslab/nodes/x/..".into(),
            }),
            Undo::RemoveNodeFiles(RemoveNodeFiles { dir: "/".into() }),
            Undo::RemoveMadeDir(RemoveMadeDir { path: "/".into() }),
            Undo::RemoveMadeDir(RemoveMadeDir {
                path: "etc/frr".into(),
            }),
            Undo::RemoveMadeDir(RemoveMadeDir {
                path: "/etc/../frr".into(),
            }),
            Undo::RemoveNodeDirs(RemoveNodeDirs {
                ns: "..".into(),
                dirs: vec![],
                hostname: None,
            }),
            Undo::RemoveNodeDirs(RemoveNodeDirs {
                ns: "r1".into(),
                dirs: vec!["/".into()],
                hostname: None,
            }),
            Undo::RemoveNodeDirs(RemoveNodeDirs {
                ns: "r1".into(),
                dirs: vec![],
                hostname: Some("-x".into()),
            }),
        ];
        for step in &bad {
            assert!(step.validate(&h).is_err(), "accepted: {step:?}");
        }
    }
}
