//! Who this run of the lab is, and what is to become of it: its name and
//! journal header, kept or not, attached or not, isolated or not, and the
//! flag that interrupts it.

use super::error::{LabError, Result};
use super::journal::Header;
use crate::cancel::Cancel;

pub struct Identity {
    name: String,
    /// Who this run of the lab is (journaled first): its name and id mark
    /// what it makes and hold host settings.
    header: Header,
    keep: bool,
    /// An `nslab repl --attach` session on a kept lab (see attach.rs).
    attached: bool,
    /// Isolated or rootless: the lab's processes go in a PID namespace.
    isolated: bool,
    cancel: Cancel,
    torn_down: bool,
}

impl Identity {
    pub fn new(header: Header, cancel: Cancel) -> Identity {
        Identity {
            name: header.lab.clone(),
            isolated: header.isolated,
            header,
            keep: false,
            attached: false,
            cancel,
            torn_down: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Leave the lab up at the end.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    pub fn is_kept(&self) -> bool {
        self.keep
    }

    /// An `nslab repl --attach` session: the lab is kept, whatever it builds.
    pub fn attached(&mut self) {
        self.keep = true;
        self.attached = true;
    }

    pub fn is_attached(&self) -> bool {
        self.attached
    }

    pub fn is_isolated(&self) -> bool {
        self.isolated
    }

    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// An error once the lab is being torn down (interrupted).
    pub fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_set() {
            return Err(LabError::new("interrupted", "the lab is being torn down"));
        }
        Ok(())
    }

    /// True the first time only: a lab is torn down once.
    pub fn tear_down(&mut self) -> bool {
        !std::mem::replace(&mut self.torn_down, true)
    }
}
