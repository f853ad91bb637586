//! Undoing what the lab does to links: deleting the ones it made, putting
//! back state, mtu, master, bridge port options and MAC of the ones it did
//! not, and taking home a link it moved out of its own namespace.

use std::os::fd::AsRawFd;

use serde::{Deserialize, Serialize};

use super::{Step, Undone, check_if, check_ref, ip, on_own_link, rtnl_of};
use crate::lab::journal::Header;
use crate::lab::names::{self, parse_mac};
use crate::lab::plan::q;
use crate::lab::space::{NsRef, Spaces};
use crate::net::rtnl::{AddrBack, PortOpts, RouteBack, Rtnl};
use crate::net::{NetError, Result, sysctl};

/// `ip link del NAME`, if NAME still has index `ifindex`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteLink {
    pub ns: NsRef,
    pub name: String,
    pub ifindex: u32,
}

/// A host link the lab made: `del_link NAME` (the plan's function that
/// deletes it if it is still there: a veth goes with its peer's namespace);
/// elsewhere `ip -n NS link del dev NAME`.
pub fn delete_link_shell(ns: &NsRef, name: &str) -> String {
    match ns {
        NsRef::Host => format!("del_link {}", q(name)),
        NsRef::Named(_) => format!("{}link del dev {}", ip(ns), q(name)),
    }
}

/// `ip link set dev DEV up|down`.
pub fn set_up_shell(ns: &NsRef, dev: &str, up: bool) -> String {
    let ud = if up { "up" } else { "down" };
    format!("{}link set dev {} {ud}", ip(ns), q(dev))
}

/// `ip link set dev DEV mtu MTU`.
pub fn set_mtu_shell(ns: &NsRef, dev: &str, mtu: u32) -> String {
    format!("{}link set dev {} mtu {mtu}", ip(ns), q(dev))
}

/// `ip link set dev DEV master M` / `nomaster`.
pub fn set_master_shell(ns: &NsRef, dev: &str, master: Option<&str>) -> String {
    match master {
        Some(m) => format!("{}link set dev {} master {}", ip(ns), q(dev), q(m)),
        None => format!("{}link set dev {} nomaster", ip(ns), q(dev)),
    }
}

impl Step for DeleteLink {
    fn describe(&self) -> String {
        format!("delete link '{}' in '{}'", self.name, self.ns.display())
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.name)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        on_own_link(
            sp,
            &self.ns,
            &self.name,
            self.ifindex,
            &header.lab,
            async |r, i| r.del_link(i).await,
        )
    }
}

/// `ip link set DEV up|down` back to how it was
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreUp {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub up: bool,
}

impl Step for RestoreUp {
    fn describe(&self) -> String {
        format!(
            "set '{}' in '{}' {} again",
            self.dev,
            self.ns.display(),
            if self.up { "up" } else { "down" }
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let up = self.up;
        on_own_link(
            sp,
            &self.ns,
            &self.dev,
            self.ifindex,
            &header.lab,
            async |r, i| r.set_up(i, up).await,
        )
    }
}

/// `ip link set DEV mtu OLD`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreMtu {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub mtu: u32,
}

impl Step for RestoreMtu {
    fn describe(&self) -> String {
        format!(
            "restore mtu {} of '{}' in '{}'",
            self.mtu,
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let mtu = self.mtu;
        on_own_link(
            sp,
            &self.ns,
            &self.dev,
            self.ifindex,
            &header.lab,
            async |r, i| r.set_mtu(i, mtu).await,
        )
    }
}

/// `ip link set DEV master OLD` / `nomaster`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreMaster {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub master: Option<String>,
}

impl Step for RestoreMaster {
    fn describe(&self) -> String {
        format!(
            "restore the master of '{}' in '{}'",
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)?;
        self.master.as_deref().map_or(Ok(()), check_if)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let master = &self.master;
        on_own_link(
            sp,
            &self.ns,
            &self.dev,
            self.ifindex,
            &header.lab,
            async |r, i| {
                let m = match master {
                    Some(m) => Some(r.index_of(m).await?),
                    None => None,
                };
                r.set_master(i, m).await
            },
        )
    }
}

/// `ip link set DEV type bridge_slave isolated … hairpin … cost …
/// priority …` back to what they were
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestorePort {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub opts: PortOpts,
}

impl Step for RestorePort {
    fn describe(&self) -> String {
        format!(
            "restore the bridge port options of '{}' in '{}'",
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let opts = &self.opts;
        on_own_link(
            sp,
            &self.ns,
            &self.dev,
            self.ifindex,
            &header.lab,
            async |r, i| r.set_port(i, opts).await,
        )
    }
}

/// `ip link set DEV address MAC`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreMac {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub mac: String,
}

impl Step for RestoreMac {
    fn describe(&self) -> String {
        format!(
            "restore MAC address {} of '{}' in '{}'",
            self.mac,
            self.dev,
            self.ns.display()
        )
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        check_ref(&self.ns)?;
        check_if(&self.dev)?;
        names::parse_mac(&self.mac).map(drop).map_err(|e| e.message)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let mac = names::parse_mac(&self.mac).map_err(|e| NetError::Other(e.message))?;
        on_own_link(
            sp,
            &self.ns,
            &self.dev,
            self.ifindex,
            &header.lab,
            async |r, i| r.set_mac(i, mac).await,
        )
    }
}

/// `ip link set DEV netns HOME name HOME_DEV`: a link the lab did not
/// make, moved out of its own namespace, goes back (before the lab's
/// namespace it is in is deleted, which would destroy it), asking for
/// the index it had there, then gets back what the move took from it.
/// One step per such link, replaced at each move; once the script moved
/// it home itself (`ns` is `home`), only `restore` is left to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveBack {
    pub ns: NsRef,
    pub dev: String,
    pub ifindex: u32,
    pub home: NsRef,
    pub home_dev: String,
    pub home_ifindex: u32,
    pub restore: Box<HomeState>,
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
            if !sysctl::DEV_TABLES.contains(&table.as_str()) || !ok_key || !ok_value {
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

impl Step for MoveBack {
    fn describe(&self) -> String {
        let MoveBack {
            ns,
            dev,
            home,
            home_dev,
            ..
        } = self;
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

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        let MoveBack {
            ns,
            dev,
            home,
            home_dev,
            restore,
            ..
        } = self;
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

    /// Takes the link home (unless it is there), then gives back what the
    /// move took from it.
    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let MoveBack {
            ns,
            dev,
            ifindex,
            home: home_ref,
            home_dev,
            home_ifindex,
            restore,
        } = self;
        let (lab, ifindex, home_ifindex) = (&header.lab, *ifindex, *home_ifindex);
        if ns != home_ref {
            let r = rtnl_of(sp, ns)?;
            let hid = sp.resolve(home_ref)?;
            let fd = sp
                .fd(hid)?
                .try_clone()
                .map_err(|e| NetError::os("dup", e))?;
            let hr = sp.rtnl(hid)?;
            let left = sp.block_on(async {
                let have = r.link(dev).await?.index;
                if have != ifindex {
                    return Ok(Some(format!(
                        "link '{dev}' in '{}' is not the one lab '{lab}' moved there (it has index {have}, the lab's had {ifindex}): left alone",
                        ns.display()
                    )));
                }
                // Its name at home taken meanwhile: it goes back under a name
                // the kernel picks, rather than die with the lab's namespace.
                let taken = match hr.link(home_dev).await {
                    Ok(_) => true,
                    Err(e) if e.raw_errno() == Some(libc::ENODEV) => false,
                    Err(e) => return Err(e),
                };
                let name = if taken {
                    Some("nslab%d")
                } else {
                    Some(home_dev.as_str())
                };
                let name = name.filter(|n| *n != dev.as_str());
                let fd = fd.as_raw_fd();
                if let Err(e) = r.move_link(have, fd, name, Some(home_ifindex)).await {
                    if !matches!(e.raw_errno(), Some(libc::EEXIST) | Some(libc::EBUSY)) {
                        return Err(e);
                    }
                    // Its old index is taken at home: any will do.
                    r.move_link(have, fd, name, None).await?;
                }
                Ok(taken.then(|| {
                    format!(
                        "link '{dev}' went back to '{}' under another name: '{home_dev}' is taken there now (find it with `ip link`)",
                        home_ref.display()
                    )
                }))
            })?;
            if let Some(why) = left {
                return Ok(Undone::LeftAlone(why));
            }
        }
        let index = if ns == home_ref { Some(ifindex) } else { None };
        let act = async |r: &Rtnl, i: u32| -> Result<()> {
            if restore.mtu != 0 {
                r.set_mtu(i, restore.mtu).await?;
            }
            // Before it comes up: some links take a new MAC only when down.
            if let Ok(mac) = parse_mac(&restore.mac)
                && mac != [0; 6]
            {
                r.set_mac(i, mac).await?;
            }
            if let Some(m) = &restore.master {
                // A master gone meanwhile leaves nothing to go back to.
                match r.index_of(m).await {
                    Ok(mi) => r.set_master(i, Some(mi)).await?,
                    Err(e) if e.raw_errno() == Some(libc::ENODEV) => {}
                    Err(e) => return Err(e),
                }
            }
            for a in &restore.addrs {
                match r.add_addr_back(i, a).await {
                    Err(e) if e.raw_errno() != Some(libc::EEXIST) => return Err(e),
                    _ => {}
                }
            }
            r.set_up(i, restore.up).await?;
            // Routes through a link that is down are gone anyway.
            if restore.up {
                for x in &restore.routes {
                    match r.add_route_back(i, x).await {
                        Err(e) if e.raw_errno() != Some(libc::EEXIST) => return Err(e),
                        _ => {}
                    }
                }
            }
            Ok(())
        };
        let done = match index {
            Some(i) => on_own_link(sp, home_ref, home_dev, i, lab, act)?,
            None => {
                let r = rtnl_of(sp, home_ref)?;
                sp.block_on(async {
                    let i = r.index_of(home_dev).await?;
                    act(&r, i).await
                })?;
                Undone::Done
            }
        };
        if !matches!(done, Undone::Done) || restore.sysctls.is_empty() {
            return Ok(done);
        }
        // Last: the addresses and routes came back under the defaults the
        // kernel gave it at home, as they were first added under the old ones
        // (disable_ipv6 last set would drop IPv6 addresses, but then it had none).
        let hid = sp.resolve(home_ref)?;
        let (dev, keys) = (home_dev.to_string(), restore.sysctls.clone());
        let refused = sp.run_in(hid, move || Ok(sysctl::restore_dev_keys(&dev, &keys)))?;
        if refused.is_empty() {
            Ok(Undone::Done)
        } else {
            Err(NetError::Other(format!(
                "link '{home_dev}' is home, but not all of its sysctls came back: {}",
                refused.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::ledger::Undo;

    fn move_back(home: NsRef, dev: &str, mac: &str) -> Undo {
        Undo::MoveBack(MoveBack {
            ns: NsRef::Named("a".into()),
            dev: dev.into(),
            ifindex: 0x0100_0001,
            home,
            home_dev: "eth9".into(),
            home_ifindex: 3,
            restore: Box::new(HomeState {
                up: true,
                mtu: 1500,
                mac: mac.into(),
                master: None,
                addrs: Vec::new(),
                routes: Vec::new(),
                sysctls: Vec::new(),
            }),
        })
    }

    #[test]
    fn a_journal_moves_only_host_links_home_and_restores_only_macs() {
        let header = crate::lab::ledger::tests::header();
        assert!(
            move_back(NsRef::Host, "wan0", "02:00:00:00:00:01")
                .validate(&header)
                .is_ok()
        );
        for bad in [
            move_back(NsRef::Named("other".into()), "wan0", "02:00:00:00:00:01"),
            move_back(NsRef::Host, "wan/0", "02:00:00:00:00:01"),
        ] {
            assert!(bad.validate(&header).is_err(), "{bad:?} accepted");
        }
        let mac = |m: &str| {
            Undo::RestoreMac(RestoreMac {
                ns: NsRef::Host,
                dev: "eth9".into(),
                ifindex: 3,
                mac: m.into(),
            })
        };
        assert!(mac("02:00:00:00:00:01").validate(&header).is_ok());
        assert!(mac("02:00:00:00:00").validate(&header).is_err());
        // The sysctls it gives back are the link's own keys, nothing else.
        let with = |table: &str, key: &str, value: &str| {
            let mut u = move_back(NsRef::Host, "wan0", "02:00:00:00:00:01");
            if let Undo::MoveBack(MoveBack { restore, .. }) = &mut u {
                restore.sysctls = vec![(table.into(), key.into(), value.into())];
            }
            u
        };
        assert!(
            with("ipv4/conf", "rp_filter", "2")
                .validate(&header)
                .is_ok()
        );
        assert!(
            with("ipv6/neigh", "retrans_time_ms", "1000")
                .validate(&header)
                .is_ok()
        );
        for (table, key, value) in [
            ("ipv4/conf", "../../../kernel/core_pattern", "|/tmp/x"),
            ("kernel", "core_pattern", "|/tmp/x"),
            ("ipv4/conf", "rp_filter", "1\n2"),
            ("ipv4/conf", "", "1"),
        ] {
            let bad = with(table, key, value);
            assert!(bad.validate(&header).is_err(), "{bad:?} accepted");
        }
    }
}
