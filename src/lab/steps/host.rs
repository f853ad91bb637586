//! Undoing a host setting (`ns.sysctl`, `ns.forwarding` on the host): the
//! lab lets go of it, and the last lab holding it puts the old value back.

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::Header;
use crate::lab::space::Spaces;
use crate::lab::{names, shared};
use crate::net::Result;

/// Lets go of a host sysctl this lab holds; the last lab holding it
/// restores the value from before the first one (see `shared`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSysctl {
    pub key: String,
}

impl Step for ReleaseSysctl {
    fn describe(&self) -> String {
        format!("give back {} in 'host'", self.key)
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        names::check_sysctl_key(&self.key).map_err(|e| e.message)
    }

    fn apply(&self, _: &mut Spaces, header: &Header) -> Result<Undone> {
        Ok(match shared::release(&shared::holder(header), &self.key)? {
            None => Undone::Done,
            Some(note) => Undone::LeftAlone(note),
        })
    }
}
