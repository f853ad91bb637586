//! A script file, read, and what its lab is called by default.

use std::path::{Path, PathBuf};

use super::Failure;
use crate::diag;
use crate::lab::LabError;

/// A script file, read.
pub struct Script {
    /// As errors name it (as given on the command line).
    pub shown: String,
    pub text: String,
    /// Where `import "./x"` looks.
    pub dir: PathBuf,
    /// The absolute path the lab's journal records.
    pub path: String,
    /// The lab's default name: the file name, made a valid lab name (see
    /// `names::check_labname`).
    pub lab_name: String,
}

impl Script {
    pub fn load(file: &Path) -> Result<Script, Failure> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Failure::usage(LabError::new(
                format!("cannot read {}: {e}", file.display()),
                "give the path of a .rhai script, e.g. nslab run scripts/quickstart.rhai",
            ))
        })?;
        Ok(Script {
            shown: file.display().to_string(),
            text,
            dir: file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            path: std::fs::canonicalize(file)
                .unwrap_or_else(|_| file.to_path_buf())
                .display()
                .to_string(),
            lab_name: lab_name(file),
        })
    }

    /// The REPL without a start-up file.
    pub fn none() -> Script {
        Script {
            shown: "(repl)".into(),
            text: String::new(),
            dir: PathBuf::from("."),
            path: "(repl)".into(),
            lab_name: "lab".into(),
        }
    }

    pub fn sources(&self) -> diag::Sources {
        diag::Sources::new(&self.shown, &self.text, &self.dir)
    }
}

fn lab_name(file: &Path) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("lab");
    let s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .skip_while(|c| *c == '-')
        .take(64)
        .collect();
    if s.is_empty() { "lab".into() } else { s }
}
