//! Nodes on a placed namespace: its private directories and files, the
//! processes it spawns, and the waits for them (a daemon's socket, a route
//! a daemon installs), carried out by the agent. One `Op::Node` on the
//! wire, so that these ops stay in one place on both sides.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::proto::RemoteNs;

/// A process the agent's lab spawned, as its lab numbers it.
pub type RemoteProc = u64;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NodeOp {
    /// `netns(name, #{on, dirs, hostname})`.
    Netns {
        name: String,
        dirs: Vec<String>,
        hostname: Option<String>,
    },
    PrivateDirs {
        ns: RemoteNs,
        dirs: Vec<String>,
    },
    Write {
        ns: RemoteNs,
        path: String,
        text: String,
    },
    Read {
        ns: RemoteNs,
        path: String,
    },
    Exists {
        ns: RemoteNs,
        path: String,
    },
    Chown {
        ns: RemoteNs,
        path: String,
        owner: String,
    },
    Spawn {
        ns: RemoteNs,
        argv: Vec<String>,
    },
    /// pid, running, stdout, stderr of a spawned process.
    Process {
        proc: RemoteProc,
    },
    Stop {
        proc: RemoteProc,
    },
    WaitSocket {
        ns: RemoteNs,
        path: String,
        timeout_ms: u64,
        process: Option<RemoteProc>,
    },
    WaitRoute {
        ns: RemoteNs,
        dst: IpNet,
        protocol: Option<u8>,
        timeout_ms: u64,
    },
}

impl NodeOp {
    /// The namespace the op names, if it names one.
    pub fn ns(&self) -> Option<RemoteNs> {
        match self {
            NodeOp::Netns { .. } | NodeOp::Process { .. } | NodeOp::Stop { .. } => None,
            NodeOp::PrivateDirs { ns, .. }
            | NodeOp::Write { ns, .. }
            | NodeOp::Read { ns, .. }
            | NodeOp::Exists { ns, .. }
            | NodeOp::Chown { ns, .. }
            | NodeOp::Spawn { ns, .. }
            | NodeOp::WaitSocket { ns, .. }
            | NodeOp::WaitRoute { ns, .. } => Some(*ns),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NodeAnswer {
    Bool(bool),
    Proc(RemoteProc),
    Process {
        pid: u32,
        running: bool,
        stdout: String,
        stderr: String,
    },
}
