//! `nslab run FILE`: build the lab the script describes, run it, tear the
//! lab down (unless kept).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::engine;
use crate::lab::names;
use crate::session::{self, CmdResult, Failure, Mode, Script, Session};

pub struct Args {
    pub file: PathBuf,
    pub params: HashMap<String, String>,
    pub keep: bool,
    pub isolated: bool,
    pub name: Option<String>,
    pub prefix: Option<String>,
    /// `--machines`: other machines' agents, and the token they share.
    pub machines: Vec<(String, String)>,
    pub token_file: Option<PathBuf>,
    pub limits: engine::Limits,
}

pub fn run(a: Args) -> CmdResult {
    if let Some(n) = &a.name {
        names::check_labname(n).map_err(Failure::usage)?;
    }
    if let Some(p) = &a.prefix {
        names::check_prefix(p).map_err(Failure::usage)?;
    }
    let token = match &a.token_file {
        Some(f) => Some(
            crate::remote::read_token(f)
                .map_err(|r| Failure::usage(crate::lab::LabError::new(r.message, r.help)))?,
        ),
        None => None,
    };
    let script = Script::load(&a.file)?;
    crate::stamps::stamp("script read");
    // Signals first (no thread is started, so isolation still works).
    let cancel = session::install_cancel()?;
    // A script that makes namespaces gets its lab's first one made while
    // its engine is built (`Spaces::prestart`). Not when the lab will be
    // isolated: that needs this process single-threaded.
    if !a.isolated && crate::isolate::is_root() && script.text.contains("netns") {
        crate::lab::space::Spaces::prestart(engine::warm);
    }
    let mut s = Session::new(script, a.params, a.limits, Mode::Run, cancel);
    crate::stamps::stamp("engine built");
    s.compile()?;
    crate::stamps::stamp("script compiled");
    s.set_prefix(a.prefix);
    if let Some(t) = token {
        s.set_machines(a.machines, t);
    }
    s.start_lazily(a.name, a.isolated, a.keep);
    let out = s.run();
    crate::stamps::stamp("script ended");
    session::exit(s.finish_last(out.code))
}
