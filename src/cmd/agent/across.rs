//! The agent's side of `Op::Across`: the first addresses of its
//! namespaces and the sweeps of the sources placed here for reach(),
//! each the same `Lab` call the driver makes for its own; the machine of
//! the far end of a VXLAN link, for the walk's words.

use std::time::Duration;

use super::{Part, refusal};
use crate::remote::across::{AcrossAnswer, AcrossOp};
use crate::remote::{Answer, Refusal};

impl Part {
    pub(super) fn across(&mut self, op: AcrossOp) -> Result<Answer, Refusal> {
        match op {
            AcrossOp::FirstAddrs { ns } => {
                let ids = ns
                    .into_iter()
                    .map(|n| self.ns(n))
                    .collect::<Result<Vec<_>, _>>()?;
                let lab = self.lab()?;
                let addrs = lab.first_addrs(&ids).map_err(refusal)?;
                Ok(Answer::Across(AcrossAnswer::Addrs(addrs)))
            }
            AcrossOp::Sweep {
                from,
                count,
                timeout_ms,
            } => {
                let from = from
                    .into_iter()
                    .map(|f| Ok((self.ns(f.ns)?, f.src, f.dsts)))
                    .collect::<Result<Vec<_>, Refusal>>()?;
                let lab = self.lab()?;
                let (got, why) = lab
                    .sweep_for_driver(&from, count, Duration::from_millis(timeout_ms))
                    .map_err(refusal)?;
                Ok(Answer::Across(AcrossAnswer::Swept { got, why }))
            }
            AcrossOp::HostLines => {
                let entries = self.lab()?.own_host_entries().map_err(refusal)?;
                Ok(Answer::Across(AcrossAnswer::Hosts(entries)))
            }
            AcrossOp::Hosts { entries } => {
                self.lab()?.set_far_hosts(entries);
                Ok(Answer::Done)
            }
            AcrossOp::FarEnd { ns, link, machine } => {
                let id = self.ns(ns)?;
                self.lab()?.note_far_machine(id, &link, &machine);
                Ok(Answer::Done)
            }
        }
    }

    fn lab(&mut self) -> Result<&mut crate::lab::Lab, Refusal> {
        self.lab.as_mut().ok_or_else(|| {
            Refusal::new(
                "this lab was torn down here already",
                "run the script again",
            )
        })
    }
}
