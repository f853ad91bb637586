//! Undo steps: one per change a lab made, replayed in reverse at teardown
//! (by the lab itself, or by `nslab down` from the journal).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::space::{NsRef, Spaces};
use crate::net::rtnl::RouteSpec;
use std::os::fd::AsFd;

use crate::net::{NetError, Result, nft, ns, sysctl};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Undo {
    /// `ip netns del NAME`
    DeleteNetns { name: String },
    /// `ip link del NAME`
    DeleteLink { ns: NsRef, name: String },
    /// `ip addr del ADDR dev DEV`
    DeleteAddr { ns: NsRef, dev: String, addr: IpNet },
    /// `ip route del DST [via GW] [dev DEV] [metric N]`
    DeleteRoute {
        ns: NsRef,
        dst: IpNet,
        via: Option<IpAddr>,
        dev: Option<String>,
        metric: Option<u32>,
    },
    /// `sysctl -w KEY=OLD`
    RestoreSysctl {
        ns: NsRef,
        key: String,
        value: String,
    },
    /// `kill` a process started with ns.spawn (and its group)
    StopProcess { pid: u32, start: u64 },
    /// `ip link set DEV up|down` back to how it was
    RestoreUp { ns: NsRef, dev: String, up: bool },
    /// `ip link set DEV mtu OLD`
    RestoreMtu { ns: NsRef, dev: String, mtu: u32 },
    /// `nft delete table inet TABLE`
    DeleteNftTable { ns: NsRef, table: String },
    /// `ip link set DEV master OLD` / `nomaster`
    RestoreMaster {
        ns: NsRef,
        dev: String,
        master: Option<String>,
    },
}

impl Undo {
    pub fn describe(&self) -> String {
        match self {
            Undo::DeleteNetns { name } => format!("delete namespace '{name}'"),
            Undo::DeleteLink { ns, name } => format!("delete link '{name}' in '{}'", ns.display()),
            Undo::DeleteAddr { ns, dev, addr } => {
                format!("delete address {addr} from '{dev}' in '{}'", ns.display())
            }
            Undo::DeleteRoute { ns, dst, .. } => {
                format!("delete route {dst} in '{}'", ns.display())
            }
            Undo::RestoreSysctl { ns, key, value } => {
                format!("restore {key}={value} in '{}'", ns.display())
            }
            Undo::StopProcess { pid, .. } => format!("stop process {pid}"),
            Undo::RestoreUp { ns, dev, up } => format!(
                "set '{dev}' in '{}' {} again",
                ns.display(),
                if *up { "up" } else { "down" }
            ),
            Undo::RestoreMtu { ns, dev, mtu } => {
                format!("restore mtu {mtu} of '{dev}' in '{}'", ns.display())
            }
            Undo::RestoreMaster { ns, dev, .. } => {
                format!("restore the master of '{dev}' in '{}'", ns.display())
            }
            Undo::DeleteNftTable { ns, table } => {
                format!("delete nf_tables table inet {table} in '{}'", ns.display())
            }
        }
    }

    /// Applies the step. An object that is already gone counts as undone.
    pub fn apply(&self, sp: &mut Spaces) -> Result<()> {
        match self.apply_inner(sp) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    fn apply_inner(&self, sp: &mut Spaces) -> Result<()> {
        match self {
            Undo::DeleteNetns { name } => {
                // Drop our socket and fd first, or the namespace (and the
                // veths in it) would outlive its name.
                if let Ok(id) = sp.resolve(&NsRef::Named(name.clone())) {
                    sp.close(id);
                }
                ns::delete_named(name)
            }
            Undo::DeleteLink { ns, name } => {
                let id = sp.resolve(ns)?;
                let r = sp.rtnl(id)?;
                sp.block_on(async {
                    let idx = r.index_of(name).await?;
                    r.del_link(idx).await
                })
            }
            Undo::DeleteAddr { ns, dev, addr } => {
                let id = sp.resolve(ns)?;
                let r = sp.rtnl(id)?;
                sp.block_on(async {
                    let idx = r.index_of(dev).await?;
                    r.del_addr(idx, *addr).await
                })
            }
            Undo::DeleteRoute {
                ns,
                dst,
                via,
                dev,
                metric,
            } => {
                let id = sp.resolve(ns)?;
                let r = sp.rtnl(id)?;
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
                    r.del_route(&spec).await
                })
            }
            Undo::RestoreSysctl { ns, key, value } => {
                let id = sp.resolve(ns)?;
                let (k, v) = (key.clone(), value.clone());
                sp.run_in(id, move || sysctl::write(&k, &v))
            }
            Undo::StopProcess { pid, start } => crate::net::exec::stop(*pid, *start),
            Undo::RestoreUp { ns, dev, up } => {
                let id = sp.resolve(ns)?;
                let r = sp.rtnl(id)?;
                sp.block_on(async {
                    let idx = r.index_of(dev).await?;
                    r.set_up(idx, *up).await
                })
            }
            Undo::RestoreMtu { ns, dev, mtu } => {
                let id = sp.resolve(ns)?;
                let r = sp.rtnl(id)?;
                sp.block_on(async {
                    let idx = r.index_of(dev).await?;
                    r.set_mtu(idx, *mtu).await
                })
            }
            Undo::RestoreMaster { ns, dev, master } => {
                let id = sp.resolve(ns)?;
                let r = sp.rtnl(id)?;
                sp.block_on(async {
                    let idx = r.index_of(dev).await?;
                    let m = match master {
                        Some(m) => Some(r.index_of(m).await?),
                        None => None,
                    };
                    r.set_master(idx, m).await
                })
            }
            Undo::DeleteNftTable { ns, table } => {
                let id = sp.resolve(ns)?;
                let prog = nft::program().ok_or_else(|| {
                    NetError::Other(
                        "nft is not installed (Debian/Ubuntu/Fedora package: nftables)".into(),
                    )
                })?;
                nft::apply(sp.fd(id)?.as_fd(), &prog, nft::Ruleset::delete(table))
            }
        }
    }
}

/// Runs `steps` in reverse, best effort: every step is tried, and every
/// failure is returned (with what the step was).
pub fn unwind(sp: &mut Spaces, steps: &[Undo]) -> Vec<(String, NetError)> {
    let mut errors = Vec::new();
    for step in teardown_order(steps) {
        if let Err(e) = step.apply(sp) {
            errors.push((step.describe(), e));
        }
    }
    sp.close_all();
    errors
}

/// The steps in reverse, except that namespaces deleted one right after the
/// other go in the order they were made. Deleting one namespace never depends
/// on another, and the first ones made are usually what the rest plug into
/// (a switch, a router): deleting those first cuts every cable at once, so the
/// kernel stops flooding traffic (IPv6 neighbour discovery, multicast) through
/// a bridge into namespaces that are about to go anyway.
fn teardown_order(steps: &[Undo]) -> Vec<&Undo> {
    let mut order = Vec::with_capacity(steps.len());
    let mut run: Vec<&Undo> = Vec::new();
    for step in steps.iter().rev() {
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
        }
    }

    #[test]
    fn teardown_reverses_but_deletes_runs_of_namespaces_oldest_first() {
        let stop = Undo::StopProcess { pid: 7, start: 1 };
        let sysctl = Undo::RestoreSysctl {
            ns: NsRef::Host,
            key: "net.ipv4.ip_forward".into(),
            value: "0".into(),
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
}
