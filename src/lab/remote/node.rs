//! Nodes on a placed namespace, the driver's side: private directories and
//! files, spawned processes and the waits for daemons, each one
//! `Op::Node` carried out by the agent there (cmd/agent/node.rs). The
//! processes live on the agent's machine and end with its part of the lab;
//! the driver knows them by a number of its own (`ProcId::Placed`).

use std::time::Duration;

use ipnet::IpNet;

use super::super::{Lab, LabError, NodeSpec, NsId, ProcId, Result};
use super::unexpected;
use crate::remote::Answer;
use crate::remote::node::{NodeAnswer, NodeOp};
use crate::remote::proto::Op;

/// (pid, running, stdout, stderr) of a spawned process.
pub type ProcState = (u32, bool, String, String);

impl Lab {
    /// Runs a node op on the machine of placed namespace `id`, if it is one.
    fn node_on(&mut self, id: NsId, op: impl FnOnce(u64) -> NodeOp) -> Option<Result<Answer>> {
        let (m, ns) = self.placed(id)?;
        Some(self.call_on(&m, Op::Node(op(ns))))
    }

    /// `netns(name, #{on, dirs, hostname})`: a node made by the agent there.
    pub fn netns_node_on(&mut self, name: &str, machine: &str, spec: NodeSpec) -> Result<NsId> {
        spec.check()?;
        let op = Op::Node(NodeOp::Netns {
            name: name.into(),
            dirs: spec.dirs,
            hostname: spec.hostname,
        });
        self.placed_netns(name, machine, op)
    }

    pub(in crate::lab) fn remote_private_dirs(
        &mut self,
        id: NsId,
        dirs: &[String],
    ) -> Option<Result<()>> {
        let dirs = dirs.to_vec();
        let r = self.node_on(id, |ns| NodeOp::PrivateDirs { ns, dirs })?;
        Some(r.map(|_| ()))
    }

    pub(in crate::lab) fn remote_write(
        &mut self,
        id: NsId,
        path: &str,
        text: &str,
    ) -> Option<Result<()>> {
        let r = self.node_on(id, |ns| NodeOp::Write {
            ns,
            path: path.into(),
            text: text.into(),
        })?;
        Some(r.map(|_| ()))
    }

    pub(in crate::lab) fn remote_read(&mut self, id: NsId, path: &str) -> Option<Result<String>> {
        let m = self.machine_of(id)?.to_string();
        let r = self.node_on(id, |ns| NodeOp::Read {
            ns,
            path: path.into(),
        })?;
        Some(match r {
            Ok(Answer::Text(t)) => Ok(t),
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }

    pub(in crate::lab) fn remote_exists(&mut self, id: NsId, path: &str) -> Option<Result<bool>> {
        let m = self.machine_of(id)?.to_string();
        let r = self.node_on(id, |ns| NodeOp::Exists {
            ns,
            path: path.into(),
        })?;
        Some(match r {
            Ok(Answer::Node(NodeAnswer::Bool(b))) => Ok(b),
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }

    pub(in crate::lab) fn remote_chown(
        &mut self,
        id: NsId,
        path: &str,
        owner: &str,
    ) -> Option<Result<()>> {
        let r = self.node_on(id, |ns| NodeOp::Chown {
            ns,
            path: path.into(),
            owner: owner.into(),
        })?;
        Some(r.map(|_| ()))
    }

    /// `ns.spawn(argv)` on a placed namespace: the agent's process, known
    /// here by a number of this lab's.
    pub(in crate::lab) fn remote_spawn(
        &mut self,
        id: NsId,
        argv: &[String],
    ) -> Option<Result<ProcId>> {
        let m = self.machine_of(id)?.to_string();
        self.send_hosts(&m);
        let r = self.node_on(id, |ns| NodeOp::Spawn {
            ns,
            argv: argv.to_vec(),
        })?;
        Some(match r {
            Ok(Answer::Node(NodeAnswer::Proc(p))) => {
                self.remote.procs.push((m, p));
                Ok(ProcId::Placed(self.remote.procs.len() - 1))
            }
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }

    /// The machine and the agent's number of placed process `idx`.
    fn placed_proc(&self, idx: usize) -> Result<(String, u64)> {
        self.remote.procs.get(idx).cloned().ok_or_else(|| {
            LabError::new(
                "no such process: its lab's part on that machine has ended",
                "use the handle ns.spawn() returned, while the lab runs",
            )
        })
    }

    /// pid (on its machine), running, stdout and stderr of placed process `idx`.
    pub(in crate::lab) fn remote_process(&mut self, idx: usize) -> Result<ProcState> {
        let (m, proc) = self.placed_proc(idx)?;
        match self.call_on(&m, Op::Node(NodeOp::Process { proc }))? {
            Answer::Node(NodeAnswer::Process {
                pid,
                running,
                stdout,
                stderr,
            }) => Ok((pid, running, stdout, stderr)),
            _ => Err(unexpected(&m)),
        }
    }

    /// The error for a wait on local namespace `id` given placed process `idx`.
    pub(in crate::lab) fn placed_proc_elsewhere(&self, id: NsId, idx: usize) -> LabError {
        let m = self.placed_proc(idx).map(|(m, _)| m).ok();
        elsewhere(self, id, Some(m.as_deref().unwrap_or("another machine")))
    }

    pub(in crate::lab) fn remote_stop(&mut self, idx: usize) -> Result<()> {
        let (m, proc) = self.placed_proc(idx)?;
        self.call_on(&m, Op::Node(NodeOp::Stop { proc }))
            .map(|_| ())
    }

    /// `ns.wait_socket` on a placed namespace: the whole wait runs on the
    /// agent, one call; `process` must be one spawned on that machine.
    pub(in crate::lab) fn remote_wait_socket(
        &mut self,
        id: NsId,
        path: &str,
        timeout: Duration,
        process: Option<ProcId>,
    ) -> Option<Result<()>> {
        let m = self.machine_of(id)?.to_string();
        let process = match process {
            None => None,
            Some(ProcId::Placed(i)) => match self.placed_proc(i) {
                Ok((pm, p)) if pm == m => Some(p),
                Ok((pm, _)) => return Some(Err(elsewhere(self, id, Some(&pm)))),
                Err(e) => return Some(Err(e)),
            },
            Some(ProcId::Here(_)) => return Some(Err(elsewhere(self, id, None))),
        };
        let r = self.node_on(id, |ns| NodeOp::WaitSocket {
            ns,
            path: path.into(),
            timeout_ms: millis(timeout),
            process,
        })?;
        Some(r.map(|_| ()))
    }

    /// `ns.wait_route` on a placed namespace: the wait runs on the agent.
    pub(in crate::lab) fn remote_wait_route(
        &mut self,
        id: NsId,
        dst: IpNet,
        protocol: Option<u8>,
        timeout: Duration,
    ) -> Option<Result<()>> {
        let r = self.node_on(id, |ns| NodeOp::WaitRoute {
            ns,
            dst,
            protocol,
            timeout_ms: millis(timeout),
        })?;
        Some(r.map(|_| ()))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A wait on namespace `id` for a process that runs on another machine
/// (`proc_on`; None: this one).
fn elsewhere(lab: &Lab, id: NsId, proc_on: Option<&str>) -> LabError {
    let said = |m: Option<&str>| m.map_or("this machine".to_string(), |m| format!("machine '{m}'"));
    LabError::new(
        format!(
            "the process given runs on {}, and namespace '{}' is on {}",
            said(proc_on),
            lab.sp.name(id),
            said(lab.machine_of(id))
        ),
        "give wait_socket the Process that ns.spawn() of the same namespace returned",
    )
}
