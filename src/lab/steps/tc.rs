//! Undoing `link.shape()`: the root qdisc the lab put on a link goes, and
//! the kernel's default comes back.

use serde::{Deserialize, Serialize};

use super::{Step, Undone, check_if, check_ref, on_own_link_with};
use crate::lab::journal::Header;
use crate::lab::plan::q;
use crate::lab::space::{NsRef, Spaces};
use crate::net::Result;

/// `tc qdisc del dev DEV root`, if the root qdisc still has the handle
/// `major:` the lab gave it (the kernel then puts its default back)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteQdisc {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub major: u16,
}

/// `tc [-n NS] qdisc del dev DEV root`.
pub fn delete_qdisc_shell(ns: &NsRef, dev: &str) -> String {
    let tc = match ns {
        NsRef::Host => "tc ".to_string(),
        NsRef::Named(n) => format!("tc -n {} ", q(n)),
    };
    format!("{tc}qdisc del dev {} root", q(dev))
}

impl Step for DeleteQdisc {
    fn describe(&self) -> String {
        format!(
            "delete qdisc {:x}: of '{}' in '{}'",
            self.major,
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)?;
        if crate::lab::shaping::is_lab_major(self.major) {
            Ok(())
        } else {
            Err(format!(
                "qdisc handle {:x}: is not one nslab gives",
                self.major
            ))
        }
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let DeleteQdisc {
            ns,
            dev,
            ifindex,
            major,
        } = self;
        let lab = &header.lab;
        on_own_link_with(sp, ns, dev, *ifindex, lab, async |r, i| {
            match r.root_qdisc(i).await? {
                Some(q) if q.major == *major => r.del_root_qdisc(i).await.map(|_| Undone::Done),
                // Removed already (link.unshape()): the default is back.
                None => Ok(Undone::Done),
                Some(q) if q.major == 0 => Ok(Undone::Done),
                Some(q) => Ok(Undone::LeftAlone(format!(
                    "the root qdisc of '{dev}' in '{}' is {} {:x}:, not the one lab '{lab}' put there: left alone",
                    ns.display(),
                    q.kind,
                    q.major
                ))),
            }
        })
    }
}
