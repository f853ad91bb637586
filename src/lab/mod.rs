//! The Lab: every operation is a ledger entry plus a backend call, so
//! whatever a script builds can be torn down, in reverse, whatever happens.

pub mod error;
pub mod journal;
pub mod ledger;
pub mod names;
mod shared;
mod show;
pub mod space;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::Duration;

use ipnet::IpNet;

use crate::cancel::Cancel;
use crate::net::nft::{self, FilterRule, Hook, Ruleset, Verdict};
use crate::net::probe::{self, Listener, Proto};
use crate::net::rtnl::{self, AddrRow, LinkInfoRow, RouteRow, RouteSpec, Rtnl};
use crate::net::unit::{self, Unit};
use crate::net::{exec, kstat, ns, ping, sysctl};
pub use error::{LabError, Result};
use journal::{Header, Journal};
use ledger::{Undo, Undone};
use space::Spaces;
pub use space::{HOST, NsId};

/// How a lab is started.
pub struct LabConfig {
    pub name: String,
    pub script: String,
    pub isolated: bool,
    pub cancel: Cancel,
}

/// A route request in the user's terms (device by name).
#[derive(Debug, Clone)]
pub struct RouteReq {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
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
    pub metric: Option<u32>,
    pub table: u32,
    pub protocol: String,
}

pub use exec::RunOpts;
pub use ping::{PingOpts, PingReport};

pub struct Lab {
    sp: Spaces,
    /// Undo steps with their journal numbers.
    ledger: Vec<(Option<u64>, Undo)>,
    journal: Option<Journal>,
    /// Links this lab made outside its own namespaces (they get deleted, so
    /// changes to them need no undo of their own).
    made_links: HashSet<(NsId, String)>,
    /// Native servers (`ns.listen`), stopped first at teardown.
    listeners: Vec<(NsId, Listener)>,
    /// Processes started with `ns.spawn`.
    procs: Vec<exec::Spawned>,
    /// Where every process the lab starts runs (made with the first one),
    /// so that all of them, and whatever they start, end with the lab.
    unit: Option<Unit>,
    /// Isolated or rootless: the lab's processes go in a PID namespace.
    isolated: bool,
    /// Namespaces where this lab's nf_tables table exists.
    nft_tables: HashSet<NsId>,
    /// Indexes of links the lab made, as the kernel reported them at creation.
    ifindex: HashMap<(NsId, String), u32>,
    /// ICMP sockets by (namespace, IPv6?), for ping.
    ping_socks: HashMap<(NsId, bool), socket2::Socket>,
    /// Index of every bridge the lab made (attach needs it for each port).
    bridges: HashMap<(NsId, String), u32>,
    /// Both ends of every veth the lab made, each mapped to the other.
    veth_peers: HashMap<(NsId, String), (NsId, String)>,
    /// Links brought up since the last probe; see `settle`.
    unsettled: Vec<(NsId, String)>,
    /// The kernel's machine-wide counters, read around probes: when one
    /// fails, a counter that rose meanwhile says why.
    kstat: kstat::Watch,
    keep: bool,
    cancel: Cancel,
    name: String,
    /// Who this run of the lab is (journaled first): its name and id mark
    /// what it makes and hold host settings.
    header: Header,
    torn_down: bool,
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

/// EEXIST for a new link whose name is free: the index nslab picked for it
/// is taken (a chance of about one in a billion per link in use).
fn index_taken(name: &str) -> LabError {
    LabError::new(
        format!("the kernel refused the index nslab picked for link '{name}': it is in use"),
        "run the script again: nslab picks another one at random",
    )
}

fn net_err(doing: &str) -> impl Fn(crate::net::NetError) -> LabError + '_ {
    move |e| LabError::kernel(doing, "nslab's own setup", e)
}

impl Lab {
    pub fn new(cfg: LabConfig) -> Result<Lab> {
        names::check_labname(&cfg.name)?;
        let sp = Spaces::new().map_err(net_err("start the lab"))?;
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
        };
        let journal = Journal::create(&header)?;
        Ok(Lab {
            sp,
            ledger: Vec::new(),
            journal: Some(journal),
            made_links: HashSet::new(),
            listeners: Vec::new(),
            procs: Vec::new(),
            unit: None,
            isolated: cfg.isolated,
            nft_tables: HashSet::new(),
            veth_peers: HashMap::new(),
            unsettled: Vec::new(),
            kstat: kstat::Watch::default(),
            bridges: HashMap::new(),
            ping_socks: HashMap::new(),
            ifindex: HashMap::new(),
            keep: false,
            cancel: cfg.cancel,
            name: cfg.name,
            header,
            torn_down: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
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
        let seq = match &mut self.journal {
            Some(j) => Some(j.intend(&undo)?),
            None => None,
        };
        match change(self) {
            Ok(v) => {
                self.ledger.push((seq, undo));
                Ok(v)
            }
            Err(e) => {
                if let (Some(j), Some(s)) = (&mut self.journal, seq) {
                    let _ = j.cancel(s);
                }
                Err(e)
            }
        }
    }

    fn where_(&self, id: NsId) -> String {
        format!("namespace '{}'", self.sp.name(id))
    }

    /// `ip netns add NAME` (+ lo up).
    pub fn netns(&mut self, name: &str) -> Result<NsId> {
        names::check_nsname(name)?;
        if self.sp.created_named(name).is_some() {
            return Err(LabError::new(
                format!("namespace '{name}' already exists: this lab made it earlier"),
                format!(
                    "use the handle the first netns(\"{name}\") returned, or pick another name"
                ),
            ));
        }
        if ns::named_path(name).exists() {
            return Err(LabError::new(
                format!("namespace '{name}' already exists"),
                format!(
                    "pick another name, or remove the old one (`ip netns del {name}`, or `nslab down LAB` if a kept lab made it)"
                ),
            ));
        }
        // Made first and named last: the journal knows which namespace the
        // name will be before the name exists.
        let made = self.sp.make().map_err(|e| {
            LabError::kernel("create a namespace", &format!("namespace '{name}'"), e)
        })?;
        let (dev, ino) = made.identity().map_err(|e| {
            LabError::kernel("create a namespace", &format!("namespace '{name}'"), e)
        })?;
        let undo = Undo::DeleteNetns {
            name: name.to_string(),
            dev,
            ino,
        };
        self.recorded(None, undo, |lab| {
            lab.sp.create(made, name).map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) => LabError::new(
                    format!("namespace '{name}' already exists"),
                    format!("pick another name, or remove the old one with `ip netns del {name}`"),
                ),
                _ => LabError::kernel("create a namespace", &format!("namespace '{name}'"), e),
            })
        })
    }

    /// `ip netns del NAME`, now rather than at teardown; only for namespaces
    /// this lab made.
    pub fn delete_netns(&mut self, id: NsId) -> Result<()> {
        let name = self.sp.name(id).to_string();
        if id == HOST || !self.sp.is_created(id) {
            return Err(LabError::new(
                format!("namespace '{name}' was not made by this lab"),
                "nslab only deletes what it made; use `ip netns del` for others",
            ));
        }
        let Some(pos) = self
            .ledger
            .iter()
            .position(|(_, u)| matches!(u, Undo::DeleteNetns { name: n, .. } if *n == name))
        else {
            return Err(LabError::new(
                format!("namespace '{name}' was deleted earlier in this script"),
                "a namespace can be deleted once",
            ));
        };
        // Its listeners' and pings' sockets would keep the namespace alive.
        for (_, l) in self.listeners.iter_mut().filter(|(n, _)| *n == id) {
            l.stop();
        }
        self.ping_socks.retain(|(n, _), _| *n != id);
        self.ifindex.retain(|(n, _), _| *n != id);
        self.bridges.retain(|(n, _), _| *n != id);
        let (seq, undo) = self.ledger.remove(pos);
        let result = undo.apply(&mut self.sp, &self.header);
        match result {
            Ok(Undone::LeftAlone(why)) => {
                self.ledger.insert(pos, (seq, undo));
                Err(LabError::new(
                    why,
                    "its name now belongs to a namespace someone else made",
                ))
            }
            Ok(Undone::Done) => {
                if let (Some(j), Some(s)) = (&mut self.journal, seq) {
                    j.cancel(s)?;
                }
                self.forget_veths_of(id);
                Ok(())
            }
            Err(e) => {
                self.ledger.insert(pos, (seq, undo));
                Err(LabError::kernel(
                    "delete a namespace",
                    &format!("namespace '{name}'"),
                    e,
                ))
            }
        }
    }

    /// After namespace `id` is deleted: the kernel destroys it, and the
    /// other ends of its veths elsewhere, a moment later, in the background.
    /// Waits (at most a second) until those ends are gone, so that the script
    /// can reuse their names at once. Not while a process the lab started is
    /// running: it may be what keeps the namespace alive.
    fn forget_veths_of(&mut self, id: NsId) {
        let peers: Vec<(NsId, String)> = self
            .veth_peers
            .iter()
            .filter(|((n, _), (pn, _))| *n == id && *pn != id)
            .map(|(_, peer)| peer.clone())
            .collect();
        self.veth_peers
            .retain(|(n, _), (pn, _)| *n != id && *pn != id);
        for p in &peers {
            self.ifindex.remove(p);
            self.made_links.remove(p);
        }
        if self
            .procs
            .iter_mut()
            .any(|p| matches!(p.child.try_wait(), Ok(None)))
        {
            return;
        }
        let mut left = peers;
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while !left.is_empty() && std::time::Instant::now() < deadline && !self.cancel.is_set() {
            self.retain_links(&mut left, |_| true);
            if !left.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// `ip netns list`.
    pub fn netns_list(&self) -> Vec<String> {
        ns::list_named()
    }

    fn exists(&mut self, id: NsId, name: &str) -> Result<bool> {
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        match self.sp.block_on(r.index_of(name)) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(LabError::kernel("look up a link", name, e)),
        }
    }

    fn link_exists_err(&self, id: NsId, name: &str) -> LabError {
        LabError::new(
            format!("link '{name}' already exists in {}", self.where_(id)),
            "pick another name: link names are unique within a namespace",
        )
    }

    /// `ip link add A type veth peer name B` with A in `ns_a`, B in `ns_b`,
    /// both up. The peer is created directly in its namespace.
    pub fn veth(&mut self, ns_a: NsId, a: &str, ns_b: NsId, b: &str) -> Result<()> {
        names::check_ifname(a)?;
        names::check_ifname(b)?;
        if ns_a == ns_b && a == b {
            return Err(LabError::new(
                format!("both ends of the veth are called '{a}' in the same namespace"),
                "give the two ends different names",
            ));
        }
        let peer_fd = self
            .sp
            .fd(ns_b)
            .map_err(net_err("open namespace"))?
            .try_clone()
            .map_err(|e| {
                LabError::kernel("open namespace", "peer", crate::net::NetError::os("dup", e))
            })?;
        // Undo goes to an end outside the lab's own namespaces, if there is
        // one: that end would otherwise linger until the kernel's async
        // namespace cleanup runs.
        let (undo_ns, undo_name) = if !self.sp.is_created(ns_a) {
            (ns_a, a)
        } else {
            (ns_b, b)
        };
        // Outside the lab's namespaces that end gets an index of nslab's
        // choosing, journaled before it exists (see `rtnl::pick_index`).
        let mark = (!self.sp.is_created(undo_ns)).then(rtnl::pick_index);
        let ends = if undo_ns == ns_a && undo_name == a {
            (mark, None)
        } else {
            (None, mark)
        };
        let undo = Undo::DeleteLink {
            ns: self.sp.nsref(undo_ns).clone(),
            name: undo_name.to_string(),
            ifindex: mark.unwrap_or(0),
        };
        let r = self.sp.rtnl(ns_a).map_err(net_err("open netlink"))?;
        let peer_raw = if ns_a == ns_b {
            None
        } else {
            Some(std::os::fd::AsRawFd::as_raw_fd(&peer_fd))
        };
        let rb = self.sp.rtnl(ns_b).map_err(net_err("open netlink"))?;
        self.recorded(Some(undo_ns), undo, |lab| {
            let made = lab.sp.block_on(r.add_veth(a, b, peer_raw, ends));
            match made {
                Ok(index) => {
                    if let Some(i) = index {
                        lab.ifindex.insert((ns_a, a.to_string()), i);
                    }
                    lab.sp
                        .block_on(rb.set_up_by_name(b))
                        .map_err(|e| LabError::kernel("bring a veth up", b, e))
                }
                Err(e) if e.raw_errno() == Some(libc::EEXIST) => {
                    if lab.exists(ns_a, a)? {
                        Err(lab.link_exists_err(ns_a, a))
                    } else if lab.exists(ns_b, b)? {
                        Err(lab.link_exists_err(ns_b, b))
                    } else {
                        Err(index_taken(undo_name))
                    }
                }
                Err(e) => Err(LabError::kernel(
                    "create a veth pair",
                    &format!(
                        "'{a}' in '{}' <-> '{b}' in '{}'",
                        lab.sp.name(ns_a),
                        lab.sp.name(ns_b)
                    ),
                    e,
                )),
            }
        })?;
        for (id, n) in [(ns_a, a), (ns_b, b)] {
            if !self.sp.is_created(id) {
                self.made_links.insert((id, n.to_string()));
            }
        }
        if let Some(index) = mark {
            self.mark_link(undo_ns, index);
        }
        let (ea, eb) = ((ns_a, a.to_string()), (ns_b, b.to_string()));
        self.veth_peers.insert(ea.clone(), eb.clone());
        self.veth_peers.insert(eb, ea);
        self.unsettled.push((ns_a, a.to_string()));
        self.unsettled.push((ns_b, b.to_string()));
        Ok(())
    }

    /// `ip link add NAME type bridge` + up, in `ns`.
    pub fn bridge(&mut self, id: NsId, name: &str) -> Result<()> {
        names::check_ifname(name)?;
        let mark = (!self.sp.is_created(id)).then(rtnl::pick_index);
        let undo = Undo::DeleteLink {
            ns: self.sp.nsref(id).clone(),
            name: name.to_string(),
            ifindex: mark.unwrap_or(0),
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.recorded(Some(id), undo, |lab| {
            lab.sp
                .block_on(r.add_bridge(name, mark))
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EEXIST) => match lab.exists(id, name) {
                        Ok(false) => index_taken(name),
                        Ok(true) => lab.link_exists_err(id, name),
                        Err(e) => e,
                    },
                    _ => LabError::kernel(
                        "create a bridge",
                        &format!("'{name}' in '{}'", lab.sp.name(id)),
                        e,
                    ),
                })
        })?;
        if !self.sp.is_created(id) {
            self.made_links.insert((id, name.to_string()));
        }
        let index = match mark {
            Some(i) => {
                self.mark_link(id, i);
                Ok(i)
            }
            None => self.sp.block_on(r.index_of(name)),
        };
        if let Ok(index) = index {
            self.bridges.insert((id, name.to_string()), index);
        }
        self.unsettled.push((id, name.to_string()));
        Ok(())
    }

    /// Gives a link the lab made outside its own namespaces the alias
    /// `nslab:LAB`, so `ip link` shows whose it is. Only a label for people:
    /// the kernel cannot take an alias in the request that makes a link,
    /// so nslab's own checks go by the index chosen up front.
    fn mark_link(&mut self, id: NsId, index: u32) {
        let alias = format!("nslab:{}", self.name);
        if let Ok(r) = self.sp.rtnl(id) {
            let _ = self.sp.block_on(r.set_alias(index, &alias));
        }
    }

    /// The link's details; a clear error when there is no such link.
    pub fn link(&mut self, id: NsId, name: &str) -> Result<LinkInfoRow> {
        names::check_ifname(name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.link(name))
            .map_err(|e| match e.raw_errno() {
                Some(libc::ENODEV) => LabError::new(
                    format!("there is no link '{name}' in {}", self.where_(id)),
                    format!(
                        "check the name: {}.links() lists the links there",
                        self.var_hint(id)
                    ),
                ),
                _ => LabError::kernel("look up a link", name, e),
            })
    }

    fn var_hint(&self, id: NsId) -> String {
        if id == HOST {
            "host()".into()
        } else {
            "ns".into()
        }
    }

    /// Undo for a change to a link this lab did not make; none for its own.
    fn foreign_link(&self, id: NsId, name: &str) -> bool {
        !self.sp.is_created(id) && !self.made_links.contains(&(id, name.to_string()))
    }

    /// `ip link set NAME up|down`.
    pub fn set_up(&mut self, id: NsId, name: &str, up: bool) -> Result<()> {
        let cur = self.link(id, name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let doing = if up {
            "bring a link up"
        } else {
            "bring a link down"
        };
        let what = format!("'{name}' in '{}'", self.sp.name(id));
        if up {
            self.unsettled.push((id, name.to_string()));
        }
        let act = |lab: &mut Lab| {
            lab.sp
                .block_on(r.set_up(cur.index, up))
                .map_err(|e| LabError::kernel(doing, &what, e))
        };
        if self.foreign_link(id, name) && cur.up != up {
            let undo = Undo::RestoreUp {
                ns: self.sp.nsref(id).clone(),
                dev: name.to_string(),
                ifindex: cur.index,
                up: cur.up,
            };
            self.recorded(Some(id), undo, act)
        } else {
            act(self)
        }
    }

    /// `ip link set NAME mtu N`.
    pub fn set_mtu(&mut self, id: NsId, name: &str, mtu: u32) -> Result<()> {
        let cur = self.link(id, name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("'{name}' in '{}'", self.sp.name(id));
        let act = |lab: &mut Lab| {
            lab.sp.block_on(r.set_mtu(cur.index, mtu)).map_err(|e| match e.raw_errno() {
                Some(libc::EINVAL) | Some(libc::ERANGE) => LabError::new(
                    format!("mtu {mtu} is out of range for link {what}"),
                    "Ethernet-like links accept 68..=65535 (a bridge port also needs the bridge's range)",
                ),
                _ => LabError::kernel("set the mtu", &what, e),
            })
        };
        if self.foreign_link(id, name) && cur.mtu != mtu {
            let undo = Undo::RestoreMtu {
                ns: self.sp.nsref(id).clone(),
                dev: name.to_string(),
                ifindex: cur.index,
                mtu: cur.mtu,
            };
            self.recorded(Some(id), undo, act)
        } else {
            act(self)
        }
    }

    /// `ip link set LINK master BR` (+ up).
    pub fn attach(&mut self, br_ns: NsId, br: &str, link_ns: NsId, link: &str) -> Result<()> {
        if br_ns != link_ns {
            return Err(LabError::new(
                format!(
                    "link '{link}' is in namespace '{}' but bridge '{br}' is in '{}'",
                    self.sp.name(link_ns),
                    self.sp.name(br_ns)
                ),
                "a bridge can only take links of its own namespace: make a veth with one end beside the bridge",
            ));
        }
        if link == br {
            return Err(LabError::new(
                format!("'{br}' cannot be attached to itself: a bridge cannot be its own port"),
                "attach other links to it, e.g. one end of a veth: br.attach(cable[0])",
            ));
        }
        let what = format!("'{link}' to bridge '{br}' in '{}'", self.sp.name(br_ns));
        // Both may come up now (the bridge gets its carrier from its ports).
        self.unsettled.push((link_ns, link.to_string()));
        self.unsettled.push((br_ns, br.to_string()));
        // A bridge and a port the lab made: one request, no lookups.
        if let Some(&br_index) = self.bridges.get(&(br_ns, br.to_string()))
            && !self.foreign_link(link_ns, link)
        {
            let r = self.sp.rtnl(br_ns).map_err(net_err("open netlink"))?;
            return match self.sp.block_on(r.attach_by_name(link, br_index)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    // A missing port gets the same report as everywhere else.
                    if e.raw_errno() == Some(libc::ENODEV) {
                        self.link(link_ns, link)?;
                    }
                    Err(attach_err(&what, br, link, e))
                }
            };
        }
        let brl = self.link(br_ns, br)?;
        if brl.kind != "bridge" {
            return Err(LabError::new(
                format!(
                    "'{br}' is a {} link, not a bridge",
                    if brl.kind.is_empty() {
                        "plain"
                    } else {
                        &brl.kind
                    }
                ),
                "attach links to a bridge made with bridge(ns, \"br0\")",
            ));
        }
        let cur = self.link(link_ns, link)?;
        let r = self.sp.rtnl(br_ns).map_err(net_err("open netlink"))?;
        let act = |lab: &mut Lab| {
            lab.sp
                .block_on(async {
                    r.set_master(cur.index, Some(brl.index)).await?;
                    r.set_up(cur.index, true).await
                })
                .map_err(|e| attach_err(&what, br, link, e))
        };
        if self.foreign_link(link_ns, link) {
            let old = match cur.master {
                Some(m) => self.name_of(link_ns, m)?,
                None => None,
            };
            let undo = Undo::RestoreMaster {
                ns: self.sp.nsref(link_ns).clone(),
                dev: link.to_string(),
                ifindex: cur.index,
                master: old,
            };
            self.recorded(Some(link_ns), undo, act)?;
            if !cur.up {
                let undo = Undo::RestoreUp {
                    ns: self.sp.nsref(link_ns).clone(),
                    dev: link.to_string(),
                    ifindex: cur.index,
                    up: false,
                };
                // Already up by now: the record only brings the old state back.
                self.recorded(Some(link_ns), undo, |_| Ok(()))?;
            }
            Ok(())
        } else {
            act(self)
        }
    }

    fn name_of(&mut self, id: NsId, index: u32) -> Result<Option<String>> {
        Ok(self
            .links_raw(id)?
            .into_iter()
            .find(|l| l.index == index)
            .map(|l| l.name))
    }

    /// `ip addr add ADDR dev DEV`.
    pub fn add_addr(&mut self, id: NsId, dev: &str, addr: IpNet) -> Result<()> {
        let index = match self.ifindex.get(&(id, dev.to_string())) {
            Some(i) => *i,
            None => self.link(id, dev)?.index,
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("{addr} on '{dev}' in '{}'", self.sp.name(id));
        let act = |lab: &mut Lab| {
            let mut res = lab.sp.block_on(r.add_addr(index, addr));
            // A kept index whose link is gone: look the name up afresh.
            if res
                .as_ref()
                .is_err_and(|e| e.raw_errno() == Some(libc::ENODEV))
            {
                lab.ifindex.remove(&(id, dev.to_string()));
                let fresh = lab.link(id, dev)?.index;
                res = lab.sp.block_on(r.add_addr(fresh, addr));
            }
            res.map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) => LabError::new(
                    format!("address {what} is already assigned"),
                    "each address can be added once; remove the duplicate call",
                ),
                _ => LabError::kernel("add an address", &what, e),
            })
        };
        if self.foreign_link(id, dev) {
            let undo = Undo::DeleteAddr {
                ns: self.sp.nsref(id).clone(),
                dev: dev.to_string(),
                ifindex: index,
                addr,
            };
            self.recorded(Some(id), undo, act)
        } else {
            act(self)
        }
    }

    /// `ip route add DST [via GW] [dev DEV] [metric N]`.
    pub fn add_route(&mut self, id: NsId, req: RouteReq) -> Result<()> {
        if let Some(gw) = req.via
            && gw.is_ipv4() != req.dst.addr().is_ipv4()
        {
            return Err(LabError::new(
                format!(
                    "gateway {gw} and destination {} are of different IP versions",
                    req.dst
                ),
                "use an IPv4 gateway for IPv4 routes and an IPv6 gateway for IPv6 routes",
            ));
        }
        let oif = match &req.dev {
            Some(d) => Some(self.link(id, d)?.index),
            None => None,
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let spec = RouteSpec {
            dst: req.dst,
            via: req.via,
            oif,
            metric: req.metric,
        };
        let via_txt = req.via.map(|v| format!(" via {v}")).unwrap_or_default();
        let dst_txt = dst_text(req.dst);
        let what = format!("{dst_txt}{via_txt} in '{}'", self.sp.name(id));
        let undo = Undo::DeleteRoute {
            ns: self.sp.nsref(id).clone(),
            dst: req.dst,
            via: req.via,
            dev: req.dev.clone(),
            metric: req.metric,
        };
        self.recorded(Some(id), undo, |lab| {
            lab.sp.block_on(r.add_route(&spec)).map_err(|e| match e.raw_errno() {
                Some(libc::ENETUNREACH) => LabError::new(
                    format!(
                        "cannot add route {what}: gateway {} is not on any connected subnet",
                        req.via.map(|v| v.to_string()).unwrap_or_default()
                    ),
                    "give the namespace an address in the gateway's subnet first (ns.addr or link.addr), and make sure that link is up",
                ),
                Some(libc::EEXIST) => lab.route_exists_err(id, &req, &dst_txt, &what),
                _ => LabError::kernel("add a route", &what, e),
            })
        })
    }

    /// The kernel refused a route as a duplicate: names the route that is
    /// there (its gateway and device), not the one the script asked for.
    fn route_exists_err(
        &mut self,
        id: NsId,
        req: &RouteReq,
        dst_txt: &str,
        what: &str,
    ) -> LabError {
        // Routes without a metric get 0 (IPv4) or 1024 (IPv6) from the kernel.
        let default_metric = if req.dst.addr().is_ipv4() { 0 } else { 1024 };
        let want = req.metric.unwrap_or(default_metric);
        let existing = self.routes(id).ok().and_then(|rs| {
            rs.into_iter().find(|r| {
                r.dst == req.dst
                    && r.table == MAIN_TABLE
                    && r.metric.unwrap_or(default_metric) == want
            })
        });
        let metric_txt = req
            .metric
            .map(|m| format!(" with metric {m}"))
            .unwrap_or_default();
        let message = match existing {
            Some(r) => {
                let mut there = String::new();
                if let Some(v) = r.via {
                    there.push_str(&format!(" via {v}"));
                }
                if let Some(d) = &r.dev {
                    there.push_str(&format!(" dev {d}"));
                }
                format!(
                    "cannot add route {what}: there is already a route {dst_txt}{metric_txt}{there}"
                )
            }
            None => {
                format!("cannot add route {what}: a route {dst_txt}{metric_txt} already exists")
            }
        };
        let next = if want == u32::MAX { want } else { want + 1 };
        LabError::new(
            message,
            format!(
                "a destination has one route per metric: remove the duplicate call, or give this route another metric (#{{via: \"…\", metric: {next}}})"
            ),
        )
    }

    /// `sysctl KEY` in `ns`.
    pub fn read_sysctl(&mut self, id: NsId, key: &str) -> Result<String> {
        names::check_sysctl_key(key)?;
        let k = key.to_string();
        self.sp
            .run_in(id, move || sysctl::read(&k))
            .map_err(|e| match e.raw_errno() {
                Some(libc::ENOENT) => LabError::new(
                    format!("there is no sysctl '{key}' in {}", self.where_(id)),
                    "check the key (e.g. net.ipv4.ip_forward); keys of an interface need that interface to exist there",
                ),
                _ => LabError::kernel("read a sysctl", key, e),
            })
    }

    /// `sysctl -w KEY=VALUE` in `ns`; returns the old value (restored at teardown).
    ///
    /// In the lab's own namespaces the change goes with the namespace. A
    /// host sysctl is one value for every lab on the machine: the lab holds
    /// it with the others (`shared`), and the value from before comes back
    /// when the last of them ends.
    pub fn sysctl(&mut self, id: NsId, key: &str, value: &str) -> Result<String> {
        let old = self.read_sysctl(id, key)?;
        let name = self.sp.name(id).to_string();
        let refused = |e: crate::net::NetError| match e.raw_errno() {
            Some(libc::EINVAL) => LabError::new(
                format!("the kernel refused {key}={value} in namespace '{name}'"),
                "check the value: most net.* switches take 0 or 1",
            ),
            _ => LabError::kernel("write a sysctl", &format!("{key} in '{name}'"), e),
        };
        if self.sp.is_created(id) {
            if old != value {
                let (k, v) = (key.to_string(), value.to_string());
                self.sp
                    .run_in(id, move || sysctl::write(&k, &v))
                    .map_err(refused)?;
            }
            return Ok(old);
        }
        // Only the host is not the lab's own; its sysctls are this thread's.
        debug_assert_eq!(id, HOST);
        let who = shared::holder(&self.header);
        let undo = Undo::ReleaseSysctl {
            key: key.to_string(),
        };
        self.recorded(None, undo, |_| {
            shared::hold(&who, key, value).map_err(refused)
        })
    }

    /// `sysctl -w net.ipv4.ip_forward=1` and IPv6 forwarding, in `ns`.
    pub fn forwarding(&mut self, id: NsId, on: bool) -> Result<()> {
        let v = if on { "1" } else { "0" };
        self.sysctl(id, "net.ipv4.ip_forward", v)?;
        self.sysctl(id, "net.ipv6.conf.all.forwarding", v)?;
        Ok(())
    }

    fn links_raw(&mut self, id: NsId) -> Result<Vec<LinkInfoRow>> {
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.links())
            .map_err(|e| LabError::kernel("list links", &self.where_(id), e))
    }

    /// `ip link show` in `ns`.
    pub fn links(&mut self, id: NsId) -> Result<Vec<LinkView>> {
        let raw = self.links_raw(id)?;
        let name = |i: u32| raw.iter().find(|l| l.index == i).map(|l| l.name.clone());
        Ok(raw
            .iter()
            .map(|l| LinkView {
                name: l.name.clone(),
                kind: l.kind.clone(),
                up: l.up,
                state: l.state.clone(),
                mtu: l.mtu,
                master: l.master.and_then(name),
            })
            .collect())
    }

    /// `ip addr show` in `ns`.
    pub fn addrs(&mut self, id: NsId) -> Result<Vec<AddrView>> {
        let links = self.links_raw(id)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows: Vec<AddrRow> = self
            .sp
            .block_on(r.addrs())
            .map_err(|e| LabError::kernel("list addresses", &self.where_(id), e))?;
        Ok(rows
            .into_iter()
            .map(|a| AddrView {
                dev: links
                    .iter()
                    .find(|l| l.index == a.index)
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                addr: a.addr,
            })
            .collect())
    }

    /// `ip route show` + `ip -6 route show` in `ns` (without the local table).
    pub fn routes(&mut self, id: NsId) -> Result<Vec<RouteView>> {
        let links = self.links_raw(id)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let mut rows: Vec<RouteRow> = self
            .sp
            .block_on(r.routes(false))
            .map_err(|e| LabError::kernel("list routes", &self.where_(id), e))?;
        rows.extend(
            self.sp
                .block_on(r.routes(true))
                .map_err(|e| LabError::kernel("list routes", &self.where_(id), e))?,
        );
        Ok(rows
            .into_iter()
            .map(|x| RouteView {
                dst: x.dst,
                via: x.via,
                dev: x
                    .oif
                    .and_then(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone())),
                metric: x.metric,
                table: x.table,
                protocol: x.protocol,
            })
            .collect())
    }

    /// Waits until the links brought up since the last probe can carry
    /// traffic (best effort, at most a second). A link whose carrier came on
    /// after it was opened (the first end of a veth, once its peer comes up)
    /// drops every packet until the kernel swaps in its real qdisc, later and
    /// asynchronously (linkwatch); a ping right after `veth()` could lose its
    /// ARP request and time out. Asking for one link (RTM_GETLINK, not a
    /// dump) makes the kernel finish that step for it first (since Linux 6.8;
    /// older kernels get asked again until the link says it is up). All the
    /// questions go out together, before the first packet. Bridges are asked
    /// once more after the first round: a bridge's carrier comes on only when
    /// its first port is done with that step, so that round may start theirs.
    fn settle(&mut self) {
        let mut pending = std::mem::take(&mut self.unsettled);
        pending.sort_unstable();
        pending.dedup();
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let mut first = true;
        while !pending.is_empty() && !self.cancel.is_set() {
            self.retain_links(&mut pending, |l| {
                l.activating() || (first && l.kind == "bridge")
            });
            if pending.is_empty() || std::time::Instant::now() >= deadline {
                break;
            }
            if !first {
                std::thread::sleep(Duration::from_micros(200));
            }
            first = false;
        }
    }

    /// Asks the kernel for each of `links` (one RTM_GETLINK each, all sent
    /// together) and keeps those that exist and `keep` says yes to. (A
    /// namespace deleted since has taken its links along.)
    fn retain_links(
        &mut self,
        links: &mut Vec<(NsId, String)>,
        keep: impl Fn(&LinkInfoRow) -> bool,
    ) {
        let clients: Vec<Option<Rtnl>> =
            links.iter().map(|(id, _)| self.sp.rtnl(*id).ok()).collect();
        let answers: Vec<Option<LinkInfoRow>> =
            self.sp
                .block_on(futures::future::join_all(links.iter().zip(&clients).map(
                    |((_, name), r)| async move {
                        match r {
                            Some(r) => r.link(name).await.ok(),
                            None => None,
                        }
                    },
                )));
        let mut answers = answers.into_iter();
        links.retain(|_| answers.next().flatten().is_some_and(|l| keep(&l)));
    }

    /// `ping -c N DST` from `ns`, with a native ICMP socket.
    pub fn ping(&mut self, id: NsId, dst: IpAddr, opts: &PingOpts) -> Result<PingReport> {
        self.settle();
        let v6 = dst.is_ipv6();
        // One socket per namespace and family, kept for the next ping (a
        // star pings hundreds of times from one host); closed before its
        // namespace is deleted, since it would pin it.
        if !self.ping_socks.contains_key(&(id, v6)) {
            let sock = self
                .sp
                .run_in(id, move || ping::open_socket(v6))
                .map_err(|e| LabError::kernel("open an ICMP socket", &self.where_(id), e))?;
            self.ping_socks.insert((id, v6), sock);
        }
        let before = self.kstat.before(v6);
        let sock = &self.ping_socks[&(id, v6)];
        ping::drain(sock);
        let mut report = ping::ping(sock, dst, opts, &self.cancel);
        self.check_cancel()?;
        if report.replies.len() < report.sent as usize {
            report.why = kstat::why(&self.kstat.hit_since(&before, v6));
        }
        Ok(report)
    }

    /// The unit the lab's processes run in, made before the first one
    /// starts: in host mode a cgroup of the lab's own, journaled first so
    /// that `nslab down` can end it after a crash; in isolated mode, or when
    /// no cgroup can be made (no cgroup v2, a read-only one), a PID
    /// namespace, which needs no journal: it dies with nslab.
    fn unit(&mut self) -> Result<()> {
        if self.unit.is_none() {
            let cgroup = match unit::cgroup_path(&self.name).filter(|_| !self.isolated) {
                Some(path) => {
                    let undo = Undo::KillCgroup {
                        path: path.display().to_string(),
                    };
                    self.recorded(None, undo, |_| {
                        unit::Cgroup::create(&path).map_err(net_err("create the lab's cgroup"))
                    })
                    .ok()
                }
                None => None,
            };
            let made = match cgroup {
                Some(c) => Unit::Cgroup(c),
                None => Unit::PidNs(unit::PidNs::start().map_err(|e| {
                    LabError::kernel(
                        "make a PID namespace for the lab's processes",
                        "nslab's own setup",
                        e,
                    )
                })?),
            };
            self.unit = Some(made);
        }
        Ok(())
    }

    /// `ip netns exec NS CMD…`, output captured.
    pub fn exec(
        &mut self,
        id: NsId,
        argv: &[String],
        opts: &exec::RunOpts,
    ) -> Result<exec::Output> {
        self.settle();
        self.unit()?;
        let fd = self.sp.fd(id).map_err(net_err("open namespace"))?;
        let unit = made(&self.unit)?;
        let out = exec::run(fd.as_fd(), argv, id != HOST, unit, opts, &self.cancel);
        self.check_cancel()?;
        let out = out.map_err(|e| self.start_err("run a command", id, argv, e))?;
        if out.timed_out {
            let ms = opts.timeout.map(|t| t.as_millis()).unwrap_or(0);
            return Err(LabError::new(
                format!(
                    "command '{}' did not finish within {ms} ms, and was killed",
                    shown_command(argv)
                ),
                "give it more time (a larger timeout_ms), or start a program that runs on with ns.spawn(…)",
            ));
        }
        Ok(out)
    }

    /// A command that could not start: a missing program in words.
    fn start_err(
        &self,
        doing: &str,
        id: NsId,
        argv: &[String],
        e: crate::net::NetError,
    ) -> LabError {
        match e.raw_errno() {
            Some(libc::ENOENT) => LabError::new(
                format!(
                    "program '{}' not found",
                    argv.first().map(String::as_str).unwrap_or("")
                ),
                "install it, or give its full path; a string runs through `sh -c`, an array runs the program directly",
            ),
            _ => LabError::kernel(doing, &self.where_(id), e),
        }
    }

    /// A background process in `ns` (a server, a capture), stopped at
    /// teardown before its namespace is deleted. Returns its number.
    pub fn spawn(&mut self, id: NsId, argv: &[String]) -> Result<usize> {
        self.settle();
        self.unit()?;
        let fd = self.sp.fd(id).map_err(net_err("open namespace"))?;
        let unit = made(&self.unit)?;
        let p = exec::spawn(fd.as_fd(), argv, id != HOST, unit)
            .map_err(|e| self.start_err("start a process", id, argv, e))?;
        let pid = p.child.id();
        let start = exec::start_time(pid).unwrap_or(0);
        // Always recorded: a process pins its namespace, and outlives it.
        self.recorded(None, Undo::StopProcess { pid, start }, |_| Ok(()))?;
        self.procs.push(p);
        Ok(self.procs.len() - 1)
    }

    /// (pid, running, stdout, stderr) of spawned process `idx`.
    pub fn process(&mut self, idx: usize) -> Option<(u32, bool, String, String)> {
        let p = self.procs.get_mut(idx)?;
        let running = matches!(p.child.try_wait(), Ok(None));
        let out = p.stdout.lock().map(|s| s.clone()).unwrap_or_default();
        let err = p.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        Some((p.child.id(), running, out, err))
    }

    /// Stops spawned process `idx` now.
    pub fn stop_process(&mut self, idx: usize) -> Result<()> {
        if let Some(p) = self.procs.get_mut(idx) {
            exec::kill(&mut p.child);
        }
        Ok(())
    }

    /// A native server on `port` in `ns` (what `nc -l` does in labs);
    /// returns its number for `peers`.
    pub fn listen(&mut self, id: NsId, proto: Proto, port: u16) -> Result<usize> {
        let name = self.sp.name(id).to_string();
        let bound = self
            .sp
            .run_in(id, move || probe::bind(proto, port))
            .map_err(|e| match e.raw_errno() {
                Some(libc::EADDRINUSE) => LabError::new(
                    format!(
                        "port {port}/{} is already in use in namespace '{name}'",
                        proto_name(proto)
                    ),
                    "pick another port, or stop what listens there",
                ),
                _ => LabError::kernel("listen", &format!("port {port} in '{name}'"), e),
            })?;
        let l = bound
            .serve()
            .map_err(|e| LabError::kernel("start a listener", &name, e))?;
        self.listeners.push((id, l));
        Ok(self.listeners.len() - 1)
    }

    /// Source addresses seen by listener `idx`.
    pub fn peers(&self, idx: usize) -> Vec<IpAddr> {
        self.listeners
            .get(idx)
            .map(|(_, l)| l.peers())
            .unwrap_or_default()
    }

    /// Can `ns` open (TCP) or get an answer from (UDP) `dst:port`?
    pub fn connect(
        &mut self,
        id: NsId,
        dst: IpAddr,
        proto: Proto,
        port: u16,
        timeout: Duration,
    ) -> Result<bool> {
        self.settle();
        let v6 = dst.is_ipv6();
        let sock = self
            .sp
            .run_in(id, move || probe::client_socket(proto, v6))
            .map_err(|e| LabError::kernel("open a socket", &self.where_(id), e))?;
        let before = self.kstat.before(v6);
        let dst = std::net::SocketAddr::new(dst, port);
        let reached = probe::reach(&sock, proto, dst, timeout, &self.cancel);
        self.check_cancel()?;
        if reached {
            return Ok(true);
        }
        // `false` would say the lab's network refused or dropped it, and a
        // firewall check would take that for "blocked": when the kernel
        // itself ran out, the probe has no answer, so it is an error.
        let hit = self.kstat.hit_since(&before, v6);
        match (kstat::why(&hit), kstat::help(&hit)) {
            (Some(why), Some(help)) => Err(LabError::new(
                format!(
                    "cannot tell whether {dst} ({}) is reachable from '{}': {why}",
                    proto_name(proto),
                    self.sp.name(id)
                ),
                help,
            )),
            _ => Ok(false),
        }
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_set() {
            return Err(LabError::new("interrupted", "the lab is being torn down"));
        }
        Ok(())
    }

    /// The lab's own nf_tables table (family inet), one per namespace used.
    pub fn table_name(&self) -> String {
        format!("nslab-{}", self.name)
    }

    /// Applies one nft transaction in `ns`; the first one there creates the
    /// lab's table (refusing to adopt an existing one) and records its removal.
    fn nft(
        &mut self,
        id: NsId,
        doing: &str,
        build: impl FnOnce(Ruleset, &str) -> Ruleset,
    ) -> Result<()> {
        let prog = nft::program().ok_or_else(|| {
            LabError::new(
                "`nft` is not installed; nslab needs it for NAT and firewall rules",
                "install the nftables package (apt install nftables, dnf install nftables), or point NSLAB_NFT at an nft binary",
            )
        })?;
        let table = self.table_name();
        let first = !self.nft_tables.contains(&id);
        let owner = ledger::owner_set(&self.header.id);
        let rules = build(
            Ruleset::new(&table, first.then_some(owner.as_str())),
            &table,
        );
        let where_ = self.where_(id);
        let run = |lab: &mut Lab| {
            let fd = lab.sp.fd(id).map_err(net_err("open namespace"))?;
            nft::apply(fd.as_fd(), &prog, rules).map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) if first => LabError::new(
                    format!("nf_tables table 'inet {table}' already exists in {where_}"),
                    format!(
                        "it is not this lab's: remove it (`nft delete table inet {table}`, or `nslab down --all` if a crashed lab left it), or run with --name"
                    ),
                ),
                Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => LabError::new(
                    format!("cannot {doing} in {where_}: the kernel lacks the nf_tables support for it ({e})"),
                    "load the nf_tables modules (nf_tables, nft_nat, nft_masq, nft_ct), or use a kernel built with them",
                ),
                _ => LabError::kernel(doing, &where_, e),
            })
        };
        if first {
            let undo = Undo::DeleteNftTable {
                ns: self.sp.nsref(id).clone(),
                table: table.clone(),
                owner: owner.clone(),
            };
            self.recorded(Some(id), undo, run)?;
            self.nft_tables.insert(id);
            Ok(())
        } else {
            run(self)
        }
    }

    /// `iptables -A CHAIN … -j ACCEPT|DROP` in `ns`, in the lab's table.
    pub fn filter(&mut self, id: NsId, rule: &FilterRule) -> Result<()> {
        self.nft(id, "add a firewall rule", |rs, t| rs.filter(t, rule))
    }

    /// `iptables -P CHAIN ACCEPT|DROP` in `ns`, for the lab's chain.
    pub fn policy(&mut self, id: NsId, hook: Hook, verdict: Verdict) -> Result<()> {
        self.nft(id, "set a chain policy", |rs, t| {
            rs.policy(t, hook, verdict)
        })
    }

    /// `iptables -t nat -A POSTROUTING -s SRC -o OIF -j MASQUERADE` and the
    /// FORWARD accepts (out, and established/related back), in `ns`.
    pub fn masquerade(&mut self, id: NsId, src: IpNet, oif: &str) -> Result<()> {
        names::check_ifname(oif)?;
        // nft matches the device by name and takes any name: a typo would
        // make a rule that never applies, silently.
        self.link(id, oif)?;
        self.nft(id, "add masquerading", |rs, t| rs.masquerade(t, src, oif))
    }

    /// An interactive shell in `ns` (`ip netns exec NS bash`) on this
    /// terminal; returns its exit code.
    pub fn shell(&mut self, id: NsId) -> Result<i64> {
        self.settle();
        if !exec::has_terminal() {
            return Err(LabError::new(
                "ns.shell() needs a terminal, and nslab's input or output is not one",
                "run the script from an interactive terminal; in scripts and CI use ns.exec(\"cmd\") instead",
            ));
        }
        let name = self.sp.name(id).to_string();
        let prog = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        self.unit()?;
        eprintln!("nslab: shell in namespace '{name}'; `exit` returns to the script");
        let fd = self.sp.fd(id).map_err(net_err("open namespace"))?;
        let unit = made(&self.unit)?;
        let argv = [prog];
        let env = [("NSLAB_NETNS", name.as_str())];
        let code = exec::interactive(fd.as_fd(), &argv, &env, id != HOST, unit, &self.cancel);
        self.check_cancel()?;
        code.map_err(|e| self.start_err("start a shell", id, &argv, e))
    }

    /// Leave the lab up at the end; `nslab down` removes it later.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    pub fn is_kept(&self) -> bool {
        self.keep
    }

    /// Undoes everything, in reverse; returns every step that failed.
    /// With keep() the lab stays and its journal is marked kept instead.
    pub fn teardown(&mut self) -> TeardownReport {
        if self.torn_down {
            return TeardownReport::default();
        }
        self.torn_down = true;
        // Sockets first: they pin their namespaces.
        for (_, l) in &mut self.listeners {
            l.stop();
        }
        self.listeners.clear();
        self.ping_socks.clear();
        // Then processes: they pin their namespaces. Also for a kept lab:
        // its processes could not outlive nslab anyway (their output goes
        // to it), so they end with it, whatever they started included.
        let mut report = TeardownReport {
            errors: self.end_processes(),
            left_alone: Vec::new(),
        };
        if self.keep {
            if let Some(j) = &mut self.journal
                && let Err(e) = j.mark_kept()
            {
                report.errors.push(e);
            }
            self.sp.close_all();
            return report;
        }
        let steps: Vec<Undo> = std::mem::take(&mut self.ledger)
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        let unwound = TeardownReport::from(ledger::unwind(&mut self.sp, &steps, &self.header));
        report.errors.extend(unwound.errors);
        report.left_alone.extend(unwound.left_alone);
        if report.errors.is_empty()
            && let Some(j) = self.journal.take()
        {
            j.remove();
        }
        report
    }
}

impl Lab {
    /// Stops every process the lab started: each spawned one as its undo
    /// step would (SIGTERM to its group, a short grace, SIGKILL), then the
    /// unit with whatever is left in it (background jobs of `exec`, what a
    /// process started in a session of its own), reaping nslab's children.
    /// The cgroup's undo step finds it gone afterwards.
    fn end_processes(&mut self) -> Vec<LabError> {
        for p in &mut self.procs {
            if matches!(p.child.try_wait(), Ok(None)) {
                let pid = p.child.id();
                if let Some(start) = exec::start_time(pid) {
                    let _ = exec::stop(pid, start);
                }
            }
        }
        let Some(u) = self.unit.take() else {
            return Vec::new();
        };
        // Killed children are reaped right away: a PID namespace's init
        // finishes dying only once they are.
        let procs = &mut self.procs;
        let killed = u.kill(|| {
            for p in procs.iter_mut() {
                let _ = p.child.wait();
            }
        });
        match killed {
            Ok(()) => Vec::new(),
            Err(e) => vec![LabError::kernel("stop the lab's processes", "teardown", e)],
        }
    }
}

/// The unit `Lab::unit` made.
fn made(unit: &Option<Unit>) -> Result<&Unit> {
    unit.as_ref().ok_or_else(|| {
        LabError::new(
            "the lab's process unit is missing",
            "this is a bug; please report it",
        )
    })
}

/// A command as the user wrote it: the line given to `sh -c`, or the words.
fn shown_command(argv: &[String]) -> String {
    match argv {
        [sh, c, line] if sh == "sh" && c == "-c" => line.clone(),
        _ => argv.join(" "),
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A lab dropped without an explicit teardown (an early return, a
        // panic unwinding) still cleans up.
        let _ = self.teardown();
    }
}

/// The kernel's main routing table, where `ns.route` adds routes.
const MAIN_TABLE: u32 = 254;

/// A route destination as scripts write it: "default" for a /0.
fn dst_text(dst: IpNet) -> String {
    if dst.prefix_len() == 0 {
        "default".into()
    } else {
        dst.to_string()
    }
}

/// A failed `br.attach(link)` in words. The kernel answers ELOOP when the
/// port is itself a bridge (Linux never nests bridges, which could make a
/// loop of bridges), as strerror's "Too many symbolic links".
fn attach_err(what: &str, br: &str, link: &str, e: crate::net::NetError) -> LabError {
    match e.raw_errno() {
        Some(libc::ELOOP) => LabError::new(
            format!(
                "cannot attach '{link}' to bridge '{br}': '{link}' is a bridge, and a bridge cannot be a port of another bridge (that could make a loop of bridges)"
            ),
            "join two bridges with a veth instead: let c = veth(ns, \"x\", ns, \"y\"); then attach c[0] to one bridge and c[1] to the other",
        ),
        _ => LabError::kernel("attach a link", what, e),
    }
}

pub fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// `nslab down LAB`: finish a lab's teardown from its journal. The caller
/// holds the journal's lock (`Record::claim`).
pub fn down(rec: &journal::Record) -> Result<TeardownReport> {
    let mut sp = Spaces::new().map_err(net_err("start teardown"))?;
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
    }
}
