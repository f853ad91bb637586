//! What a lab across machines asks of an agent beyond single namespaces
//! (one `Op::Across` on the wire; the agent's side in
//! `cmd/agent/across.rs`): for reach(), the first addresses of placed
//! namespaces and the sweeps of the sources placed on one machine, with
//! the same budget as the driver's own; for the path walk, which machine
//! the far end of a VXLAN link between two agents is on; for hosts files,
//! the names and addresses of the namespaces on the other machines.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::proto::RemoteNs;

/// One source of a sweep: its namespace, the address it pings from (None:
/// the kernel's pick), and the addresses it pings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFrom {
    pub ns: RemoteNs,
    pub src: Option<IpAddr>,
    pub dsts: Vec<IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AcrossOp {
    /// The address other namespaces reach each of `ns` by (`first_addr`).
    FirstAddrs { ns: Vec<RemoteNs> },
    /// Each source pings its addresses, all at once, `count` echoes each,
    /// within `timeout_ms` (sent again inside it as `reach` does).
    Sweep {
        from: Vec<SweepFrom>,
        count: u32,
        timeout_ms: u64,
    },
    /// VXLAN end `link` of `ns` leads to machine `machine` (not the
    /// driver's): the agent's walk names it so.
    FarEnd {
        ns: RemoteNs,
        link: String,
        machine: String,
    },
    /// The hosts lines of the agent's namespaces: names, addresses.
    HostLines,
    /// The namespaces of the lab on other machines, with their addresses,
    /// for the hosts file of the agent's namespaces.
    Hosts { entries: Vec<HostEntry> },
}

/// One namespace in a hosts file: its names (the namespace's, then its
/// host name when another) and addresses.
pub type HostEntry = (String, Vec<IpAddr>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AcrossAnswer {
    Addrs(Vec<Option<IpAddr>>),
    /// Replies per source and address, as asked; `why`: a machine-wide
    /// kernel limit the agent's machine hit while replies were missing.
    Swept {
        got: Vec<Vec<u32>>,
        why: Option<String>,
    },
    Hosts(Vec<HostEntry>),
}
