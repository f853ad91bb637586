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
use crate::net::rtnl::{PortOpts, RouteSpec, Rtnl};
use std::os::fd::AsFd;

use crate::net::{NetError, Result, nft, ns, unit};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Undo {
    /// `ip netns del NAME`, if NAME is still the namespace with inode `ino`
    /// on nsfs device `dev`.
    DeleteNetns { name: String, dev: u64, ino: u64 },
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
    /// `ip route del DST [via GW] [dev DEV] [metric N]`
    DeleteRoute {
        ns: NsRef,
        dst: IpNet,
        via: Option<IpAddr>,
        dev: Option<String>,
        metric: Option<u32>,
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
            Undo::DeleteRoute { ns, dst, .. } => {
                format!("delete route {dst} in '{}'", ns.display())
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
            Undo::DeleteRoute { ns, dev, .. } => {
                check_ref(ns)?;
                dev.as_deref().map_or(Ok(()), check_if)
            }
            Undo::ReleaseSysctl { key } => names::check_sysctl_key(key).map_err(|e| e.message),
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
            Undo::DeleteNetns { name, dev, ino } => match ns::name_state(name)? {
                ns::NameState::Missing => Ok(Undone::Done),
                ns::NameState::Namespace(d, i) if (d, i) == (*dev, *ino) => {
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
            } => {
                let r = rtnl_of(sp, ns)?;
                sp.block_on(async {
                    let oif = match dev {
                        Some(d) => Some(r.index_of(d).await?),
                        None => None,
                    };
                    let spec = RouteSpec {
                        dst: *dst,
                        via: *via,
                        oif,
                        metric: *metric,
                    };
                    r.del_route(&spec).await.map(|_| Undone::Done)
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
        }
    }
}

fn rtnl_of(sp: &mut Spaces, r: &NsRef) -> Result<Rtnl> {
    let id = sp.resolve(r)?;
    sp.rtnl(id)
}

/// Runs `act` on link `dev` of `ns` (with its index) if the link still has
/// the index the lab knew it by; else leaves it alone and says why.
fn on_own_link(
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
mod tests {
    use super::*;

    fn netns(name: &str) -> Undo {
        Undo::DeleteNetns {
            name: name.to_string(),
            dev: 1,
            ino: 2,
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
        let header = Header {
            lab: "x".into(),
            pid: 5,
            start: 0,
            id: String::new(),
            script: String::new(),
            started: 0,
            isolated: false,
        };
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
        let header = Header {
            lab: "x".into(),
            pid: 5,
            start: 0,
            id: String::new(),
            script: String::new(),
            started: 0,
            isolated: false,
        };
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
}
