//! The agent's side of reach() across machines (`Op::Reach`): the first
//! addresses of its namespaces, and the sweeps of the sources placed
//! here, each the same `Lab` call the driver makes for its own.

use std::time::Duration;

use super::{Part, refusal};
use crate::remote::reach::{ReachAnswer, ReachOp};
use crate::remote::{Answer, Refusal};

impl Part {
    pub(super) fn reach(&mut self, op: ReachOp) -> Result<Answer, Refusal> {
        match op {
            ReachOp::FirstAddrs { ns } => {
                let ids = ns
                    .into_iter()
                    .map(|n| self.ns(n))
                    .collect::<Result<Vec<_>, _>>()?;
                let lab = self.lab()?;
                let addrs = lab.first_addrs(&ids).map_err(refusal)?;
                Ok(Answer::Reach(ReachAnswer::Addrs(addrs)))
            }
            ReachOp::Sweep {
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
                Ok(Answer::Reach(ReachAnswer::Swept { got, why }))
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
