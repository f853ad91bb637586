//! `nslab docs`: the API reference, as text or Markdown.

use std::path::Path;
use std::process::ExitCode;

use crate::reference;
use crate::session::{self, CmdResult};

pub fn run(markdown: bool) -> CmdResult {
    let (_ctx, built) = session::api_only(Path::new("."));
    let entries = reference::entries(&built.docs);
    if markdown {
        print!("{}", reference::markdown(&entries));
    } else {
        print!("{}", reference::text(&entries));
    }
    Ok(ExitCode::SUCCESS)
}
