//! The Lab: every operation is a ledger entry plus a backend call, so
//! whatever a script builds can be torn down, in reverse, whatever happens.

mod attach;
mod busy;
mod capture;
mod counters;
mod deferred;
pub mod error;
mod events;
mod explain;
pub use busy::Probed;
mod firewall;
mod fwqueue;
mod identity;
pub mod journal;
mod kinds;
pub mod ledger;
mod links;
pub mod names;
mod netns;
mod nodes;
pub mod plan;
mod prefix;
mod probes;
mod procs;
mod remote;
pub use procs::{ProcId, Program, programs};
mod routes;
mod rules;
mod running;
mod settle;
mod shaping;
mod shared;
mod show;
pub mod space;
pub mod steps;
mod sysctls;
mod tables;
pub use tables::{NeighView, RouteGetReq, RouteGot, RuleView, family_name};
mod throughput;
mod topology;
pub mod view;
mod wait;
mod watchers;

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::cancel::Cancel;
pub use crate::net::rtnl::{BridgeOpts, PortVlan};
pub use crate::net::rtnl::{RouteKind, RuleAction, RuleSpec};
use crate::net::{exec, ping};
pub use counters::{FdbView, LinkCounters, PortView, QdiscRow, VlanView};
pub use error::{LabError, Result};
pub use firewall::{FirewallView, Refused, Site};
use fwqueue::FwQueue;
use identity::Identity;
use journal::{Header, Journal};
pub use kinds::{MAX_VNI, VxlanReq};
use ledger::{Ledger, Undo};
pub use links::AttachOpts;
pub use nodes::NodeSpec;
pub use routes::table_by_name;
use settle::Settle;
use space::Spaces;
pub use space::{HOST, NsId};
use topology::Topology;
use watchers::Watchers;

/// How a lab is started.
pub struct LabConfig {
    pub name: String,
    pub script: String,
    pub isolated: bool,
    /// `--prefix`: before every namespace and host link name the lab
    /// makes, in the kernel only.
    pub prefix: Option<String>,
    pub cancel: Cancel,
}

/// A route request in the user's terms (device by name).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RouteReq {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    /// `None`: the main table.
    pub table: Option<u32>,
    pub kind: RouteKind,
    /// The preferred source address (RTA_PREFSRC).
    pub src: Option<IpAddr>,
    /// The next hops of a multipath (ECMP) route; then no via/dev.
    pub nexthops: Vec<HopReq>,
}

impl RouteReq {
    /// A route to `dst` through gateway `via`, nothing else set.
    pub fn via(dst: IpNet, via: IpAddr) -> RouteReq {
        RouteReq {
            dst,
            via: Some(via),
            dev: None,
            metric: None,
            table: None,
            kind: RouteKind::Unicast,
            src: None,
            nexthops: Vec::new(),
        }
    }
}

/// One next hop of a multipath route request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HopReq {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// 1..=256, as `ip route` counts it.
    pub weight: u16,
}

/// Which route ns.route_delete means: `dst` None is "default" of either
/// family.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RouteDelReq {
    pub dst: Option<IpNet>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
}

/// A link row with the names resolved, for `ns.links()` and `show()`.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub name: String,
    pub kind: String,
    pub up: bool,
    pub state: String,
    pub mtu: u32,
    pub master: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AddrView {
    pub dev: String,
    pub addr: IpNet,
}

#[derive(Debug, Clone)]
pub struct RouteView {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: u32,
    pub table: u32,
    pub kind: RouteKind,
    pub src: Option<IpAddr>,
    /// The next hops of a multipath route (empty for a single path).
    pub nexthops: Vec<HopView>,
    pub protocol: String,
    /// "dead", "linkdown", "onlink" (of a single-path route).
    pub flags: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct HopView {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub weight: u16,
    pub flags: Vec<&'static str>,
}

// The backend types the script API builds its requests from: api talks
// only to lab (DESIGN.md), so it names them here.
pub use crate::net::capture::{MAX_SNAPLEN, Opts as CaptureOpts};
pub use crate::net::nft::{
    CounterRow, DnatRule, FilterRule, Hook, L4, Matches, Op, Policy, SnatRule, Verdict,
};
pub use crate::net::pcap_read::Packet as CapturedPacket;
pub use crate::net::probe::Proto;
pub use exec::{Output, RunOpts, shell};
pub use ping::{MAX_PAYLOAD, PingOpts, PingReport};
pub use shaping::Shape;
pub use throughput::{Throughput, ThroughputOpts};
pub use wait::ROUTE_PROTOCOLS;

/// A lab: a handful of parts, each owning its state and its rules; the ops
/// (one file per area, each an `impl Lab`) check, record, make, and tell
/// the parts what happened.
pub struct Lab {
    /// Its name, header, keep/attached/isolated, cancel.
    id: Identity,
    sp: Spaces,
    /// Undo steps, and the journal they are written to.
    ledger: Ledger,
    /// The links it made and how they connect.
    topo: Topology,
    /// Captures, listeners, processes and ping sockets.
    running: running::Running,
    /// What the next probe waits for.
    settle: Settle,
    /// Firewall and NAT rules not applied yet, and the tables made.
    fw: FwQueue,
    /// `nslab plan` and `nslab graph`.
    watch: Watchers,
    /// Namespaces on other machines and their agents.
    remote: remote::Remotes,
    /// Nodes' private directories, hosts files and host names.
    nodes: nodes::Nodes,
    /// Veth ends to bring up at the script's next call.
    deferred: deferred::Deferred,
}

/// What a teardown came to.
#[derive(Default)]
pub struct TeardownReport {
    /// Steps that failed.
    pub errors: Vec<LabError>,
    /// Steps left alone on purpose: what carries the name now is not what
    /// the lab made (or a shared setting changed by someone else).
    pub left_alone: Vec<String>,
}

impl TeardownReport {
    fn from(u: ledger::Unwound) -> TeardownReport {
        TeardownReport {
            errors: u
                .errors
                .into_iter()
                .map(|(what, e)| LabError::kernel(&what, "teardown", e))
                .collect(),
            left_alone: u.left_alone,
        }
    }
}

/// A random token naming one run of a lab (16 hex digits).
fn run_id() -> String {
    let mut b = [0u8; 8];
    // SAFETY: getrandom fills the buffer it is given.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 8 {
        // No randomness: the pid and the time still make a run unique here.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        b = (t ^ u64::from(std::process::id()) << 40).to_ne_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn net_err(doing: &str) -> impl Fn(crate::net::NetError) -> LabError + '_ {
    move |e| LabError::kernel(doing, "nslab's own setup", e)
}

impl Lab {
    pub fn new(cfg: LabConfig) -> Result<Lab> {
        names::check_labname(&cfg.name)?;
        if let Some(p) = &cfg.prefix {
            names::check_prefix(p)?;
        }
        let sp = Spaces::new_or_prestarted().map_err(net_err("start the lab"))?;
        let pid = std::process::id();
        let header = Header {
            lab: cfg.name.clone(),
            pid,
            start: exec::start_time(pid).unwrap_or(0),
            id: run_id(),
            script: cfg.script,
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            isolated: cfg.isolated,
            prefix: cfg.prefix,
        };
        let journal = Journal::create(&header)?;
        Ok(Lab::with(sp, journal, header, cfg.cancel))
    }

    /// A lab with nothing in it yet, on `journal`, run as `header` says.
    fn with(mut sp: Spaces, journal: Journal, header: Header, cancel: Cancel) -> Lab {
        if let Some(p) = &header.prefix {
            sp.set_prefix(p);
        }
        Lab {
            id: Identity::new(header, cancel),
            sp,
            ledger: Ledger::new(journal),
            topo: Topology::default(),
            running: running::Running::default(),
            settle: Settle::default(),
            fw: FwQueue::default(),
            watch: Watchers::default(),
            nodes: nodes::Nodes::default(),
            remote: remote::Remotes::default(),
            deferred: deferred::Deferred::default(),
        }
    }

    pub fn name(&self) -> &str {
        self.id.name()
    }

    /// Runs `change` with `undo` recorded: in the journal before the change,
    /// in the ledger after it succeeded. Changes inside namespaces this lab
    /// created need no record: deleting the namespace undoes them.
    fn recorded<T>(
        &mut self,
        ns: Option<NsId>,
        undo: Undo,
        change: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        if ns.is_some_and(|id| self.sp.is_created(id)) {
            return change(self);
        }
        let at = self.ledger.intend(&undo)?;
        match change(self) {
            Ok(v) => {
                self.ledger.record(at, undo);
                Ok(v)
            }
            Err(e) => {
                self.ledger.abandon(at);
                Err(e)
            }
        }
    }

    fn where_(&self, id: NsId) -> String {
        format!("namespace '{}'", self.sp.name(id))
    }

    fn check_cancel(&self) -> Result<()> {
        self.id.check_cancel()
    }

    /// Leave the lab up at the end; `nslab down` removes it later.
    pub fn keep(&mut self) {
        self.id.keep();
    }

    pub fn is_kept(&self) -> bool {
        self.id.is_kept()
    }

    /// Undoes everything, in reverse; returns every step that failed.
    /// With keep() the lab stays and its journal is marked kept instead.
    pub fn teardown(&mut self) -> TeardownReport {
        if !self.id.tear_down() {
            return TeardownReport::default();
        }
        // Rules still queued (the script failed or was interrupted before
        // they were applied): a kept lab gets them, as the script asked;
        // one torn down now needs no table to delete.
        let refused = if self.id.is_kept() {
            self.flush().err()
        } else {
            self.fw.take();
            None
        };
        // Sockets first: they pin their namespaces. Captures before all:
        // their files get the packets seen until now, then close.
        let mut capture_errors = self.stop_captures(None);
        // The agents' parts, before this machine's (the far ends of its
        // links between machines).
        capture_errors.extend(self.remote_teardown());
        self.running.close_sockets();
        // Then processes: they pin their namespaces. A kept lab's run on
        // in their cgroup (their output goes to files), until `nslab down`;
        // in a PID namespace (isolated mode, no cgroup v2, an attached
        // session) they could not outlive nslab anyway, so they end now.
        let mut report = TeardownReport {
            errors: capture_errors,
            left_alone: Vec::new(),
        };
        let lasting = self
            .running
            .unit()
            .as_ref()
            .is_some_and(|u| u.outlives_nslab());
        if self.id.is_kept() && lasting {
            self.running.let_processes_go();
        } else {
            if self.id.is_kept()
                && !self.id.is_isolated()
                && !self.id.is_attached()
                && self.running.has_procs()
            {
                report.left_alone.push(
                    "the lab's spawned programs end with nslab: no cgroup v2 could be made here to keep them in".into(),
                );
            }
            report.errors.extend(self.end_processes());
        }
        if let Some(r) = refused {
            report.errors.push(r.error);
        }
        if self.id.is_kept() {
            if let Err(e) = self.ledger.mark_kept() {
                report.errors.push(e);
            }
            self.sp.close_all();
            return report;
        }
        let unwound = TeardownReport::from(self.ledger.unwind(&mut self.sp, self.id.header()));
        report.errors.extend(unwound.errors);
        report.left_alone.extend(unwound.left_alone);
        if report.errors.is_empty() {
            self.ledger.remove_journal();
        }
        report
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A lab dropped without an explicit teardown (an early return, a
        // panic unwinding) still cleans up.
        let _ = self.teardown();
    }
}

/// `nslab down LAB`: finish a lab's teardown from its journal. The caller
/// holds the journal's lock (`Record::claim`).
pub fn down(rec: &journal::Record) -> Result<TeardownReport> {
    let mut sp = Spaces::new().map_err(net_err("start teardown"))?;
    if let Some(p) = &rec.header.prefix {
        sp.set_prefix(p);
    }
    let report = TeardownReport::from(ledger::unwind(&mut sp, &rec.steps, &rec.header));
    if report.errors.is_empty() {
        let _ = std::fs::remove_file(&rec.path);
    }
    Ok(report)
}

/// Default ping options: 3 echoes, 100 ms apart, 1 s for the last reply.
pub fn default_ping() -> PingOpts {
    PingOpts {
        count: 3,
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(1000),
        size: crate::net::ping::PAYLOAD,
        df: false,
        src: None,
        ttl: None,
        dev: None,
    }
}
