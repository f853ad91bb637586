//! The lab as data: its namespaces (with a role), links, addresses, routes
//! and rules, read back from the kernel. `show()` prints it as a table,
//! `nslab show --json` and `show(#{json: true})` as JSON, and `nslab graph`
//! draws it. It is built from a live `Lab`, or from a kept or running lab's
//! journal (which names its namespaces and host links) and the kernel.
//!
//! The JSON field names are documented in docs/json.md and stay
//! stable: tools read them.

use crate::lab::steps::links::DeleteLink;
use crate::lab::steps::netns::DeleteNetns;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::os::fd::{AsFd, AsRawFd};

use serde::{Deserialize, Serialize};

use super::error::{LabError, Result};
use super::journal::Record;
use super::ledger::{Undo, rule_text};
use super::space::{NsRef, Spaces};
use super::steps::nodes::RemoveNodeDirs;
use super::{HOST, Lab, NsId, net_err};
use crate::net::rtnl::{LinkInfoRow, RouteRow};
use crate::net::{ns, pids, sysctl};

/// A whole lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabView {
    pub lab: String,
    /// "running", "kept" or "left-behind" (its process is gone).
    pub state: String,
    /// The process that built (or runs) it.
    pub pid: u32,
    pub script: String,
    pub isolated: bool,
    pub namespaces: Vec<Namespace>,
}

/// One namespace of the lab ("host" for the namespace nslab started in,
/// shown when the lab put links there, with those links only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    /// "router" (IPv4 or IPv6 forwarding on), "switch" (has a bridge and
    /// does not forward), or "host".
    pub role: String,
    pub forwarding: bool,
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    /// Policy rules other than the three every namespace starts with, as
    /// `ip rule` shows them.
    pub rules: Vec<String>,
    /// The host name its programs see (`netns(name, #{hostname})`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Its private directories (`netns(name, #{dirs})`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<String>,
    /// `show()`'s firewall part: the lab's nf_tables rules there, as nft
    /// prints them after their chain (not in the JSON view: `show()` reads
    /// them, the journal's view has none).
    #[serde(skip)]
    pub firewall: Vec<String>,
    /// The routing daemons running there ("FRR ospfd", "BIRD").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daemons: Vec<String>,
    /// The machine it is on, when not the one the script runs on
    /// (`netns(name, #{on})`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    /// "veth", "bridge", "loopback", "macvlan", "vxlan", … ("" when the
    /// kernel gives none).
    pub kind: String,
    /// Administratively up (`ip link set … up`).
    pub up: bool,
    /// The kernel's operational state: "up", "down", "unknown", …
    pub state: String,
    pub mtu: u32,
    /// "02:00:00:00:00:01"; "" when it has none.
    pub mac: String,
    /// The bridge it is a port of.
    pub master: Option<String>,
    /// The other end of a veth.
    pub peer: Option<Peer>,
    /// The link a macvlan or ipvlan sits on (when the lab shows its
    /// namespace).
    pub lower: Option<Peer>,
    /// "10.0.0.1/24", … (not the kernel's own link-local and loopback ones).
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub namespace: String,
    pub link: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Route {
    /// As `ip route` prints it: "default via 10.0.0.1 dev eth0".
    pub text: String,
    /// "10.1.0.0/24", "0.0.0.0/0", "::/0".
    pub dst: String,
    pub via: Option<String>,
    pub dev: Option<String>,
    pub table: u32,
    pub metric: u32,
    /// "unicast", "blackhole", "unreachable", "prohibit", …
    pub kind: String,
    pub nexthops: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hop {
    pub via: Option<String>,
    pub dev: Option<String>,
    pub weight: u16,
}

/// What to read: namespaces, the host's links that are the lab's, and the
/// veth peers when they are known (else they are found in the kernel).
struct Scope {
    ids: Vec<NsId>,
    /// By name, with the index the journal knew it by (a link of that name
    /// with another index is someone else's now).
    host_links: HashMap<String, Option<u32>>,
    peers: Option<HashMap<(NsId, String), (NsId, String)>>,
}

/// The fullest view of a lab seen so far (most namespaces; the later of
/// two as full). A script that deletes its namespaces before it ends
/// (seed 000 does, as its tutorial does) would otherwise be drawn empty.
#[derive(Default)]
pub struct Fullest(Option<LabView>);

impl Lab {
    /// From now on, remember the fullest view (see `fullest_view`).
    pub fn watch_views(&mut self) {
        self.watch.watch_fullest();
    }

    /// Before a namespace goes: note the lab as it is, if watched.
    pub(super) fn note_view(&mut self) {
        // Read the kernel only when the lab could be fuller than the best
        // view so far (a script deleting many namespaces reads it once).
        let shown = self.shown_namespaces().len();
        match self.watch.fullest() {
            None => return,
            Some(Fullest(Some(best))) if best.namespaces.len() > shown => return,
            _ => {}
        }
        if let Ok(v) = self.view() {
            self.keep_fuller(v);
        }
    }

    fn keep_fuller(&mut self, v: LabView) {
        if let Some(Fullest(best)) = self.watch.fullest_mut()
            && best
                .as_ref()
                .is_none_or(|b| v.namespaces.len() >= b.namespaces.len())
        {
            *best = Some(v);
        }
    }

    /// The lab now, or as it was before it lost namespaces when it held
    /// more (with `watch_views`).
    pub fn fullest_view(&mut self) -> Result<LabView> {
        let now = self.view()?;
        self.keep_fuller(now.clone());
        Ok(match self.watch.fullest() {
            Some(Fullest(Some(best))) => best.clone(),
            _ => now,
        })
    }

    /// One namespace of the lab as `view` shows it, with `show()`'s
    /// firewall lines: what an agent tells the driver of a namespace placed
    /// on its machine.
    pub fn view_one(&mut self, id: NsId) -> Result<Namespace> {
        let scope = Scope {
            ids: vec![id],
            host_links: HashMap::new(),
            peers: Some(self.topo.peers().clone()),
        };
        let mut n = read(&mut self.sp, &scope)?
            .pop()
            .ok_or_else(|| LabError::new("a namespace was not read", "this is a bug"))?;
        if let Some(spec) = self.node_spec(id) {
            n.hostname = spec.hostname;
            n.dirs = spec.dirs;
        }
        n.firewall = self
            .firewall_lines(id)
            .unwrap_or_else(|e| vec![format!("(not read: {e})")]);
        Ok(n)
    }

    /// The lab as it stands (see `LabView`).
    pub fn view(&mut self) -> Result<LabView> {
        let ids = self.shown_namespaces();
        let host_links = self
            .topo
            .made_outside_all()
            .filter(|(ns, _)| *ns == HOST)
            .map(|(_, l)| (self.kernel_link(HOST, l).into_owned(), None))
            .collect();
        let scope = Scope {
            ids,
            host_links,
            // An attached session knows only the veths it made itself:
            // the kept lab's are found in the kernel, as `nslab show` does.
            peers: (!self.id.is_attached()).then(|| self.topo.peers().clone()),
        };
        let mut namespaces = read(&mut self.sp, &scope)?;
        for (n, id) in namespaces.iter_mut().zip(&scope.ids) {
            if let Some(spec) = self.node_spec(*id) {
                n.hostname = spec.hostname;
                n.dirs = spec.dirs;
            }
        }
        // Those on other machines, as their agents see them, after.
        namespaces.extend(self.placed_views()?);
        Ok(LabView {
            lab: self.id.name().to_string(),
            // Kept or not, it runs while it can be looked at this way.
            state: "running".into(),
            pid: self.id.header().pid,
            script: self.id.header().script.clone(),
            isolated: self.id.is_isolated(),
            namespaces,
        })
    }
}

/// A kept or running lab, from its journal and the kernel: the namespaces
/// it made (still the same ones: a name reused by someone else since is
/// left out), the ones it put links in, and its links in the host.
pub fn from_record(rec: &Record) -> Result<LabView> {
    let mut sp = Spaces::new().map_err(net_err("read the lab"))?;
    if let Some(p) = &rec.header.prefix {
        sp.set_prefix(p);
    }
    let mut ids = vec![];
    let mut host_links = HashMap::new();
    let add = |sp: &mut Spaces, ids: &mut Vec<NsId>, r: &NsRef| {
        if let Ok(id) = sp.resolve(r)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    };
    for step in &rec.steps {
        match step {
            Undo::DeleteNetns(DeleteNetns {
                name,
                dev,
                ino,
                cookie,
            }) if ns::named_is_recorded(name, *dev, *ino, *cookie).unwrap_or(false) => {
                add(&mut sp, &mut ids, &NsRef::Named(name.clone()));
            }
            Undo::DeleteLink(DeleteLink { ns, name, ifindex }) => {
                if *ns == NsRef::Host {
                    host_links.insert(name.clone(), Some(*ifindex));
                }
                add(&mut sp, &mut ids, ns);
            }
            _ => {}
        }
    }
    // Host first, then in the order the lab made them (as show() does).
    ids.sort();
    let scope = Scope {
        ids,
        host_links,
        peers: None,
    };
    let mut namespaces = read(&mut sp, &scope)?;
    // The nodes' directories and host names, as the journal says.
    for step in &rec.steps {
        if let Undo::RemoveNodeDirs(RemoveNodeDirs { ns, dirs, hostname }) = step
            && let Some(n) = namespaces.iter_mut().find(|n| n.name == *ns)
        {
            n.dirs = dirs.clone();
            n.hostname = hostname.clone();
        }
    }
    let state = match (rec.alive(), rec.kept) {
        (true, _) => "running",
        (false, true) => "kept",
        (false, false) => "left-behind",
    };
    Ok(LabView {
        lab: rec.header.lab.clone(),
        state: state.into(),
        pid: rec.header.pid,
        script: rec.header.script.clone(),
        isolated: rec.header.isolated,
        namespaces,
    })
}

fn kernel(doing: &'static str, sp: &Spaces, id: NsId) -> impl Fn(crate::net::NetError) -> LabError {
    let at = format!("namespace '{}'", sp.name(id));
    move |e| LabError::kernel(doing, &at, e)
}

/// Everything a namespace holds, as the kernel has it.
struct Raw {
    links: Vec<LinkInfoRow>,
    addrs: Vec<crate::net::rtnl::AddrRow>,
    routes: Vec<RouteRow>,
    rules: Vec<crate::net::rtnl::RuleSpec>,
    forwarding: bool,
    daemons: Vec<String>,
}

fn read_raw(sp: &mut Spaces, id: NsId) -> Result<Raw> {
    let r = sp.rtnl(id).map_err(kernel("open netlink", sp, id))?;
    let links = sp
        .block_on(r.links())
        .map_err(kernel("list links", sp, id))?;
    let addrs = sp
        .block_on(r.addrs())
        .map_err(kernel("list addresses", sp, id))?;
    let mut routes = Vec::new();
    let mut rules = Vec::new();
    for v6 in [false, true] {
        routes.extend(
            sp.block_on(r.routes(v6))
                .map_err(kernel("list routes", sp, id))?,
        );
        rules.extend(
            sp.block_on(r.rules(v6))
                .map_err(kernel("list rules", sp, id))?
                .into_iter()
                .filter(|x| !x.other_action && !super::rules::is_default_rule(&x.spec))
                .map(|x| x.spec),
        );
    }
    // A key that is missing (IPv6 turned off) is forwarding off.
    let forwarding = sp
        .run_in(id, || {
            Ok(["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
                .iter()
                .any(|k| sysctl::read(k).is_ok_and(|v| v == "1")))
        })
        .map_err(kernel("read forwarding", sp, id))?;
    let daemons = sp
        .fd(id)
        .map(|fd| pids::routing_daemons(&pids::programs_in(fd.as_fd())))
        .unwrap_or_default();
    Ok(Raw {
        links,
        addrs,
        routes,
        rules,
        forwarding,
        daemons,
    })
}

fn read(sp: &mut Spaces, scope: &Scope) -> Result<Vec<Namespace>> {
    let mut raws = Vec::new();
    for &id in &scope.ids {
        raws.push(read_raw(sp, id)?);
    }
    // The host's links that are the lab's, by the script's names: under a
    // prefix the kernel's start with it (see prefix.rs).
    let mut mine_host = HashSet::new();
    for (&id, raw) in scope.ids.iter().zip(raws.iter_mut()) {
        if id != HOST {
            continue;
        }
        for x in raw.links.iter_mut() {
            if scope
                .host_links
                .get(&x.name)
                .is_some_and(|want| want.is_none_or(|i| x.index == i))
            {
                if let Some(n) = sp.script_name(&x.name) {
                    x.name = n.to_string();
                }
                mine_host.insert(x.name.clone());
            }
        }
    }
    let peers = match &scope.peers {
        Some(p) => p.clone(),
        None => kernel_peers(sp, &scope.ids, &raws),
    };
    let lowers = kernel_lowers(sp, &scope.ids, &raws);
    let mut out = Vec::new();
    for (&id, raw) in scope.ids.iter().zip(&raws) {
        let mine = |l: &str| id != HOST || mine_host.contains(l);
        let name_of = |i: u32| {
            raw.links
                .iter()
                .find(|l| l.index == i)
                .map(|l| l.name.clone())
        };
        let links: Vec<Link> = raw
            .links
            .iter()
            .filter(|l| mine(&l.name))
            .map(|l| Link {
                name: l.name.clone(),
                kind: l.kind.clone(),
                up: l.up,
                state: l.state.clone(),
                mtu: l.mtu,
                mac: super::names::format_mac(&l.mac),
                master: l.master.and_then(name_of),
                peer: peers.get(&(id, l.name.clone())).map(|(pns, pl)| Peer {
                    namespace: sp.name(*pns).to_string(),
                    link: pl.clone(),
                }),
                lower: lowers.get(&(id, l.name.clone())).map(|(pns, pl)| Peer {
                    namespace: sp.name(*pns).to_string(),
                    link: pl.clone(),
                }),
                // Link-local and loopback addresses are the kernel's, not the lab's.
                addresses: raw
                    .addrs
                    .iter()
                    .filter(|a| a.index == l.index && !is_kernels(a.addr))
                    .map(|a| a.addr.to_string())
                    .collect(),
            })
            .collect();
        // Every table's routes but the kernel's own (link-local,
        // loopback); in the host only those through the lab's links.
        let routes = raw
            .routes
            .iter()
            .map(|r| super::routes::view_of(r, &raw.links))
            .filter(|r| !is_kernels(r.dst))
            .filter(|r| {
                let devs: Vec<&str> = r
                    .dev
                    .iter()
                    .chain(r.nexthops.iter().filter_map(|h| h.dev.as_ref()))
                    .map(String::as_str)
                    .collect();
                id != HOST || (!devs.is_empty() && devs.iter().all(|d| mine(d)))
            })
            .map(|r| Route {
                text: super::routes::view_text(&r),
                dst: r.dst.to_string(),
                via: r.via.map(|v| v.to_string()),
                dev: r.dev.clone(),
                table: r.table,
                metric: r.metric,
                kind: r.kind.name().to_string(),
                nexthops: r
                    .nexthops
                    .iter()
                    .map(|h| Hop {
                        via: h.via.map(|v| v.to_string()),
                        dev: h.dev.clone(),
                        weight: h.weight,
                    })
                    .collect(),
            })
            .collect();
        let rules = if id == HOST {
            Vec::new()
        } else {
            raw.rules.iter().map(rule_text).collect()
        };
        let has_bridge = links.iter().any(|l| l.kind == "bridge");
        let role = if raw.forwarding {
            "router"
        } else if has_bridge {
            "switch"
        } else {
            "host"
        };
        out.push(Namespace {
            name: sp.name(id).to_string(),
            role: role.into(),
            forwarding: raw.forwarding,
            links,
            routes,
            rules,
            hostname: None,
            dirs: Vec::new(),
            daemons: raw.daemons.clone(),
            firewall: Vec::new(),
            machine: None,
        });
    }
    Ok(out)
}

/// The two ends of every veth, found in the kernel: a veth names its
/// peer's index and, when the peer is elsewhere, its namespace by an id
/// private to this namespace. Indexes repeat across namespaces, so a peer
/// is the link with that index whose own peer is this link; when several
/// namespaces have such a link, the namespace ids decide.
fn kernel_peers(
    sp: &mut Spaces,
    ids: &[NsId],
    raws: &[Raw],
) -> HashMap<(NsId, String), (NsId, String)> {
    let veth_end = |l: &LinkInfoRow| l.peer.filter(|_| l.kind == "veth");
    kernel_ends(sp, ids, raws, veth_end, |l, x| {
        x.kind == "veth" && x.peer == Some(l.index)
    })
}

/// The link under every macvlan and ipvlan: named by index and, when it
/// is in another namespace, by that namespace's id (as veth peers are).
fn kernel_lowers(
    sp: &mut Spaces,
    ids: &[NsId],
    raws: &[Raw],
) -> HashMap<(NsId, String), (NsId, String)> {
    kernel_ends(sp, ids, raws, |l| l.lower, |_, _| true)
}

/// The link at the other end of each link that has one (`end`: the other
/// end's index): in the same namespace when the kernel gives no namespace
/// id, else among the links with that index that `fits`, picked by `pick`.
fn kernel_ends(
    sp: &mut Spaces,
    ids: &[NsId],
    raws: &[Raw],
    end: impl Fn(&LinkInfoRow) -> Option<u32>,
    fits: impl Fn(&LinkInfoRow, &LinkInfoRow) -> bool,
) -> HashMap<(NsId, String), (NsId, String)> {
    let mut out = HashMap::new();
    for (i, raw) in raws.iter().enumerate() {
        for l in &raw.links {
            let Some(p) = end(l) else { continue };
            let here = (ids[i], l.name.clone());
            if l.peer_nsid.is_none() {
                if let Some(pl) = raw.links.iter().find(|x| x.index == p) {
                    out.insert(here, (ids[i], pl.name.clone()));
                }
                continue;
            }
            let candidates: Vec<(usize, &LinkInfoRow)> = raws
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(j, r)| {
                    r.links
                        .iter()
                        .find(|x| x.index == p && fits(l, x))
                        .map(|x| (j, x))
                })
                .collect();
            if let Some((j, x)) = pick(sp, ids, i, l.peer_nsid, candidates) {
                out.insert(here, (ids[j], x.name.clone()));
            }
        }
    }
    out
}

/// The one candidate, or among several the one in the namespace that
/// namespace `i` knows by `nsid`.
fn pick<'a>(
    sp: &mut Spaces,
    ids: &[NsId],
    i: usize,
    nsid: Option<i32>,
    candidates: Vec<(usize, &'a LinkInfoRow)>,
) -> Option<(usize, &'a LinkInfoRow)> {
    if candidates.len() == 1 {
        return Some(candidates[0]);
    }
    candidates.into_iter().find(|(j, _)| {
        let Ok(r) = sp.rtnl(ids[i]) else { return false };
        let Ok(fd) = sp.fd(ids[*j]).map(|f| f.as_raw_fd()) else {
            return false;
        };
        sp.block_on(r.nsid_of(fd))
            .is_ok_and(|n| n.is_some() && n == nsid)
    })
}

fn is_kernels(net: ipnet::IpNet) -> bool {
    match net.addr() {
        std::net::IpAddr::V4(a) => a.is_loopback(),
        std::net::IpAddr::V6(a) => a.is_loopback() || a.is_unicast_link_local(),
    }
}

impl LabView {
    /// The table `show()` prints.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.namespaces.is_empty() {
            return "the lab is empty: make a namespace with netns(\"name\")\n".into();
        }
        for n in &self.namespaces {
            match &n.machine {
                Some(m) => {
                    let _ = writeln!(out, "namespace {} (on machine {m})", n.name);
                }
                None => {
                    let _ = writeln!(out, "namespace {}", n.name);
                }
            }
            if let Some(h) = &n.hostname {
                let _ = writeln!(out, "  hostname {h}");
            }
            if !n.dirs.is_empty() {
                let _ = writeln!(out, "  private dirs {}", n.dirs.join(" "));
            }
            if !n.daemons.is_empty() {
                let _ = writeln!(out, "  runs {}", n.daemons.join(", "));
            }
            let _ = writeln!(
                out,
                "  {:<15} {:<8} {:<5} {:<15} {:<22} addresses",
                "link", "kind", "state", "master", "peer"
            );
            for l in &n.links {
                let peer = l
                    .peer
                    .as_ref()
                    .map(|p| format!("{} in {}", p.link, p.namespace))
                    .unwrap_or_default();
                let kind = if l.kind.is_empty() { "-" } else { &l.kind };
                let row = format!(
                    "  {:<15} {:<8} {:<5} {:<15} {:<22} {}",
                    l.name,
                    kind,
                    if l.up { "up" } else { "down" },
                    l.master.as_deref().unwrap_or(""),
                    peer,
                    l.addresses.join(" ")
                );
                let _ = writeln!(out, "{}", row.trim_end());
            }
            if !n.routes.is_empty() {
                let _ = writeln!(out, "  routes:");
                for r in &n.routes {
                    let _ = writeln!(out, "    {}", r.text);
                }
            }
            if !n.rules.is_empty() {
                let _ = writeln!(out, "  rules:");
                for r in &n.rules {
                    let _ = writeln!(out, "    {r}");
                }
            }
            if !n.firewall.is_empty() {
                let _ = writeln!(out, "  firewall:");
                for r in &n.firewall {
                    let _ = writeln!(out, "    {r}");
                }
            }
        }
        out
    }

    pub fn json(&self) -> String {
        // Plain data: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
