//! What an op did, told once (`Lab::tell`); the watchers listen: the
//! progress line counts what was built, `nslab graph` notes the lab as it
//! was before a namespace goes, and `nslab plan` writes the shell lines of
//! an event (`plan::lines`, pure; an nft transaction's lines go under the
//! call that queued its first rule, not the one applying it).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::space::NsId;
use super::{Lab, plan};
use super::{PingOpts, RouteReq};
use crate::net::exec::RunOpts;
use crate::net::probe::Proto;
use crate::net::rtnl::{BridgeOpts, PortOpts, RuleSpec};
use crate::progress;

/// Something an op did.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// `ip netns add NAME` (+ lo up); the kernel's name (with the prefix).
    NetnsMade { name: &'a str },
    /// `ip netns del NAME`, by the script; the kernel's name.
    NetnsDeleted { name: &'a str },
    /// A link of another kind than veth or bridge (`kind`: its `type …`
    /// as `ip link add` takes it; empty unless planning), beside `parent`.
    LinkMade {
        ns: NsId,
        name: &'a str,
        kind: &'a str,
        parent: Option<(NsId, &'a str)>,
    },
    /// A veth, its ends `a` and `b` (namespace, name).
    VethMade {
        a: (NsId, &'a str),
        b: (NsId, &'a str),
    },
    BridgeMade {
        ns: NsId,
        name: &'a str,
        opts: &'a BridgeOpts,
    },
    /// `ip link set LINK master BR` and up: a port, as the progress line
    /// counts it; `old`: the master to put back at teardown (a link the lab
    /// did not make), and whether it was up.
    MasterSet {
        ns: NsId,
        br: &'a str,
        link: &'a str,
        old: Option<Option<&'a str>>,
        was_up: bool,
    },
    /// A bridge port's settings.
    PortSet {
        ns: NsId,
        link: &'a str,
        port: &'a PortOpts,
        /// What a link the lab did not make had before (`br.port`).
        old: Option<&'a PortOpts>,
    },
    /// `tc qdisc add …` for `link.shape()`; `lines`: what follows
    /// `qdisc add dev DEV`; `foreign`: the link is not the lab's.
    Shaped {
        ns: NsId,
        dev: &'a str,
        lines: &'a [String],
        foreign: bool,
    },
    /// The lab's shaping removed.
    Unshaped { ns: NsId, dev: &'a str },
    /// A link the lab made moved to `to` as `dest`, brought up if `up`.
    Moved {
        from: NsId,
        name: &'a str,
        to: NsId,
        dest: &'a str,
        up: bool,
    },
    /// `ip link set dev DEV SET`; `undo`: what puts it back (a link the lab
    /// did not make).
    LinkSet {
        ns: NsId,
        dev: &'a str,
        set: &'a str,
        undo: Option<&'a str>,
    },
    /// `ip addr add ADDR dev DEV`; `foreign`: DEV is not the lab's, so the
    /// address has an undo of its own.
    AddrAdded {
        ns: NsId,
        dev: &'a str,
        addr: IpNet,
        foreign: bool,
    },
    /// `ip route add …`.
    RouteAdded { ns: NsId, req: &'a RouteReq },
    /// `ip route del …` (`what`: the route as the kernel held it).
    RouteDeleted { ns: NsId, what: &'a str },
    /// `ip neigh flush …` / `ip route flush cache` (`what`: the words after
    /// `ip`): learned state dropped, nothing to undo.
    Flushed { ns: NsId, what: &'a str },
    /// `ip rule add …`.
    RuleAdded { ns: NsId, rule: &'a RuleSpec },
    /// `sysctl -w KEY=VALUE`; `old`: the value to put back at teardown
    /// outside the lab's namespaces.
    SysctlSet {
        ns: NsId,
        key: &'a str,
        value: &'a str,
        old: &'a str,
    },
    /// `ip link set DEV up|down`; `old`: the state to put back at teardown
    /// (a link the lab did not make).
    LinkUp {
        ns: NsId,
        dev: &'a str,
        up: bool,
        old: Option<bool>,
    },
    /// `ip link set DEV mtu N`; `old` as for `LinkUp`.
    LinkMtu {
        ns: NsId,
        dev: &'a str,
        mtu: u32,
        old: Option<u32>,
    },
    /// `ip link del DEV`, by the script.
    LinkDeleted { ns: NsId, dev: &'a str },
    /// `ip neigh replace ADDR lladdr MAC dev DEV nud permanent`.
    NeighAdded {
        ns: NsId,
        dev: &'a str,
        addr: IpAddr,
        mac: &'a str,
        foreign: bool,
    },
    /// A namespace of the lab's is about to be deleted.
    NetnsDeleting,
    /// An IPv6 router's link-local addresses done with duplicate address
    /// detection (what `settle_v6` waited for, at most DAD_WAIT).
    DadWaited { ns: NsId },
    /// A probe's destination, an IPv6 address the lab added, ready to
    /// receive on: its local route is in (what `settle_dad` waited for).
    AddrDadWaited { ns: NsId, addr: IpAddr },
    /// ping(): `got` of `sent` replies.
    Pinged {
        ns: NsId,
        dst: IpAddr,
        opts: &'a PingOpts,
        sent: u32,
        got: usize,
    },
    /// A connection tried (`ok`: it was made).
    Connected {
        ns: NsId,
        dst: IpAddr,
        proto: Proto,
        port: u16,
        timeout: Duration,
        ok: bool,
        /// The source the socket was bound to.
        src: Option<IpAddr>,
    },
    /// A server of nslab's listening.
    Listening { ns: NsId, proto: Proto, port: u16 },
    /// wait_port(): something listens on `port`.
    PortWaited {
        ns: NsId,
        proto: Proto,
        port: u16,
        timeout: Duration,
    },
    /// reach(): one ping per ordered pair (`pairs`: a, b, replies) of
    /// `nodes`.
    Reached {
        nodes: &'a [(NsId, IpAddr)],
        /// The source each node pinged from (by node index; None or
        /// missing: the kernel's pick).
        srcs: &'a [Option<IpAddr>],
        count: u32,
        timeout: Duration,
        pairs: &'a [(usize, usize, u32)],
    },
    /// One nft transaction in `ns` (`json` as nslab hands it to `nft -j -f
    /// -`); `first`: it made the lab's table there.
    NftApplied {
        ns: NsId,
        json: &'a str,
        first: bool,
    },
    /// throughput(): `bits` per second measured from `a` to `dst:port`
    /// in `b`.
    Measured {
        a: NsId,
        b: NsId,
        dst: IpAddr,
        proto: Proto,
        port: u16,
        secs: Duration,
        rate: Option<u64>,
        bits: u64,
    },
    /// wait_route(): `dst` (from `protocol`) came into `ns`'s tables.
    RouteWaited {
        ns: NsId,
        dst: ipnet::IpNet,
        protocol: Option<u8>,
        timeout: Duration,
    },
    /// `sleep D`: the script waited.
    Slept { d: Duration },
    /// A command ran to its end in `ns`, exiting with `code`.
    Ran {
        ns: NsId,
        argv: &'a [String],
        opts: &'a RunOpts,
        code: i64,
    },
    /// A background process, number `idx`.
    Spawned {
        ns: NsId,
        argv: &'a [String],
        idx: usize,
    },
    /// Background process `idx` stopped by the script.
    Stopped { idx: usize },
    /// A namespace's programs get private `dirs` (and maybe a host name).
    /// `first`: the node's first private directories (later ones come
    /// from ns.private_dirs).
    NodeMade {
        ns: NsId,
        dirs: &'a [String],
        first: bool,
    },
    /// `ns.write`: `text` into `rest` (empty, or starting with '/') under
    /// private directory `dir`.
    NodeWritten {
        ns: NsId,
        dir: &'a str,
        rest: &'a str,
        text: &'a str,
    },
}

/// What the progress line counts for `e`, if anything.
fn counted(e: &Event) -> Option<progress::Kind> {
    match e {
        Event::NetnsMade { .. } => Some(progress::Kind::Netns),
        Event::LinkMade { .. } | Event::VethMade { .. } | Event::BridgeMade { .. } => {
            Some(progress::Kind::Link)
        }
        Event::MasterSet { .. } => Some(progress::Kind::Port),
        Event::AddrAdded { .. } => Some(progress::Kind::Addr),
        Event::RouteAdded { .. } => Some(progress::Kind::Route),
        Event::NetnsDeleted { .. }
        | Event::NetnsDeleting
        | Event::LinkUp { .. }
        | Event::LinkMtu { .. }
        | Event::LinkDeleted { .. }
        | Event::NeighAdded { .. }
        | Event::RouteDeleted { .. }
        | Event::Flushed { .. }
        | Event::RuleAdded { .. }
        | Event::SysctlSet { .. }
        | Event::PortSet { .. }
        | Event::Shaped { .. }
        | Event::Unshaped { .. }
        | Event::Moved { .. }
        | Event::LinkSet { .. }
        | Event::DadWaited { .. }
        | Event::AddrDadWaited { .. }
        | Event::Pinged { .. }
        | Event::Connected { .. }
        | Event::Listening { .. }
        | Event::PortWaited { .. }
        | Event::Reached { .. }
        | Event::Measured { .. }
        | Event::RouteWaited { .. }
        | Event::NftApplied { .. }
        | Event::Slept { .. }
        | Event::Ran { .. }
        | Event::Spawned { .. }
        | Event::Stopped { .. }
        | Event::NodeMade { .. }
        | Event::NodeWritten { .. } => None,
    }
}

impl Lab {
    /// Tells the watchers what an op did.
    pub(super) fn tell(&mut self, e: Event) {
        if let Some(kind) = counted(&e) {
            progress::bump(kind);
        }
        if matches!(e, Event::NetnsDeleting) {
            self.note_view();
        }
        self.nodes.note(&e);
        let retry =
            matches!(e, Event::Pinged { .. } | Event::Connected { .. }) && self.settle.retrying();
        if self.watch.plan().is_some() && !retry {
            let lines = plan::lines(&e, self);
            if matches!(e, Event::NftApplied { .. }) {
                self.plan_lines_at_site(lines);
            } else {
                self.plan_lines(lines);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_built_is_counted_and_a_deletion_is_not() {
        assert!(matches!(
            counted(&Event::LinkMade {
                ns: 1,
                name: "v0",
                kind: "",
                parent: None
            }),
            Some(progress::Kind::Link)
        ));
        assert!(matches!(
            counted(&Event::NetnsMade { name: "a" }),
            Some(progress::Kind::Netns)
        ));
        assert!(matches!(
            counted(&Event::MasterSet {
                ns: 1,
                br: "br0",
                link: "p1",
                old: None,
                was_up: true
            }),
            Some(progress::Kind::Port)
        ));
        assert!(counted(&Event::NetnsDeleting).is_none());
        assert!(counted(&Event::NetnsDeleted { name: "a" }).is_none());
    }
}
