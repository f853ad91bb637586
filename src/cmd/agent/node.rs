//! The agent's side of nodes on its namespaces (`Op::Node`): private
//! directories and files, spawned processes and the waits for them, each
//! the same `Lab` call `nslab run` makes. The processes are this lab's, so
//! its teardown stops them.

use std::time::Duration;

use super::{Part, refusal};
use crate::lab::{self, NodeSpec, ProcId};
use crate::remote::node::{NodeAnswer, NodeOp};
use crate::remote::{Answer, Refusal};

/// A number the driver sent, as the lab's index.
fn index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Part {
    pub(super) fn node(&mut self, op: NodeOp) -> Result<Answer, Refusal> {
        let id = match op.ns() {
            Some(ns) => self.ns(ns)?,
            None => lab::HOST,
        };
        let Some(lab) = self.lab.as_mut() else {
            return Err(Refusal::new(
                "this lab was torn down here already",
                "run the script again",
            ));
        };
        let done = |r: lab::Result<()>| r.map(|_| Answer::Done).map_err(refusal);
        match op {
            NodeOp::Netns {
                name,
                dirs,
                hostname,
            } => {
                let id = lab
                    .netns_node(&name, NodeSpec { dirs, hostname })
                    .map_err(refusal)?;
                self.mine.insert(id);
                Ok(Answer::Ns(id as u64))
            }
            NodeOp::PrivateDirs { dirs, .. } => done(lab.private_dirs(id, dirs)),
            NodeOp::Write { path, text, .. } => done(lab.node_write(id, &path, &text)),
            NodeOp::Read { path, .. } => {
                lab.node_read(id, &path).map(Answer::Text).map_err(refusal)
            }
            NodeOp::Exists { path, .. } => lab
                .node_exists(id, &path)
                .map(|b| Answer::Node(NodeAnswer::Bool(b)))
                .map_err(refusal),
            NodeOp::Chown { path, owner, .. } => done(lab.node_chown(id, &path, &owner)),
            NodeOp::Spawn { argv, .. } => match lab.spawn(id, &argv).map_err(refusal)? {
                ProcId::Here(i) => Ok(Answer::Node(NodeAnswer::Proc(i as u64))),
                ProcId::Placed(_) => Err(Refusal::new(
                    "this agent's namespace is on another machine",
                    "run the same nslab on every machine",
                )),
            },
            NodeOp::Process { proc } => {
                let (pid, running, stdout, stderr) = lab
                    .process_state(ProcId::Here(index(proc)))
                    .map_err(refusal)?;
                Ok(Answer::Node(NodeAnswer::Process {
                    pid,
                    running,
                    stdout,
                    stderr,
                }))
            }
            NodeOp::Stop { proc } => done(lab.stop_process(ProcId::Here(index(proc)))),
            NodeOp::WaitSocket {
                path,
                timeout_ms,
                process,
                ..
            } => done(lab.wait_socket(
                id,
                &path,
                Duration::from_millis(timeout_ms),
                process.map(|p| ProcId::Here(index(p))),
            )),
            NodeOp::WaitRoute {
                dst,
                protocol,
                timeout_ms,
                ..
            } => done(lab.wait_route(id, dst, protocol, Duration::from_millis(timeout_ms))),
        }
    }
}
