//! The journal: /run/nslab/LAB.json, one JSON object per line. The first
//! line describes the lab; each next line is an undo step, written before the
//! change it undoes reaches the host. `nslab down` replays it after a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{LabError, Result};
use super::ledger::Undo;

pub const JOURNAL_DIR: &str = "/run/nslab";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub lab: String,
    pub pid: u32,
    pub script: String,
    pub started: u64,
    pub isolated: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Step { seq: u64, undo: Undo },
    Cancel { cancel: u64 },
    Kept { kept: bool },
}

/// An open journal the running lab appends to.
pub struct Journal {
    path: PathBuf,
    file: File,
    seq: u64,
}

pub fn path_for(lab: &str) -> PathBuf {
    Path::new(JOURNAL_DIR).join(format!("{lab}.json"))
}

impl Journal {
    /// Starts the journal of a new lab; refuses a name that is in use.
    pub fn create(header: &Header) -> Result<Journal> {
        fs::create_dir_all(JOURNAL_DIR).map_err(|e| {
            LabError::new(
                format!("cannot create {JOURNAL_DIR}: {e}"),
                "nslab keeps its journal there; run as root or with --isolated",
            )
        })?;
        let path = path_for(&header.lab);
        let mut file = match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let state = read(&path)
                    .map(|j| j.status())
                    .unwrap_or_else(|_| "in use".into());
                return Err(LabError::new(
                    format!("a lab named '{}' already exists ({state})", header.lab),
                    format!(
                        "remove it with `nslab down {}`, or give this one another name with --name",
                        header.lab
                    ),
                ));
            }
            Err(e) => {
                return Err(LabError::new(
                    format!("cannot write the journal {}: {e}", path.display()),
                    "nslab keeps its journal under /run/nslab; run as root or with --isolated",
                ));
            }
        };
        let line = serde_json::to_string(header).map_err(json_err)?;
        writeln!(file, "{line}").map_err(io_err)?;
        Ok(Journal { path, file, seq: 0 })
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

    /// The change of step `seq` did not happen after all.
    pub fn cancel(&mut self, seq: u64) -> Result<()> {
        self.append(&Line::Cancel { cancel: seq })
    }

    pub fn mark_kept(&mut self) -> Result<()> {
        self.append(&Line::Kept { kept: true })
    }

    /// Teardown finished: the lab is gone, and so is its journal.
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
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

/// A journal read back from disk.
#[derive(Debug)]
pub struct Record {
    pub path: PathBuf,
    pub header: Header,
    pub steps: Vec<Undo>,
    pub kept: bool,
}

impl Record {
    /// Is the process that made the lab still running?
    pub fn alive(&self) -> bool {
        let comm =
            fs::read_to_string(format!("/proc/{}/comm", self.header.pid)).unwrap_or_default();
        comm.trim() == "nslab"
    }

    pub fn status(&self) -> String {
        match (self.alive(), self.kept) {
            (true, _) => format!("running, pid {}", self.header.pid),
            (false, true) => "kept".into(),
            (false, false) => format!("left behind by pid {}, which is gone", self.header.pid),
        }
    }
}

pub fn read(path: &Path) -> std::io::Result<Record> {
    let f = File::open(path)?;
    let mut lines = BufReader::new(f).lines();
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let header: Header = serde_json::from_str(&lines.next().ok_or_else(|| bad("empty journal"))??)
        .map_err(|e| bad(&e.to_string()))?;
    let mut steps: Vec<(u64, Undo)> = Vec::new();
    let mut kept = false;
    for line in lines {
        let line = line?;
        // A torn last line (crash mid-write) is skipped, not fatal.
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Step { seq, undo }) => steps.push((seq, undo)),
            Ok(Line::Cancel { cancel }) => steps.retain(|(s, _)| *s != cancel),
            Ok(Line::Kept { kept: k }) => kept = k,
            Err(_) => {}
        }
    }
    Ok(Record {
        path: path.to_path_buf(),
        header,
        steps: steps.into_iter().map(|(_, u)| u).collect(),
        kept,
    })
}

/// All journals under /run/nslab, sorted by lab name.
pub fn list() -> Vec<Record> {
    let mut out: Vec<Record> = fs::read_dir(JOURNAL_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter_map(|p| read(&p).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.header.lab.cmp(&b.header.lab));
    out
}
