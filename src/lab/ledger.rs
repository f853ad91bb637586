//! Undo steps: one per change a lab made, replayed in reverse at teardown
//! (by the lab itself, or by `nslab down` from the journal).
//!
//! Each step carries the identity of what the lab made or changed, not just
//! its name: a namespace's nsfs inode, a link's ifindex (chosen by nslab and
//! given to the kernel in the request that makes the link, so it is known
//! before the link exists), the marker set inside an nf_tables table. A step
//! whose object no longer has that identity is left alone, with a note that
//! says so: whatever else carries the name now is someone else's.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::journal::Header;
use super::names;
use super::shared;
use super::space::{NsRef, Spaces};
use crate::net::rtnl::{
    self, AddrBack, Hop, PortOpts, RouteBack, RouteKind, RouteSpec, Rtnl, RuleAction, RuleSpec,
};
use std::os::fd::AsFd;

use crate::net::{NetError, Result, nft, ns, unit};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Undo {
    /// `ip netns del NAME`, if NAME is still the namespace with inode `ino`
    /// on nsfs device `dev` and, where the kernel has them, `cookie` (inodes
    /// are reused; see `ns::cookie_here`).
    DeleteNetns {
        name: String,
        dev: u64,
        ino: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cookie: Option<u64>,
    },
    /// `ip link del NAME`, if NAME still has index `ifindex`.
    DeleteLink {
        ns: NsRef,
        name: String,
        ifindex: u32,
    },
    /// `ip addr del ADDR dev DEV` (DEV with index `ifindex`)
    DeleteAddr {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        addr: IpNet,
    },
    /// `ip route del [TYPE] DST [via GW] [dev DEV] [metric N] [table T]
    /// [nexthop …] proto static`: the route the lab added, and no other.
    DeleteRoute {
        ns: NsRef,
        dst: IpNet,
        via: Option<IpAddr>,
        dev: Option<String>,
        metric: Option<u32>,
        /// `None`: the main table.
        #[serde(default)]
        table: Option<u32>,
        #[serde(default)]
        kind: RouteKind,
        #[serde(default)]
        nexthops: Vec<NamedHop>,
    },
    /// `ip route add …` of a route that was there before the lab deleted
    /// it (ns.route_delete outside the lab's namespaces), as it was.
    RestoreRoute { ns: NsRef, route: SavedRoute },
    /// `ip rule del …` with every selector of the rule the lab added.
    DeleteRule { ns: NsRef, rule: RuleSpec },
    /// `ip neigh del ADDR dev DEV`, if the entry is still the permanent one
    /// the lab added (that link-layer address, DEV with index `ifindex`).
    DeleteNeigh {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        addr: IpAddr,
        lladdr: String,
    },
    /// Lets go of a host sysctl this lab holds; the last lab holding it
    /// restores the value from before the first one (see `shared`).
    ReleaseSysctl { key: String },
    /// `kill` a process started with ns.spawn (and its group)
    StopProcess { pid: u32, start: u64 },
    /// `ip link set DEV up|down` back to how it was
    RestoreUp {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        up: bool,
    },
    /// `ip link set DEV mtu OLD`
    RestoreMtu {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        mtu: u32,
    },
    /// `nft delete table inet TABLE`, if it holds the set `owner` that the
    /// transaction making it put there.
    DeleteNftTable {
        ns: NsRef,
        table: String,
        owner: String,
    },
    /// `ip link set DEV master OLD` / `nomaster`
    RestoreMaster {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        master: Option<String>,
    },
    /// `ip link set DEV type bridge_slave isolated … hairpin … cost …
    /// priority …` back to what they were
    RestorePort {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        opts: PortOpts,
    },
    /// `tc qdisc del dev DEV root`, if the root qdisc still has the handle
    /// `major:` the lab gave it (the kernel then puts its default back)
    DeleteQdisc {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        major: u16,
    },
    /// `echo 1 > cgroup.kill; rmdir`: ends every process the lab started
    /// (the cgroup of the lab's own they all run in)
    KillCgroup { path: String },
    /// `ip link set DEV netns HOME name HOME_DEV`: a link the lab did not
    /// make, moved out of its own namespace, goes back (before the lab's
    /// namespace it is in is deleted, which would destroy it), asking for
    /// the index it had there, then gets back what the move took from it.
    /// One step per such link, replaced at each move; once the script moved
    /// it home itself (`ns` is `home`), only `restore` is left to do.
    MoveBack {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        home: NsRef,
        home_dev: String,
        home_ifindex: u32,
        restore: Box<HomeState>,
    },
    /// `ip link set DEV address MAC`
    RestoreMac {
        ns: NsRef,
        dev: String,
        ifindex: u32,
        mac: String,
    },
}

/// What moving a link to another namespace takes from it, and `MoveBack`
/// gives back at home: the kernel takes it down, out of its master, and
/// drops its addresses and the routes through it; its MAC, mtu and name the
/// lab may have changed while it was away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeState {
    pub up: bool,
    pub mtu: u32,
    pub mac: String,
    pub master: Option<String>,
    pub addrs: Vec<AddrBack>,
    pub routes: Vec<RouteBack>,
    /// Its per-device sysctls at home, as (table, key, value) (see
    /// `sysctl::dev_keys`): a link arriving in a namespace gets that
    /// namespace's defaults, so coming home it would lose what was set on it.
    #[serde(default)]
    pub sysctls: Vec<(String, String, String)>,
}

impl HomeState {
    /// A journal is a file: what it says to write as root is checked first.
    fn check_sysctls(&self) -> std::result::Result<(), String> {
        for (table, key, value) in &self.sysctls {
            let ok_key = !key.is_empty()
                && key.len() <= 64
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            let ok_value =
                value.len() <= 256 && !value.chars().any(|c| c.is_control() && c != '\t');
            if !crate::net::sysctl::DEV_TABLES.contains(&table.as_str()) || !ok_key || !ok_value {
                return Err(format!(
                    "'{}/{}' is not a per-device sysctl to give back",
                    crate::text::clip(table, 20),
                    crate::text::clip(key, 70)
                ));
            }
        }
        Ok(())
    }
}

/// A next hop of a multipath route, its device by name (and, for a route
/// to put back, the index that device had).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedHop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    #[serde(default)]
    pub ifindex: Option<u32>,
    /// 1..=256, as `ip route` counts it.
    pub weight: u16,
    #[serde(default)]
    pub onlink: bool,
}

/// Everything it takes to add a deleted route back exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRoute {
    pub dst: IpNet,
    pub table: u32,
    pub kind: RouteKind,
    pub protocol: u8,
    pub scope: u8,
    pub metric: u32,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub ifindex: Option<u32>,
    pub src: Option<IpAddr>,
    pub onlink: bool,
    pub nexthops: Vec<NamedHop>,
    /// RTA_METRICS as (RTAX_* number, value).
    pub metrics: Vec<(u16, u32)>,
    /// RTA_PREF (IPv6).
    pub pref: Option<u8>,
}

/// What undoing a step came to, when it did not simply work.
pub enum Undone {
    Done,
    /// Not applied, on purpose: why (e.g. the name is someone else's now).
    LeftAlone(String),
}

/// The name of the empty set that marks a lab's nf_tables table as made by
/// the run of the lab with this id (made in the same transaction as the
/// table, so a table without it was never this lab's).
pub fn owner_set(id: &str) -> String {
    format!("owner_{id}")
}

fn check_ref(r: &NsRef) -> std::result::Result<(), String> {
    match r {
        NsRef::Host => Ok(()),
        NsRef::Named(n) => names::check_nsname(n).map_err(|e| e.message),
    }
}

fn check_if(name: &str) -> std::result::Result<(), String> {
    names::check_ifname(name).map_err(|e| e.message)
}

impl Undo {
    pub fn describe(&self) -> String {
        match self {
            Undo::DeleteNetns { name, .. } => format!("delete namespace '{name}'"),
            Undo::DeleteLink { ns, name, .. } => {
                format!("delete link '{name}' in '{}'", ns.display())
            }
            Undo::DeleteAddr { ns, dev, addr, .. } => {
                format!("delete address {addr} from '{dev}' in '{}'", ns.display())
            }
            Undo::DeleteRoute { ns, dst, table, .. } => format!(
                "delete route {dst}{} in '{}'",
                table_text(table.unwrap_or(rtnl::MAIN_TABLE)),
                ns.display()
            ),
            Undo::RestoreRoute { ns, route } => format!(
                "put back route {}{} in '{}'",
                route.dst,
                table_text(route.table),
                ns.display()
            ),
            Undo::DeleteRule { ns, rule } => {
                format!("delete rule {} in '{}'", rule_text(rule), ns.display())
            }
            Undo::DeleteNeigh { ns, dev, addr, .. } => {
                format!("delete neighbour {addr} on '{dev}' in '{}'", ns.display())
            }
            Undo::ReleaseSysctl { key } => format!("give back {key} in 'host'"),
            Undo::StopProcess { pid, .. } => format!("stop process {pid}"),
            Undo::RestoreUp { ns, dev, up, .. } => format!(
                "set '{dev}' in '{}' {} again",
                ns.display(),
                if *up { "up" } else { "down" }
            ),
            Undo::RestoreMtu { ns, dev, mtu, .. } => {
                format!("restore mtu {mtu} of '{dev}' in '{}'", ns.display())
            }
            Undo::RestoreMaster { ns, dev, .. } => {
                format!("restore the master of '{dev}' in '{}'", ns.display())
            }
            Undo::RestorePort { ns, dev, .. } => {
                format!(
                    "restore the bridge port options of '{dev}' in '{}'",
                    ns.display()
                )
            }
            Undo::DeleteQdisc { ns, dev, major, .. } => {
                format!("delete qdisc {major:x}: of '{dev}' in '{}'", ns.display())
            }
            Undo::DeleteNftTable { ns, table, .. } => {
                format!("delete nf_tables table inet {table} in '{}'", ns.display())
            }
            Undo::KillCgroup { path } => {
                format!("stop the lab's processes (cgroup {path})")
            }
            Undo::MoveBack {
                ns,
                dev,
                home,
                home_dev,
                ..
            } => {
                if ns == home {
                    format!("restore link '{home_dev}' in '{}'", home.display())
                } else {
                    format!(
                        "move link '{dev}' from '{}' back to '{}' as '{home_dev}'",
                        ns.display(),
                        home.display()
                    )
                }
            }
            Undo::RestoreMac { ns, dev, mac, .. } => {
                format!("restore MAC address {mac} of '{dev}' in '{}'", ns.display())
            }
        }
    }

    /// Checks a step read from a journal with the rules the script API
    /// applies to the same values: a journal is data, and `down` runs as
    /// root. Returns why a step is refused.
    pub fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        match self {
            Undo::DeleteNetns { name, .. } => names::check_nsname(name).map_err(|e| e.message),
            Undo::DeleteLink { ns, name, .. } => {
                check_ref(ns)?;
                check_if(name)
            }
            Undo::DeleteAddr { ns, dev, .. }
            | Undo::RestoreUp { ns, dev, .. }
            | Undo::RestoreMtu { ns, dev, .. }
            | Undo::RestorePort { ns, dev, .. } => {
                check_ref(ns)?;
                check_if(dev)
            }
            Undo::DeleteQdisc { ns, dev, major, .. } => {
                check_ref(ns)?;
                check_if(dev)?;
                if super::shaping::is_lab_major(*major) {
                    Ok(())
                } else {
                    Err(format!("qdisc handle {major:x}: is not one nslab gives"))
                }
            }
            Undo::RestoreMaster {
                ns, dev, master, ..
            } => {
                check_ref(ns)?;
                check_if(dev)?;
                master.as_deref().map_or(Ok(()), check_if)
            }
            Undo::DeleteRoute {
                ns,
                dst,
                via,
                dev,
                table,
                kind,
                nexthops,
                ..
            } => {
                check_ref(ns)?;
                dev.as_deref().map_or(Ok(()), check_if)?;
                check_table(table.unwrap_or(rtnl::MAIN_TABLE))?;
                check_gateway(*dst, *via)?;
                check_hops(*dst, nexthops)?;
                if kind.is_reject() && (via.is_some() || dev.is_some() || !nexthops.is_empty()) {
                    return Err(format!("a {} route has no gateway or device", kind.name()));
                }
                Ok(())
            }
            Undo::RestoreRoute { ns, route } => {
                check_ref(ns)?;
                route.dev.as_deref().map_or(Ok(()), check_if)?;
                if route.dev.is_some() != route.ifindex.is_some() {
                    return Err("a device of a route to put back needs its index".into());
                }
                check_table(route.table)?;
                check_gateway(route.dst, route.via)?;
                check_gateway(route.dst, route.src)?;
                check_hops(route.dst, &route.nexthops)?;
                if route
                    .nexthops
                    .iter()
                    .any(|h| h.dev.is_some() != h.ifindex.is_some())
                {
                    return Err("a device of a route to put back needs its index".into());
                }
                if let Some((k, _)) = route.metrics.iter().find(|(k, _)| !rtnl::known_metric(*k)) {
                    return Err(format!("route metric RTAX {k} is not one nslab puts back"));
                }
                if route.pref.is_some_and(|p| ![0, 1, 3].contains(&p)) {
                    return Err("an IPv6 route preference is low, medium or high".into());
                }
                Ok(())
            }
            Undo::DeleteRule { ns, rule } => {
                check_ref(ns)?;
                check_rule(rule)
            }
            Undo::DeleteNeigh {
                ns, dev, lladdr, ..
            } => {
                check_ref(ns)?;
                check_if(dev)?;
                names::parse_mac(lladdr)
                    .map(drop)
                    .map_err(|_| format!("'{lladdr}' is not a link-layer address"))
            }
            Undo::ReleaseSysctl { key } => names::check_sysctl_key(key).map_err(|e| e.message),
            Undo::MoveBack {
                ns,
                dev,
                home,
                home_dev,
                restore,
                ..
            } => {
                check_ref(ns)?;
                check_if(dev)?;
                check_if(home_dev)?;
                // A lab moves only host links it did not make (its other
                // namespaces are its own, and their links go with them).
                if *home != NsRef::Host {
                    return Err(format!(
                        "link '{home_dev}' has no home outside the host: '{}' is a namespace of a lab",
                        home.display()
                    ));
                }
                restore.check_sysctls()?;
                restore.master.as_deref().map_or(Ok(()), check_if)
            }
            Undo::RestoreMac { ns, dev, mac, .. } => {
                check_ref(ns)?;
                check_if(dev)?;
                names::parse_mac(mac).map(drop).map_err(|e| e.message)
            }
            Undo::StopProcess { pid, .. } => {
                if *pid > 1 && *pid <= i32::MAX as u32 {
                    Ok(())
                } else {
                    Err(format!("{pid} is not a process nslab could have started"))
                }
            }
            Undo::DeleteNftTable { ns, table, owner } => {
                check_ref(ns)?;
                if *table != format!("nslab-{}", header.lab) || *owner != owner_set(&header.id) {
                    return Err(format!(
                        "nf_tables table '{table}' (marked '{owner}') is not the table of lab '{}'",
                        header.lab
                    ));
                }
                Ok(())
            }
            Undo::KillCgroup { path } => {
                if unit::is_cgroup_of(std::path::Path::new(path), &header.lab, header.pid) {
                    Ok(())
                } else {
                    Err(format!(
                        "cgroup {path} is not the cgroup of lab '{}' run by pid {}",
                        header.lab, header.pid
                    ))
                }
            }
        }
    }

    /// Applies the step, if what it names is still what the lab made. An
    /// object that is already gone counts as undone.
    pub fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        match self.apply_inner(sp, header) {
            Err(e) if e.is_not_found() => Ok(Undone::Done),
            other => other,
        }
    }

    fn apply_inner(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let lab = &header.lab;
        match self {
            Undo::DeleteNetns {
                name,
                dev,
                ino,
                cookie,
            } => match ns::name_state(name)? {
                ns::NameState::Missing => Ok(Undone::Done),
                // While this process holds the namespace it made open, its
                // inode cannot go to another one: the cookie (a thread that
                // enters the namespace) is only needed by `nslab down`.
                ns::NameState::Namespace(d, i)
                    if (d, i) == (*dev, *ino)
                        && (sp.created_named(name).is_some()
                            || ns::named_is_recorded(name, *dev, *ino, *cookie)?) =>
                {
                    // Drop our socket and fd first, or the namespace (and the
                    // veths in it) would outlive its name.
                    if let Ok(id) = sp.resolve(&NsRef::Named(name.clone())) {
                        sp.close(id);
                    }
                    ns::delete_named(name).map(|_| Undone::Done)
                }
                // The name's file, made by this lab just before it died,
                // before the namespace was mounted on it.
                ns::NameState::Unmounted => ns::delete_named(name).map(|_| Undone::Done),
                ns::NameState::Namespace(..) | ns::NameState::Other => Ok(Undone::LeftAlone(
                    format!("namespace '{name}' is not the one lab '{lab}' made: left alone"),
                )),
            },
            Undo::DeleteLink { ns, name, ifindex } => {
                on_own_link(sp, ns, name, *ifindex, lab, async |r, i| {
                    r.del_link(i).await
                })
            }
            Undo::DeleteAddr {
                ns,
                dev,
                ifindex,
                addr,
            } => on_own_link(sp, ns, dev, *ifindex, lab, async |r, i| {
                r.del_addr(i, *addr).await
            }),
            Undo::DeleteRoute {
                ns,
                dst,
                via,
                dev,
                metric,
                table,
                kind,
                nexthops,
            } => {
                let r = rtnl_of(sp, ns)?;
                sp.block_on(async {
                    let mut spec = RouteSpec::to(*dst);
                    spec.table = table.unwrap_or(rtnl::MAIN_TABLE);
                    spec.kind = *kind;
                    spec.via = *via;
                    spec.metric = *metric;
                    // Routes nslab adds are "proto static": that too must match.
                    spec.protocol = Some(RTPROT_STATIC);
                    spec.oif = match dev {
                        Some(d) => Some(r.index_of(d).await?),
                        None => None,
                    };
                    for h in nexthops {
                        spec.nexthops.push(Hop {
                            via: h.via,
                            oif: match &h.dev {
                                Some(d) => Some(r.index_of(d).await?),
                                None => None,
                            },
                            weight: h.weight,
                            onlink: h.onlink,
                        });
                    }
                    r.del_route(&spec).await.map(|_| Undone::Done)
                })
            }
            Undo::RestoreRoute { ns, route } => restore_route(sp, ns, route),
            Undo::DeleteRule { ns, rule } => {
                let r = rtnl_of(sp, ns)?;
                sp.block_on(async {
                    // Only the very rule the lab added: a delete request
                    // matches any value for what it leaves out.
                    let rows = r.rules(rule.v6).await?;
                    if !rows.iter().any(|x| rule.same_as(&x.spec)) {
                        return Ok(Undone::Done);
                    }
                    r.del_rule(rule).await.map(|_| Undone::Done)
                })
            }
            Undo::DeleteNeigh {
                ns,
                dev,
                ifindex,
                addr,
                lladdr,
            } => {
                let r = rtnl_of(sp, ns)?;
                let mac = names::parse_mac(lladdr).ok();
                sp.block_on(async {
                    let have = r.link(dev).await?.index;
                    if have != *ifindex {
                        return Ok(Undone::LeftAlone(format!(
                            "link '{dev}' in '{}' is not the one lab '{lab}' added neighbour {addr} to: left alone",
                            ns.display()
                        )));
                    }
                    match r.neigh(have, *addr).await? {
                        None => Ok(Undone::Done),
                        Some(n) if n.permanent && n.lladdr == mac => {
                            r.del_neigh(have, *addr).await.map(|_| Undone::Done)
                        }
                        Some(_) => Ok(Undone::LeftAlone(format!(
                            "neighbour {addr} on '{dev}' in '{}' is no longer the entry lab '{lab}' added ({lladdr}): left alone",
                            ns.display()
                        ))),
                    }
                })
            }
            Undo::ReleaseSysctl { key } => {
                Ok(match shared::release(&shared::holder(header), key)? {
                    None => Undone::Done,
                    Some(note) => Undone::LeftAlone(note),
                })
            }
            Undo::StopProcess { pid, start } => {
                crate::net::exec::stop(*pid, *start).map(|_| Undone::Done)
            }
            Undo::RestoreUp {
                ns,
                dev,
                ifindex,
                up,
            } => on_own_link(sp, ns, dev, *ifindex, lab, async |r, i| {
                r.set_up(i, *up).await
            }),
            Undo::RestoreMtu {
                ns,
                dev,
                ifindex,
                mtu,
            } => on_own_link(sp, ns, dev, *ifindex, lab, async |r, i| {
                r.set_mtu(i, *mtu).await
            }),
            Undo::RestoreMaster {
                ns,
                dev,
                ifindex,
                master,
            } => on_own_link(sp, ns, dev, *ifindex, lab, async |r, i| {
                let m = match master {
                    Some(m) => Some(r.index_of(m).await?),
                    None => None,
                };
                r.set_master(i, m).await
            }),
            Undo::RestorePort {
                ns,
                dev,
                ifindex,
                opts,
            } => on_own_link(sp, ns, dev, *ifindex, lab, async |r, i| {
                r.set_port(i, opts).await
            }),
            Undo::DeleteQdisc {
                ns,
                dev,
                ifindex,
                major,
            } => on_own_link_with(sp, ns, dev, *ifindex, lab, async |r, i| {
                match r.root_qdisc(i).await? {
                    Some(q) if q.major == *major => r.del_root_qdisc(i).await.map(|_| Undone::Done),
                    // Removed already (link.unshape()): the default is back.
                    None => Ok(Undone::Done),
                    Some(q) if q.major == 0 => Ok(Undone::Done),
                    Some(q) => Ok(Undone::LeftAlone(format!(
                        "the root qdisc of '{dev}' in '{}' is {} {:x}:, not the one lab '{lab}' put there: left alone",
                        ns.display(),
                        q.kind,
                        q.major
                    ))),
                }
            }),
            Undo::DeleteNftTable { ns, table, owner } => {
                let id = sp.resolve(ns)?;
                let prog = nft::program().ok_or_else(|| {
                    NetError::Other(
                        "nft is not installed (Debian/Ubuntu/Fedora package: nftables)".into(),
                    )
                })?;
                let fd = sp.fd(id)?.as_fd();
                match nft::apply(fd, &prog, nft::Ruleset::delete_owned(table, owner)) {
                    Ok(()) => Ok(Undone::Done),
                    // One transaction deletes the marker and the table: it
                    // fails whole when either is missing.
                    Err(e) if e.raw_errno() == Some(libc::ENOENT) => {
                        if nft::has_table(fd, &prog, table)? {
                            Ok(Undone::LeftAlone(format!(
                                "nf_tables table inet {table} in '{}' does not carry lab '{lab}''s mark: left alone",
                                ns.display()
                            )))
                        } else {
                            Ok(Undone::Done)
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Undo::KillCgroup { path } => {
                unit::kill_cgroup(std::path::Path::new(path)).map(|_| Undone::Done)
            }
            Undo::MoveBack {
                ns,
                dev,
                ifindex,
                home,
                home_dev,
                home_ifindex,
                restore,
            } => super::kinds::move_back(
                sp,
                lab,
                (ns, dev, *ifindex),
                (home, home_dev, *home_ifindex),
                restore,
            ),
            Undo::RestoreMac {
                ns,
                dev,
                ifindex,
                mac,
            } => {
                let mac = names::parse_mac(mac).map_err(|e| NetError::Other(e.message))?;
                on_own_link(sp, ns, dev, *ifindex, lab, async |r, i| {
                    r.set_mac(i, mac).await
                })
            }
        }
    }
}

/// rtm_protocol of the routes nslab adds ("proto static").
const RTPROT_STATIC: u8 = 4;

fn table_text(t: u32) -> String {
    if t == rtnl::MAIN_TABLE {
        String::new()
    } else {
        format!(" (table {t})")
    }
}

pub fn rule_text(r: &RuleSpec) -> String {
    // One address is written without its /32 or /128, as `ip rule` does.
    let net = |n: &IpNet| {
        if n.prefix_len() == n.max_prefix_len() {
            n.addr().to_string()
        } else {
            n.to_string()
        }
    };
    let mut s = String::new();
    if let Some(p) = r.priority {
        s.push_str(&format!("{p}: "));
    }
    match (&r.from, &r.to) {
        (None, None) => s.push_str("from all"),
        (f, t) => {
            if let Some(f) = f {
                s.push_str(&format!("from {}", net(f)));
            }
            if let Some(t) = t {
                if f.is_some() {
                    s.push(' ');
                }
                s.push_str(&format!("to {}", net(t)));
            }
        }
    }
    if let Some(i) = &r.iif {
        s.push_str(&format!(" iif {i}"));
    }
    if let Some(o) = &r.oif {
        s.push_str(&format!(" oif {o}"));
    }
    if let Some(m) = r.fwmark {
        match r.fwmask.filter(|k| *k != u32::MAX) {
            Some(k) => s.push_str(&format!(" fwmark {m:#x}/{k:#x}")),
            None => s.push_str(&format!(" fwmark {m:#x}")),
        }
    }
    match (r.action, r.table) {
        (RuleAction::Lookup, Some(t)) => s.push_str(&format!(" lookup {t}")),
        (RuleAction::Lookup, None) => s.push_str(" lookup"),
        (a, _) => s.push_str(&format!(" {}", a.name())),
    }
    if r.v6 {
        s.push_str(" (IPv6)");
    }
    s
}

fn check_table(t: u32) -> std::result::Result<(), String> {
    if t == 0 {
        return Err("routing table 0 is not a table".into());
    }
    Ok(())
}

/// A gateway (or source) of the route's own family; an IPv4 route may go
/// through an IPv6 gateway (RFC 5549), not the other way round.
fn check_gateway(dst: IpNet, gw: Option<IpAddr>) -> std::result::Result<(), String> {
    match gw {
        Some(g) if g.is_ipv4() && dst.addr().is_ipv6() => {
            Err(format!("IPv4 address {g} on the IPv6 route {dst}"))
        }
        _ => Ok(()),
    }
}

fn check_hops(dst: IpNet, hops: &[NamedHop]) -> std::result::Result<(), String> {
    for h in hops {
        h.dev.as_deref().map_or(Ok(()), check_if)?;
        check_gateway(dst, h.via)?;
        if !(1..=256).contains(&h.weight) {
            return Err(format!("next-hop weight {} is not in 1..=256", h.weight));
        }
        if h.via.is_none() && h.dev.is_none() {
            return Err("a next hop needs a gateway or a device".into());
        }
    }
    Ok(())
}

fn check_rule(r: &RuleSpec) -> std::result::Result<(), String> {
    if r.priority.is_none() {
        return Err("a rule in the journal needs its priority".into());
    }
    for n in [&r.from, &r.to].into_iter().flatten() {
        if n.addr().is_ipv6() != r.v6 {
            return Err(format!("{n} is not of the rule's family"));
        }
    }
    r.iif.as_deref().map_or(Ok(()), check_if)?;
    r.oif.as_deref().map_or(Ok(()), check_if)?;
    if r.fwmask.is_some() && r.fwmark.is_none() {
        return Err("a fwmark mask without a fwmark".into());
    }
    match (r.action, r.table) {
        (RuleAction::Lookup, Some(t)) => check_table(t),
        (RuleAction::Lookup, None) => Err("a lookup rule needs a table".into()),
        (_, Some(_)) => Err(format!("a {} rule has no table", r.action.name())),
        (_, None) => Ok(()),
    }
}

/// Adds a deleted route back, if every link it went through is still the
/// one it had (by index); one that was put back already counts as done.
fn restore_route(sp: &mut Spaces, ns: &NsRef, route: &SavedRoute) -> Result<Undone> {
    let r = rtnl_of(sp, ns)?;
    let what = format!(
        "route {}{} in '{}'",
        route.dst,
        table_text(route.table),
        ns.display()
    );
    sp.block_on(async {
        let devs = route
            .dev
            .iter()
            .zip(route.ifindex.iter())
            .chain(route.nexthops.iter().filter_map(|h| h.dev.as_ref().zip(h.ifindex.as_ref())));
        for (dev, index) in devs {
            match r.link(dev).await {
                Ok(l) if l.index == *index => {}
                Ok(l) => {
                    return Ok(Undone::LeftAlone(format!(
                        "cannot put back {what}: link '{dev}' is not the one it went through (it has index {}, that one had {index}): left alone",
                        l.index
                    )));
                }
                Err(e) if e.is_not_found() => {
                    return Ok(Undone::LeftAlone(format!(
                        "cannot put back {what}: link '{dev}' it went through is gone"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        let spec = RouteSpec {
            dst: route.dst,
            table: route.table,
            kind: route.kind,
            via: route.via,
            oif: route.ifindex,
            metric: Some(route.metric),
            src: route.src,
            nexthops: route
                .nexthops
                .iter()
                .map(|h| Hop {
                    via: h.via,
                    oif: h.ifindex,
                    weight: h.weight,
                    onlink: h.onlink,
                })
                .collect(),
            protocol: Some(route.protocol),
            scope: Some(route.scope),
            onlink: route.onlink,
            metrics: route.metrics.clone(),
            pref: route.pref,
        };
        match r.add_route(&spec).await {
            Ok(()) => Ok(Undone::Done),
            // Someone put it back already.
            Err(e) if e.raw_errno() == Some(libc::EEXIST) => Ok(Undone::Done),
            Err(e) => Err(e),
        }
    })
}

pub(super) fn rtnl_of(sp: &mut Spaces, r: &NsRef) -> Result<Rtnl> {
    let id = sp.resolve(r)?;
    sp.rtnl(id)
}

/// Runs `act` on link `dev` of `ns` (with its index) if the link still has
/// the index the lab knew it by; else leaves it alone and says why.
pub(super) fn on_own_link(
    sp: &mut Spaces,
    ns: &NsRef,
    dev: &str,
    ifindex: u32,
    lab: &str,
    act: impl AsyncFnOnce(&Rtnl, u32) -> Result<()>,
) -> Result<Undone> {
    on_own_link_with(sp, ns, dev, ifindex, lab, async |r, i| {
        act(r, i).await.map(|_| Undone::Done)
    })
}

/// `on_own_link` for a step that may itself find it should leave the link
/// alone.
fn on_own_link_with(
    sp: &mut Spaces,
    ns: &NsRef,
    dev: &str,
    ifindex: u32,
    lab: &str,
    act: impl AsyncFnOnce(&Rtnl, u32) -> Result<Undone>,
) -> Result<Undone> {
    let r = rtnl_of(sp, ns)?;
    sp.block_on(async {
        let have = r.link(dev).await?.index;
        if have != ifindex {
            return Ok(Undone::LeftAlone(format!(
                "link '{dev}' in '{}' is not the one lab '{lab}' made (it has index {have}, the lab's had {ifindex}): left alone",
                ns.display()
            )));
        }
        act(&r, have).await
    })
}

/// What a teardown came to: the steps that failed, and the ones left alone
/// on purpose (with why).
#[derive(Default)]
pub struct Unwound {
    pub errors: Vec<(String, NetError)>,
    pub left_alone: Vec<String>,
}

/// Runs `steps` in reverse, best effort: every step is tried, and every
/// failure is returned (with what the step was).
pub fn unwind(sp: &mut Spaces, steps: &[Undo], header: &Header) -> Unwound {
    let mut out = Unwound::default();
    for step in teardown_order(steps) {
        match step.apply(sp, header) {
            Ok(Undone::Done) => {}
            Ok(Undone::LeftAlone(why)) => out.left_alone.push(why),
            Err(e) => out.errors.push((step.describe(), e)),
        }
    }
    sp.close_all();
    out
}

/// The steps in reverse, except that the lab's processes are stopped first
/// (they pin the namespaces they run in, which a namespace made after the
/// first process would otherwise be deleted before), and that namespaces
/// deleted one right after the other go in the order they were made.
/// Deleting one namespace never depends on another, and the first ones made
/// are usually what the rest plug into (a switch, a router): deleting those
/// first cuts every cable at once, so the kernel stops flooding traffic (IPv6
/// neighbour discovery, multicast) through a bridge into namespaces that are
/// about to go anyway.
fn teardown_order(steps: &[Undo]) -> Vec<&Undo> {
    let kill = |s: &&Undo| matches!(s, Undo::KillCgroup { .. });
    let mut order: Vec<&Undo> = steps.iter().filter(kill).collect();
    let mut run: Vec<&Undo> = Vec::new();
    for step in steps.iter().rev().filter(|s| !kill(s)) {
        if matches!(step, Undo::DeleteNetns { .. }) {
            run.push(step);
        } else {
            order.extend(run.drain(..).rev());
            order.push(step);
        }
    }
    order.extend(run.drain(..).rev());
    order
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn netns(name: &str) -> Undo {
        Undo::DeleteNetns {
            name: name.to_string(),
            dev: 1,
            ino: 2,
            cookie: None,
        }
    }

    #[test]
    fn teardown_reverses_but_deletes_runs_of_namespaces_oldest_first() {
        let stop = Undo::StopProcess { pid: 7, start: 1 };
        let sysctl = Undo::ReleaseSysctl {
            key: "net.ipv4.ip_forward".into(),
        };
        let steps = vec![
            netns("a"),
            netns("b"),
            stop.clone(),
            netns("c"),
            netns("d"),
            sysctl.clone(),
        ];
        let order: Vec<Undo> = teardown_order(&steps).into_iter().cloned().collect();
        assert_eq!(
            order,
            vec![sysctl, netns("c"), netns("d"), stop, netns("a"), netns("b")]
        );
    }

    #[test]
    fn a_cgroup_step_may_name_only_the_cgroup_of_its_own_lab() {
        let header = header();
        let step = |path: &str| Undo::KillCgroup { path: path.into() };
        assert!(step("/sys/fs/cgroup/nslab-x-5").validate(&header).is_ok());
        for bad in [
            "/sys/fs/cgroup/system.slice",
            "/sys/fs/cgroup/nslab-x-6",
            "/sys/fs/cgroup/nslab-y-5",
            "/sys/fs/cgroup/../nslab-x-5",
            "sys/fs/cgroup/nslab-x-5",
        ] {
            assert!(step(bad).validate(&header).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_qdisc_step_may_name_only_a_handle_nslab_gives() {
        let header = header();
        let step = |major: u16| Undo::DeleteQdisc {
            ns: NsRef::Host,
            dev: "eth0".into(),
            ifindex: 2,
            major,
        };
        assert!(step(0x1234).validate(&header).is_ok());
        // The kernel's default (0:) and tc's own handles (8000: and up) are
        // never the lab's to delete.
        for bad in [0, 0x8001, 0xffff] {
            assert!(step(bad).validate(&header).is_err(), "{bad:x} accepted");
        }
        let port = Undo::RestorePort {
            ns: NsRef::Host,
            dev: "bad/name".into(),
            ifindex: 2,
            opts: PortOpts::default(),
        };
        assert!(port.validate(&header).is_err());
        // Journaled as JSON and read back the same.
        let port = Undo::RestorePort {
            ns: NsRef::Host,
            dev: "eth0".into(),
            ifindex: 2,
            opts: PortOpts {
                isolated: Some(false),
                hairpin: Some(true),
                cost: Some(3),
                priority: Some(2),
            },
        };
        let back: Undo = serde_json::from_str(&serde_json::to_string(&port).unwrap()).unwrap();
        assert_eq!(back, port);
    }

    #[test]
    fn the_lab_s_processes_are_stopped_before_anything_else() {
        let kill = Undo::KillCgroup {
            path: "/sys/fs/cgroup/nslab-x-1".into(),
        };
        let steps = vec![netns("a"), kill.clone(), netns("b"), netns("c")];
        let order: Vec<Undo> = teardown_order(&steps).into_iter().cloned().collect();
        assert_eq!(order, vec![kill, netns("a"), netns("b"), netns("c")]);
    }

    /// The header of a lab "x" run by pid 5, for steps to validate against.
    pub(in crate::lab) fn header() -> Header {
        Header {
            lab: "x".into(),
            pid: 5,
            start: 0,
            id: String::new(),
            script: String::new(),
            started: 0,
            isolated: false,
        }
    }

    fn saved() -> SavedRoute {
        SavedRoute {
            dst: "10.88.0.0/16".parse().unwrap(),
            table: 254,
            kind: RouteKind::Unicast,
            protocol: 4,
            scope: 0,
            metric: 5,
            via: None,
            dev: None,
            ifindex: None,
            src: None,
            onlink: false,
            nexthops: vec![NamedHop {
                via: Some("10.1.0.1".parse().unwrap()),
                dev: Some("eth0".into()),
                ifindex: Some(2),
                weight: 1,
                onlink: false,
            }],
            metrics: vec![(2, 1400)],
            pref: None,
        }
    }

    fn rule() -> RuleSpec {
        RuleSpec {
            v6: false,
            priority: Some(100),
            from: Some("10.0.2.0/24".parse().unwrap()),
            to: None,
            iif: Some("eth0".into()),
            oif: None,
            fwmark: None,
            fwmask: None,
            table: Some(100),
            action: RuleAction::Lookup,
        }
    }

    /// Routing steps survive the journal and are checked with the API's
    /// rules when read back: a step that breaks one is refused.
    #[test]
    fn routing_steps_round_trip_and_bad_ones_are_refused() {
        let h = header();
        let good = vec![
            Undo::RestoreRoute {
                ns: NsRef::Host,
                route: saved(),
            },
            Undo::DeleteRule {
                ns: NsRef::Host,
                rule: rule(),
            },
            Undo::DeleteNeigh {
                ns: NsRef::Host,
                dev: "eth0".into(),
                ifindex: 2,
                addr: "10.0.0.9".parse().unwrap(),
                lladdr: "02:00:00:00:00:09".into(),
            },
            Undo::DeleteRoute {
                ns: NsRef::Host,
                dst: "10.9.0.0/16".parse().unwrap(),
                via: None,
                dev: None,
                metric: None,
                table: Some(100),
                kind: RouteKind::Blackhole,
                nexthops: Vec::new(),
            },
        ];
        for step in &good {
            let text = serde_json::to_string(step).unwrap();
            let back: Undo = serde_json::from_str(&text).unwrap();
            assert_eq!(&back, step);
            assert_eq!(step.validate(&h), Ok(()), "{text}");
        }
        // A journal from before tables and types: a main-table unicast route.
        let old: Undo = serde_json::from_str(
            r#"{"op":"delete_route","ns":"host","dst":"10.77.0.0/16","via":null,"dev":"dummy0","metric":7}"#,
        )
        .unwrap();
        assert!(matches!(
            old,
            Undo::DeleteRoute {
                table: None,
                kind: RouteKind::Unicast,
                ..
            }
        ));

        let mut bad = Vec::new();
        let mut r = saved();
        r.nexthops[0].dev = Some("a/b".into());
        bad.push(Undo::RestoreRoute {
            ns: NsRef::Host,
            route: r,
        });
        let mut r = saved();
        r.nexthops[0].weight = 0;
        bad.push(Undo::RestoreRoute {
            ns: NsRef::Host,
            route: r,
        });
        let mut r = saved();
        r.metrics = vec![(16, 1)];
        bad.push(Undo::RestoreRoute {
            ns: NsRef::Host,
            route: r,
        });
        let mut r = saved();
        r.dev = Some("eth0".into());
        bad.push(Undo::RestoreRoute {
            ns: NsRef::Host,
            route: r,
        });
        let mut r = saved();
        r.table = 0;
        bad.push(Undo::RestoreRoute {
            ns: NsRef::Host,
            route: r,
        });
        let mut r = saved();
        r.pref = Some(2);
        bad.push(Undo::RestoreRoute {
            ns: NsRef::Host,
            route: r,
        });
        let mut x = rule();
        x.priority = None;
        bad.push(Undo::DeleteRule {
            ns: NsRef::Host,
            rule: x,
        });
        let mut x = rule();
        x.v6 = true;
        bad.push(Undo::DeleteRule {
            ns: NsRef::Host,
            rule: x,
        });
        let mut x = rule();
        x.action = RuleAction::Blackhole;
        bad.push(Undo::DeleteRule {
            ns: NsRef::Host,
            rule: x,
        });
        let mut x = rule();
        x.iif = Some("much-too-long-name".into());
        bad.push(Undo::DeleteRule {
            ns: NsRef::Host,
            rule: x,
        });
        bad.push(Undo::DeleteNeigh {
            ns: NsRef::Host,
            dev: "eth0".into(),
            ifindex: 2,
            addr: "10.0.0.9".parse().unwrap(),
            lladdr: "02:00:00".into(),
        });
        bad.push(Undo::DeleteRoute {
            ns: NsRef::Host,
            dst: "10.9.0.0/16".parse().unwrap(),
            via: Some("10.0.0.1".parse().unwrap()),
            dev: None,
            metric: None,
            table: None,
            kind: RouteKind::Blackhole,
            nexthops: Vec::new(),
        });
        bad.push(Undo::DeleteRoute {
            ns: NsRef::Named("../etc".into()),
            dst: "10.9.0.0/16".parse().unwrap(),
            via: None,
            dev: Some("eth0".into()),
            metric: None,
            table: None,
            kind: RouteKind::Unicast,
            nexthops: Vec::new(),
        });
        for step in &bad {
            assert!(step.validate(&h).is_err(), "accepted: {step:?}");
        }
    }
}
