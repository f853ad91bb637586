//! reach() across machines, the driver's side: the first addresses of
//! placed namespaces, and the sweeps of the sources placed on each
//! machine, sent to their agents before the driver's own sweep and read
//! after it, so that every machine pings at once within one budget. The
//! agent's side is `Lab::sweep_for_driver` below, called from
//! cmd/agent/reach.rs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::super::probes::Sweep;
use super::super::{Lab, LabError, NsId, Result};
use super::{refused, unexpected};
use crate::remote::across::{AcrossAnswer, AcrossOp, SweepFrom};
use crate::remote::client::Pending;
use crate::remote::{Answer, Op};

/// The sweeps sent to one machine: its name, the pending answer, and the
/// node index of each source and of each address it pings.
pub(in crate::lab) struct Sent {
    machine: String,
    pending: Pending,
    sources: Vec<(usize, Vec<usize>)>,
}

/// What the agents' sweeps gave: (from, to, replies) by node index, and a
/// machine-wide kernel limit one of them hit.
#[derive(Default)]
pub(in crate::lab) struct Far {
    pub pairs: Vec<(usize, usize, u32)>,
    pub why: Option<String>,
}

/// One machine's sweeps: its name, the sources, and the node index of
/// each source and of each address it pings.
type Batch = (String, Vec<SweepFrom>, Vec<(usize, Vec<usize>)>);

impl Lab {
    /// `first_addrs` of namespaces some of which are placed elsewhere:
    /// this machine's read here, each machine's asked of its agent.
    pub(in crate::lab) fn first_addrs_across(
        &mut self,
        ids: &[NsId],
    ) -> Result<Vec<Option<IpAddr>>> {
        let mut out = vec![None; ids.len()];
        let (here, _): (Vec<usize>, Vec<usize>) =
            (0..ids.len()).partition(|&k| self.placed(ids[k]).is_none());
        let local: Vec<NsId> = here.iter().map(|&k| ids[k]).collect();
        if !local.is_empty() {
            for (k, a) in here.iter().zip(self.first_addrs(&local)?) {
                out[*k] = a;
            }
        }
        let mut by_machine: HashMap<String, Vec<(usize, u64)>> = HashMap::new();
        for (k, id) in ids.iter().enumerate() {
            if let Some((m, r)) = self.placed(*id) {
                by_machine.entry(m).or_default().push((k, r));
            }
        }
        let mut machines: Vec<_> = by_machine.into_iter().collect();
        machines.sort_by(|a, b| a.0.cmp(&b.0));
        for (m, wanted) in machines {
            let op = Op::Across(AcrossOp::FirstAddrs {
                ns: wanted.iter().map(|(_, r)| *r).collect(),
            });
            let Answer::Across(AcrossAnswer::Addrs(addrs)) = self.call_on(&m, op)? else {
                return Err(unexpected(&m));
            };
            if addrs.len() != wanted.len() {
                return Err(unexpected(&m));
            }
            for ((k, _), a) in wanted.iter().zip(addrs) {
                out[*k] = a;
            }
        }
        Ok(out)
    }

    /// Sends the sweeps of placed sources (node index, sweep) to their
    /// machines' agents, one op a machine; answers read by `wait_sweeps`.
    pub(in crate::lab) fn send_sweeps(
        &mut self,
        sources: &[(usize, Sweep)],
        count: u32,
        timeout: Duration,
    ) -> Result<Vec<Sent>> {
        let mut by_machine: Vec<Batch> = Vec::new();
        for (i, (id, src, dsts)) in sources {
            let Some((m, ns)) = self.placed(*id) else {
                return Err(LabError::new("not a placed namespace", "this is a bug"));
            };
            let k = match by_machine.iter().position(|(n, _, _)| *n == m) {
                Some(k) => k,
                None => {
                    by_machine.push((m, Vec::new(), Vec::new()));
                    by_machine.len() - 1
                }
            };
            by_machine[k].1.push(SweepFrom {
                ns,
                src: *src,
                dsts: dsts.clone(),
            });
            // The addresses are every other node's, in node order: of
            // dsts.len() + 1 nodes, all but the source.
            let to = (0..=dsts.len()).filter(|j| j != i).collect();
            by_machine[k].2.push((*i, to));
        }
        let mut sent = Vec::new();
        for (m, from, idx) in by_machine {
            let op = Op::Across(AcrossOp::Sweep {
                from,
                count,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            });
            let pending = self.machine(&m)?.send(op);
            sent.push(Sent {
                machine: m,
                pending,
                sources: idx,
            });
        }
        Ok(sent)
    }

    /// The answers of the sweeps `send_sweeps` sent.
    pub(in crate::lab) fn wait_sweeps(&mut self, sent: Vec<Sent>) -> Result<Far> {
        let mut far = Far::default();
        let mut first_error = None;
        for s in sent {
            let answer = match self.machine(&s.machine) {
                Ok(m) => m.wait(s.pending).map_err(refused),
                Err(e) => Err(e),
            };
            let (got, why) = match answer {
                Ok(Answer::Across(AcrossAnswer::Swept { got, why })) => (got, why),
                Ok(_) => {
                    first_error.get_or_insert(unexpected(&s.machine));
                    continue;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            if got.len() != s.sources.len() {
                first_error.get_or_insert(unexpected(&s.machine));
                continue;
            }
            for ((i, to), replies) in s.sources.iter().zip(got) {
                far.pairs
                    .extend(to.iter().zip(replies).map(|(j, r)| (*i, *j, r)));
            }
            if far.why.is_none() {
                far.why = why.map(|w| format!("on machine '{}': {w}", s.machine));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(far),
        }
    }

    /// The agent's sweep for its driver: `from`'s namespaces are this
    /// lab's, each source's address checked as the driver checks its own.
    pub fn sweep_for_driver(
        &mut self,
        from: &[Sweep],
        count: u32,
        timeout: Duration,
    ) -> Result<(Vec<Vec<u32>>, Option<String>)> {
        for (id, src, _) in from {
            if let Some(s) = src {
                self.check_own_addr(*id, *s, "src")?;
            }
        }
        let r = self.sweep_sources(from, count, timeout)?;
        self.check_cancel()?;
        Ok(r)
    }
}
