//! What the driver asks an agent, and what comes back.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A namespace on the agent, as the agent's lab numbers it.
pub type RemoteNs = u64;

/// One lab operation on the agent's part of the lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Op {
    Netns {
        name: String,
    },
    Addr {
        ns: RemoteNs,
        dev: String,
        addr: IpNet,
    },
    Up {
        ns: RemoteNs,
        dev: String,
        up: bool,
    },
    Route {
        ns: RemoteNs,
        dst: IpNet,
        via: Option<IpAddr>,
        dev: Option<String>,
        metric: Option<u32>,
    },
    Exec {
        ns: RemoteNs,
        argv: Vec<String>,
        timeout_ms: Option<u64>,
        stdin: Option<Vec<u8>>,
        env: Vec<(String, String)>,
    },
    Ping {
        ns: RemoteNs,
        dst: IpAddr,
        count: u32,
        interval_ms: u64,
        timeout_ms: u64,
        size: usize,
        df: bool,
        src: Option<IpAddr>,
        ttl: Option<u8>,
        dev: Option<String>,
    },
    /// `ns.sysctl(key, value)`: answers the old value.
    Sysctl {
        ns: RemoteNs,
        key: String,
        value: String,
    },
    Forwarding {
        ns: RemoteNs,
        on: bool,
    },
    /// A veth with both ends on the agent's machine.
    Veth {
        a: RemoteNs,
        an: String,
        b: RemoteNs,
        bn: String,
    },
    /// One end of a veth between machines: a VXLAN link named as the end,
    /// in `ns`, its UDP socket in the agent's own namespace (the underlay),
    /// sending to `remote`.
    VxlanEnd {
        ns: RemoteNs,
        name: String,
        vni: u32,
        remote: IpAddr,
    },
    /// The lab stays up when the driver goes (keep()).
    Keep,
    /// Tear the agent's part down now (the script ended).
    Teardown,
    /// Nodes: private files, spawned processes, waits (see node.rs).
    Node(super::node::NodeOp),
    /// The explanation's walk on from `ns` (arriving on `iif`, or made
    /// there), as far as the agent's machine goes: `here` is its name and
    /// `driver` the driving machine's, for the words.
    Walk {
        ns: RemoteNs,
        iif: Option<String>,
        reply: bool,
        /// The leg's addresses where it is (a reply's go back).
        src: Option<IpAddr>,
        dst: IpAddr,
        /// The probe's own addresses, as the script gave them.
        pkt_src: Option<IpAddr>,
        pkt_dst: IpAddr,
        /// "tcp", "udp", or none for a ping.
        proto: Option<String>,
        port: Option<u16>,
        size: Option<u64>,
        dnatted: bool,
        here: String,
        driver: String,
    },
    /// A probe from `ns` (expect_reach, expect_blocked, probe, connect),
    /// sent and concluded by the agent; `blocked`: it is expected not to
    /// get through.
    Probe {
        ns: RemoteNs,
        dst: IpAddr,
        src: Option<IpAddr>,
        proto: Option<String>,
        port: Option<u16>,
        size: Option<u64>,
        timeout_ms: u64,
        blocked: bool,
    },
    /// Any other lab call on a namespace there, by name, its arguments as
    /// JSON of the lab's own serde types (this module knows none of them):
    /// bridges and ports, firewall rules, reads (`read`: the script value
    /// the agent computes, as JSON), captures. See lab/remote/calls.rs and
    /// cmd/agent/calls.rs.
    Call {
        ns: RemoteNs,
        call: String,
        args: String,
    },
    /// Across machines: reach()'s first addresses and sweeps, the far
    /// machines of VXLAN ends (see across.rs).
    Across(super::across::AcrossOp),
}

/// The answer to an `Op`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    Done,
    Ns(RemoteNs),
    Text(String),
    Exec {
        code: i64,
        stdout: String,
        stderr: String,
        timed_out: bool,
    },
    Ping(PingAnswer),
    /// What teardown could not undo.
    TornDown {
        errors: Vec<String>,
    },
    Node(super::node::NodeAnswer),
    Walked(WalkAnswer),
    /// "reached", "refused", "lost" or "unsure" (then `why` and `help`).
    Probed {
        outcome: String,
        why: String,
        help: String,
    },
    /// The answer to a `Call`: JSON, and bytes (a capture file's).
    Value {
        json: String,
        bytes: Vec<u8>,
    },
    Across(super::across::AcrossAnswer),
}

/// One hop of a walk on the agent's machine (see `explain::Hop`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireHop {
    pub reply: bool,
    pub ns: String,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub via: Option<IpAddr>,
    /// "forward", "deliver" or "drop".
    pub verdict: String,
    pub why: String,
    pub over: Option<String>,
}

/// How the walk ended on the agent's machine (see `explain::LegEnd`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireEnd {
    Delivered {
        ns: String,
        src: IpAddr,
        dst: IpAddr,
    },
    Lost {
        reason: String,
        help: String,
    },
    Unknown(String),
    Crossed {
        ns: String,
        link: String,
        src: Option<IpAddr>,
        dst: IpAddr,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalkAnswer {
    pub hops: Vec<WireHop>,
    pub end: WireEnd,
    /// (reason, help)
    pub suspects: Vec<(String, String)>,
    pub checked: Vec<String>,
    pub firewalled: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PingAnswer {
    pub sent: u32,
    /// (seq, ttl, rtt in microseconds, from, bytes)
    pub replies: Vec<(u16, Option<u8>, u64, IpAddr, usize)>,
    pub error: Option<String>,
    pub why: Option<String>,
    /// Echoes were lost while the agent's kernel dropped packets machine-wide.
    pub busy: bool,
}

/// A capture's state on the agent (`Op::Call` "capture_state",
/// "capture_stop", "capture_data").
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct CapState {
    pub packets: u64,
    pub running: bool,
    pub dropped: u64,
    /// The file's length there.
    pub len: u64,
}

/// How much of a capture file one answer carries (a frame of the
/// transport is at most 8 MiB).
pub const CHUNK: u64 = 4 << 20;

/// Why an agent did not do what was asked: the lab's error, in words.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    pub message: String,
    pub help: String,
    /// The VNI asked for is used by another lab on that machine: the
    /// driver takes the next.
    pub vni_taken: bool,
}

impl Refusal {
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            help: help.into(),
            vni_taken: false,
        }
    }
}

/// What the agent says to a driver it accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    /// The agent's UDP port for VXLAN links between machines.
    pub vxlan_port: u16,
    /// The agent's address on the underlay, as the driver's connection
    /// reached it (the local end of the TCP connection).
    pub underlay: IpAddr,
    /// This driver's session on the agent: `resume` with it over a new
    /// connection gets the same lab back, within the grace period.
    pub session: String,
    /// How long the agent keeps the lab once the connection is gone
    /// (`--grace-ms`): the driver tries to connect again that long.
    pub grace_ms: u64,
}

#[tarpc::service]
pub trait Agent {
    /// Opens the driver's session: `proof` is the HMAC of the token
    /// (`tls::proof`), `lab` the driver's lab name, `prefix` its
    /// `--prefix` (the agent's namespaces get it too, so two copies of a
    /// lab on the same machines do not clash by name). Every other call is
    /// refused until this succeeded.
    async fn hello(proof: Vec<u8>, lab: String, prefix: Option<String>)
    -> Result<Welcome, Refusal>;
    /// One operation on the agent's part of the lab, numbered by the
    /// driver: sent again with the same number over a new connection (the
    /// old one broke before the answer came), it is not done twice.
    async fn op(seq: u64, op: Op) -> Result<Answer, Refusal>;
    /// Takes the lab of `session` (from `hello`'s Welcome) over a new
    /// connection, after the old one broke: `proof` as in `hello`.
    /// Refused once the agent has torn the lab down (the grace period
    /// passed) or when it never held it (it was started again).
    async fn resume(proof: Vec<u8>, session: String) -> Result<Welcome, Refusal>;
    /// The driver stopped waiting for the op under way (Ctrl-C): the lab
    /// interrupts it, as Ctrl-C interrupts an op on one machine. A broken
    /// connection is not this: an op then runs on and its answer waits
    /// for the driver to come back.
    async fn interrupt();
}
