//! Hosts files across machines: every program of the lab, wherever it
//! runs, finds every namespace of the lab by name. The driver asks each
//! agent for the hosts lines of its namespaces (`AcrossOp::HostLines`),
//! kept until an op on that machine may have changed them, lists them in
//! its own namespaces' hosts files, and before a program starts on an
//! agent's machine sends it the lines of the other machines
//! (`AcrossOp::Hosts`) when they changed since it last did.

use std::collections::HashMap;

use super::super::Lab;
use crate::remote::Answer;
use crate::remote::Op;
use crate::remote::across::{AcrossAnswer, AcrossOp, HostEntry};
use crate::remote::node::NodeOp;

#[derive(Default)]
pub struct Hosts {
    /// Each machine's lines, as its agent last gave them.
    of: HashMap<String, Vec<HostEntry>>,
    /// What each agent was last sent.
    sent: HashMap<String, Vec<HostEntry>>,
}

/// `op` is about to run on `machine`: the lines kept for it are stale if
/// the op may change its namespaces' addresses or names.
pub(super) fn may_change(h: &mut Hosts, machine: &str, op: &Op) {
    let reads = matches!(
        op,
        Op::Across(_)
            | Op::Walk { .. }
            | Op::Probe { .. }
            | Op::Ping { .. }
            | Op::Node(NodeOp::Read { .. } | NodeOp::Exists { .. } | NodeOp::Process { .. })
    );
    if !reads {
        h.of.remove(machine);
    }
}

impl Lab {
    /// The machines this lab placed namespaces on, sorted.
    fn placing_machines(&self) -> Vec<String> {
        let mut ms: Vec<String> = self
            .remote
            .placed
            .values()
            .map(|(m, _)| m.clone())
            .collect();
        ms.sort();
        ms.dedup();
        ms
    }

    /// The hosts lines of machine `m`'s namespaces: kept, or asked of its
    /// agent. A hosts file is a convenience: an agent that cannot answer
    /// leaves its lines out.
    fn lines_of(&mut self, m: &str) -> Vec<HostEntry> {
        if let Some(l) = self.remote.hosts.of.get(m) {
            return l.clone();
        }
        match self.call_on(m, Op::Across(AcrossOp::HostLines)) {
            Ok(Answer::Across(AcrossAnswer::Hosts(l))) => {
                self.remote.hosts.of.insert(m.to_string(), l.clone());
                l
            }
            _ => Vec::new(),
        }
    }

    /// The hosts lines of the lab's namespaces on other machines (the
    /// driver; an agent has none of its own to ask).
    pub(in crate::lab) fn far_host_entries(&mut self) -> Vec<HostEntry> {
        let mut out = Vec::new();
        for m in self.placing_machines() {
            out.extend(self.lines_of(&m));
        }
        out
    }

    /// Before a program starts on machine `m`: its agent gets the lines of
    /// every namespace not on it (this machine's, the other agents'), if
    /// they changed since it last got them.
    pub(super) fn send_hosts(&mut self, m: &str) {
        let Ok(mut entries) = self.own_host_entries() else {
            return;
        };
        for other in self.placing_machines() {
            if other != m {
                entries.extend(self.lines_of(&other));
            }
        }
        if self.remote.hosts.sent.get(m) == Some(&entries) {
            return;
        }
        let op = Op::Across(AcrossOp::Hosts {
            entries: entries.clone(),
        });
        if self.call_on(m, op).is_ok() {
            self.remote.hosts.sent.insert(m.to_string(), entries);
        }
    }
}
