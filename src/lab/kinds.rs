//! Link kinds beyond veth and bridge (macvlan, ipvlan, vxlan, vlan, vrf), and
//! what can happen to any link besides up/down/mtu: moving it to another
//! namespace, its MAC address, deleting it.
//!
//! Who undoes what:
//! - a link the lab makes outside its own namespaces gets an index of the
//!   lab's choosing and an `Undo::DeleteLink` (as veths and bridges do);
//!   inside them it goes with the namespace;
//! - a link the lab made moves freely: leaving a namespace that is not the
//!   lab's, its `DeleteLink` there goes; arriving in one, it gets a new one;
//! - a link the lab did not make (a host NIC, a veth made by `ip`) gets one
//!   `Undo::MoveBack` when it first leaves home, replaced at every move, that
//!   takes it home again before the lab's namespace it is in is deleted (a
//!   namespace's virtual links are destroyed with it), and gives back what
//!   the move took (state, master, addresses, routes).

use super::events::Event;
use super::ledger::{Undo, Undone};
use super::{Lab, LabError, NsId, Result, links, names, net_err};
use crate::lab::steps::links::{DeleteLink, MoveBack, RestoreMac};
use crate::net::rtnl::LinkInfoRow;
use crate::net::{rtnl, sysctl};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use super::ledger::HomeState;
use super::names::{format_mac, parse_mac};

use crate::net::NetError;
use crate::net::rtnl::{IpVlanMode, Kind, MacVlanMode, NewLink, Vxlan};

/// `vxlan(ns, name, #{…})` in the user's terms (the underlay link by name).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VxlanReq {
    pub vni: u32,
    pub remote: Option<IpAddr>,
    pub group: Option<IpAddr>,
    pub local: Option<IpAddr>,
    pub dev: Option<String>,
    pub port: u16,
}

/// The largest VNI: it is 24 bits on the wire.
pub const MAX_VNI: u32 = 0xff_ffff;

impl Lab {
    /// `ip link add link PARENT NAME type macvlan mode MODE`, made directly
    /// in namespace `id` (which may differ from the parent's), up.
    pub fn macvlan(
        &mut self,
        id: NsId,
        name: &str,
        parent: (NsId, &str),
        mode: &str,
    ) -> Result<()> {
        if let Some(r) = self.remote_kind(id, name, parent, "macvlan", mode) {
            return r;
        }
        let mode = match mode {
            "bridge" => MacVlanMode::Bridge,
            "private" => MacVlanMode::Private,
            "vepa" => MacVlanMode::Vepa,
            "passthru" => MacVlanMode::Passthrough,
            other => {
                return Err(LabError::new(
                    format!("'{}' is not a macvlan mode", crate::text::clip(other, 40)),
                    "macvlan modes are \"bridge\" (the default), \"private\", \"vepa\" and \"passthru\"",
                ));
            }
        };
        self.add_kind(id, name, Kind::MacVlan(mode), Some(parent))
    }

    /// `ip link add link PARENT NAME type ipvlan mode MODE`, made directly
    /// in namespace `id`, up.
    pub fn ipvlan(&mut self, id: NsId, name: &str, parent: (NsId, &str), mode: &str) -> Result<()> {
        if let Some(r) = self.remote_kind(id, name, parent, "ipvlan", mode) {
            return r;
        }
        let mode = match mode {
            "l2" => IpVlanMode::L2,
            "l3" => IpVlanMode::L3,
            "l3s" => IpVlanMode::L3S,
            other => {
                return Err(LabError::new(
                    format!("'{}' is not an ipvlan mode", crate::text::clip(other, 40)),
                    "ipvlan modes are \"l2\" (the default), \"l3\" and \"l3s\"",
                ));
            }
        };
        self.add_kind(id, name, Kind::IpVlan(mode), Some(parent))
    }

    /// `ip link add NAME type vxlan id VNI remote|group IP [local IP] [dev
    /// DEV] dstport PORT`, up.
    pub fn vxlan(&mut self, id: NsId, name: &str, req: VxlanReq) -> Result<()> {
        if let Some(r) = self.remote_do(id, "vxlan", &(name, &req)) {
            return r;
        }
        if req.vni > MAX_VNI {
            return Err(LabError::new(
                format!("vni {} is out of range", req.vni),
                format!("a VXLAN network identifier is 0..={MAX_VNI} (24 bits)"),
            ));
        }
        let remote = match (req.remote, req.group) {
            (Some(_), Some(_)) => {
                return Err(LabError::new(
                    "a VXLAN takes remote or group, not both",
                    "remote is the one far end (unicast); group is a multicast group of many",
                ));
            }
            (None, None) => {
                return Err(LabError::new(
                    "a VXLAN needs to know where to send: give remote or group",
                    "e.g. vxlan(ns, \"vx0\", #{vni: 42, remote: \"10.0.0.2\"}), or group: \"239.1.1.1\" with dev: \"eth0\"",
                ));
            }
            (Some(r), None) => {
                if r.is_multicast() {
                    return Err(LabError::new(
                        format!("remote {r} is a multicast address"),
                        format!(
                            "for a multicast group write group: \"{r}\" (with dev: the underlay link)"
                        ),
                    ));
                }
                r
            }
            (None, Some(g)) => {
                if !g.is_multicast() {
                    return Err(LabError::new(
                        format!("group {g} is not a multicast address"),
                        format!(
                            "for one far end write remote: \"{g}\"; groups are 224.0.0.0/4 or ff00::/8"
                        ),
                    ));
                }
                if req.dev.is_none() {
                    return Err(LabError::new(
                        format!("a VXLAN on multicast group {g} needs its underlay link"),
                        "name the link the group is joined on: dev: \"eth0\"",
                    ));
                }
                g
            }
        };
        if let Some(l) = req.local
            && l.is_ipv4() != remote.is_ipv4()
        {
            return Err(LabError::new(
                format!("local {l} and {remote} are of different IP versions"),
                "a VXLAN's underlay is IPv4 or IPv6: give both addresses in the same version",
            ));
        }
        let dev = match &req.dev {
            Some(d) => Some(self.link(id, d)?.index),
            None => None,
        };
        let kind = Kind::Vxlan(Vxlan {
            vni: req.vni,
            remote: Some(remote),
            local: req.local,
            dev,
            port: req.port,
        });
        self.add_kind(id, name, kind, None)
    }

    /// One end of a veth between machines: a VXLAN link `name` in `id`,
    /// made in the host (the underlay, where its UDP socket stays) on the
    /// link holding `local`, so the kernel gives it that link's MTU less
    /// the 50 bytes of VXLAN headers.
    pub fn vxlan_underlay(
        &mut self,
        id: NsId,
        name: &str,
        vni: u32,
        remote: IpAddr,
        local: IpAddr,
        port: u16,
    ) -> Result<()> {
        let dev = self
            .addrs(super::HOST)?
            .into_iter()
            .find(|a| a.addr.addr() == local)
            .map(|a| a.dev)
            .ok_or_else(|| {
                LabError::new(
                    format!("no link of this machine has address {local}, the way to {remote}"),
                    "the machines reach each other over an underlay link with an address",
                )
            })?;
        let index = self.link(super::HOST, &dev)?.index;
        let kind = Kind::Vxlan(Vxlan {
            vni,
            remote: Some(remote),
            local: Some(local),
            dev: Some(index),
            port,
        });
        self.add_kind(id, name, kind, Some((super::HOST, &dev)))?;
        // The explanation names the hop over it and checks the underlay.
        self.note_vxlan_end(id, name, vni, port, local, remote);
        Ok(())
    }

    /// `ip link add link PARENT name NAME type vlan id VID`, up, beside its
    /// parent; NAME defaults to `PARENT.VID`. Returns the name.
    pub fn vlan(&mut self, id: NsId, parent: &str, vid: i64, name: Option<&str>) -> Result<String> {
        if let Some(r) = self.remote_do(id, "vlan", &(parent, vid, name)) {
            return r;
        }
        let vid = u16::try_from(vid)
            .ok()
            .filter(|v| (1..=4094).contains(v))
            .ok_or_else(|| {
                LabError::new(
                    format!("VLAN id {vid} is out of range"),
                    "802.1Q VLAN ids are 1..=4094",
                )
            })?;
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let n = format!("{parent}.{vid}");
                if n.len() > 15 {
                    return Err(LabError::new(
                        format!(
                            "the VLAN's default name '{n}' is {} bytes long; Linux allows at most 15",
                            n.len()
                        ),
                        format!("give it a name: vlan(link, {vid}, \"v{vid}\")"),
                    ));
                }
                n
            }
        };
        self.add_kind(id, &name, Kind::Vlan(vid), Some((id, parent)))?;
        Ok(name)
    }

    /// `ip link add NAME type vrf table TABLE`, up.
    pub fn vrf(&mut self, id: NsId, name: &str, table: i64) -> Result<()> {
        if let Some(r) = self.remote_do(id, "vrf", &(name, table)) {
            return r;
        }
        let table = u32::try_from(table)
            .ok()
            .filter(|t| *t != 0 && !(253..=255).contains(t))
            .ok_or_else(|| {
                LabError::new(
                    format!("{table} is not a routing table a VRF can have"),
                    "give the VRF a table of its own: 1..=4294967295, but not 253, 254 or 255 (the kernel's default, main and local tables)",
                )
            })?;
        self.add_kind(id, name, Kind::Vrf(table), None)
    }

    /// Makes a link of `kind` named `name` in namespace `at`, hanging off
    /// `parent` (looked up in its own namespace, where the request goes).
    fn add_kind(
        &mut self,
        at: NsId,
        name: &str,
        kind: Kind,
        parent: Option<(NsId, &str)>,
    ) -> Result<()> {
        names::check_ifname(name)?;
        let kname = self.new_kernel_link(at, name)?;
        let (via, parent_index) = match parent {
            Some((pns, p)) => (pns, Some(self.link(pns, p)?.index)),
            None => (at, None),
        };
        let target = if via != at {
            Some(self.dup_fd(at)?)
        } else {
            None
        };
        // Outside the lab's namespaces: an index of nslab's choosing,
        // journaled before the link exists (see `rtnl::pick_index`).
        let mark = (!self.sp.is_created(at)).then(rtnl::pick_index);
        let undo = Undo::DeleteLink(DeleteLink {
            ns: self.sp.nsref(at).clone(),
            name: kname.clone(),
            ifindex: mark.unwrap_or(0),
        });
        let r = self.sp.rtnl(via).map_err(net_err("open netlink"))?;
        let req = NewLink {
            name: &kname,
            kind: &kind,
            parent: parent_index,
            netns: target.as_ref().map(|fd| fd.as_raw_fd()),
            index: mark,
        };
        self.recorded(Some(at), undo, |lab| {
            lab.sp
                .block_on(r.add_kind(&req))
                .map_err(|e| lab.add_kind_err(at, name, &kind, parent, mark, e))
        })?;
        // Its text needs the kernel (a vxlan's device by name): only when
        // a plan is written.
        let text = if self.watch.plan().is_some() {
            self.kind_text(via, &kind)?
        } else {
            String::new()
        };
        self.tell(Event::LinkMade {
            ns: at,
            name,
            kind: &text,
            parent,
        });
        if let (Kind::MacVlan(_) | Kind::IpVlan(_), Some((pns, p))) = (&kind, parent) {
            self.topo.sub((at, name.to_string()), (pns, p.to_string()));
        }
        if let Kind::Vxlan(v) = &kind {
            self.topo.vxlan(at, name, v.clone());
        }
        if let Some(index) = mark {
            self.mark_link(at, index);
            self.topo.set_index(at, name, index);
        }
        self.link_made(at, name);
        Ok(())
    }

    /// A failed `add_kind` in words.
    fn add_kind_err(
        &mut self,
        at: NsId,
        name: &str,
        kind: &Kind,
        parent: Option<(NsId, &str)>,
        mark: Option<u32>,
        e: NetError,
    ) -> LabError {
        let parent_name = parent.map(|(_, p)| p).unwrap_or("");
        match e.raw_errno() {
            // What the kernel answers for a kind it does not know ("Unknown
            // device type"), when no module for it could be loaded.
            Some(libc::EOPNOTSUPP) => no_support(kind),
            Some(libc::EEXIST) => {
                let kname = self
                    .new_kernel_link(at, name)
                    .unwrap_or_else(|_| name.to_string());
                match self.exists_kernel(at, &kname) {
                    Ok(true) => return self.link_exists_err(at, name),
                    Ok(false) => {}
                    Err(e) => return e,
                }
                if let Some(i) = mark
                    && matches!(self.name_of(at, i), Ok(Some(_)))
                {
                    return links::index_taken(name);
                }
                match kind {
                    Kind::Vxlan(v) => LabError::new(
                        format!(
                            "a VXLAN with vni {} on port {} already exists in {}",
                            v.vni,
                            v.port,
                            self.where_(at)
                        ),
                        "a namespace takes one VXLAN per vni and UDP port: use that one, or pick another vni",
                    ),
                    Kind::Vlan(id) => LabError::new(
                        format!("'{parent_name}' already has a VLAN {id}"),
                        "a link takes each VLAN id once: use the VLAN link made first",
                    ),
                    _ => LabError::kernel(
                        &format!("create a {}", kind.name()),
                        &format!("'{name}' in '{}'", self.sp.name(at)),
                        e,
                    ),
                }
            }
            Some(libc::EINVAL) if matches!(kind, Kind::MacVlan(_) | Kind::IpVlan(_)) => {
                LabError::new(
                    format!("the kernel refused a {} on '{parent_name}'", kind.name()),
                    format!(
                        "a {}'s parent must be an Ethernet link: a veth end, a bridge or a NIC (not lo; and a passthru macvlan takes a parent no other macvlan uses)",
                        kind.name()
                    ),
                )
            }
            _ => LabError::kernel(
                &format!("create a {}", kind.name()),
                &format!("'{name}' in '{}'", self.sp.name(at)),
                e,
            ),
        }
    }

    /// A descriptor of namespace `id` of the caller's own (the one in
    /// `Spaces` stays borrowed from it otherwise).
    fn dup_fd(&self, id: NsId) -> Result<OwnedFd> {
        self.sp
            .fd(id)
            .map_err(|e| LabError::kernel("open namespace", &self.where_(id), e))?
            .try_clone()
            .map_err(|e| {
                LabError::kernel("open namespace", &self.where_(id), NetError::os("dup", e))
            })
    }

    /// The position of the `MoveBack` step of the foreign link now at
    /// `name` in `id`, if it is one that left home.
    fn away_step(&self, id: NsId, name: &str) -> Option<usize> {
        let here = self.sp.nsref(id);
        self.ledger.position(|u| {
            matches!(u, Undo::MoveBack(MoveBack { ns, dev, home, .. }) if ns == here && dev == name && ns != home)
        })
    }

    /// Made by this lab: a link it made outside its namespaces, or any link
    /// in them but the ones it moved there from outside.
    fn is_mine(&self, id: NsId, name: &str) -> bool {
        self.topo.is_made_outside(id, name)
            || (self.sp.is_created(id) && self.away_step(id, name).is_none())
    }

    /// Drops the `DeleteLink` steps of link `name` in `id`: it is gone, or
    /// left for a namespace that deletes it.
    fn drop_delete_steps(&mut self, id: NsId, name: &str) -> Result<()> {
        let here = self.sp.nsref(id).clone();
        let name = &self.made_kernel_link(id, name);
        while let Some(pos) = self.ledger.position(
            |u| matches!(u, Undo::DeleteLink(DeleteLink { ns, name: n, .. }) if *ns == here && n == name),
        ) {
            self.ledger.drop(pos)?;
        }
        Ok(())
    }

    /// `ip link set dev NAME netns TO [name NEW]`, and up again if it was.
    /// Returns the name it has there.
    pub fn move_link(
        &mut self,
        id: NsId,
        name: &str,
        to: NsId,
        new_name: Option<&str>,
    ) -> Result<String> {
        if let Some(r) = self.remote_move_link(id, name, to, new_name) {
            return r;
        }
        let dest = new_name.unwrap_or(name).to_string();
        names::check_ifname(&dest)?;
        let cur = self.link(id, name)?;
        if id == to {
            return Err(LabError::new(
                format!("link '{name}' is already in {}", self.where_(id)),
                "link.move(ns) moves a link to another namespace: give the one it should go to",
            ));
        }
        if cur.kind == "loopback" {
            return Err(LabError::new(
                format!(
                    "'{name}' cannot leave {}: it is the namespace's loopback",
                    self.where_(id)
                ),
                "every namespace has its own: ns.link(\"lo\")",
            ));
        }
        let away = self.away_step(id, name);
        let own = away.is_none() && !self.foreign_link(id, name);
        // An own link going outside the lab's namespaces is named there
        // under the prefix (prefix.rs); a foreign one keeps its name.
        let kdest = if own {
            self.new_kernel_link(to, &dest)?
        } else {
            dest.clone()
        };
        let kname = self.kernel_link(id, name).into_owned();
        // Checked first: the kernel renames after the move, so a name
        // taken there would fail the request with the link already moved.
        if self.exists_kernel(to, &kdest)? {
            return Err(LabError::new(
                format!("link '{dest}' already exists in {}", self.where_(to)),
                "give it another name there: link.move(ns, \"newname\")",
            ));
        }
        if !own {
            // Its undo would have to bring it home as it was.
            self.unplanned("link.move() of a link the lab did not make")?;
            self.move_foreign(id, &cur, to, &dest, away)?;
        } else {
            self.move_own(id, &cur, to, &dest, &kdest)?;
            self.tell(Event::Moved {
                from: id,
                name: &kname,
                to,
                dest: &kdest,
                up: cur.up,
            });
        }
        // Carried along: what the lab knows about the link by its place.
        let from = (id, name.to_string());
        let there = (to, dest.clone());
        self.topo.moved(&from, &there);
        if cur.up {
            let r = self.sp.rtnl(to).map_err(net_err("open netlink"))?;
            self.sp.block_on(r.set_up_by_name(&kdest)).map_err(|e| {
                LabError::kernel(
                    "bring a link up",
                    &format!("'{dest}' in '{}'", self.sp.name(to)),
                    e,
                )
            })?;
            self.settle.came_up(to, &dest);
        }
        Ok(dest)
    }

    /// The move itself, with the index asked for there (`want`); a link the
    /// kernel keeps in its namespace (lo, bridges, VRFs) is refused.
    fn do_move(
        &mut self,
        id: NsId,
        cur: &LinkInfoRow,
        to: NsId,
        dest: &str,
        want: Option<u32>,
    ) -> Result<()> {
        let fd = self.dup_fd(to)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        // `dest` is the kernel's name there, `cur.name` the script's here.
        let kcur = self.kernel_link(id, &cur.name);
        let rename = (dest != kcur).then_some(dest);
        let moved = self
            .sp
            .block_on(r.move_link(cur.index, fd.as_raw_fd(), rename, want));
        moved.map_err(|e| match e.raw_errno() {
            Some(libc::EINVAL) => LabError::new(
                format!(
                    "'{}' cannot leave {}: the kernel keeps a {} link in the namespace it was made in",
                    cur.name,
                    self.where_(id),
                    if cur.kind.is_empty() { "plain" } else { &cur.kind }
                ),
                "make it in the namespace it belongs in instead",
            ),
            Some(libc::EEXIST) | Some(libc::EBUSY) => {
                let mut err = links::index_taken(dest);
                err.source = Some(Box::new(e));
                err
            }
            _ => LabError::kernel(
                "move a link",
                &format!(
                    "'{}' from '{}' to '{}'",
                    cur.name,
                    self.sp.name(id),
                    self.sp.name(to)
                ),
                e,
            ),
        })
    }

    /// The index link `dest` has in `to` now (the kernel may not have
    /// given the one asked for).
    fn index_there(&mut self, to: NsId, dest: &str) -> Result<u32> {
        Ok(self.link(to, dest)?.index)
    }

    /// Moves a link this lab made: no undo where it goes if that is one of
    /// the lab's namespaces, else one of its own.
    fn move_own(
        &mut self,
        id: NsId,
        cur: &LinkInfoRow,
        to: NsId,
        dest: &str,
        kdest: &str,
    ) -> Result<()> {
        let mark = (!self.sp.is_created(to)).then(rtnl::pick_index);
        match mark {
            Some(want) => {
                let to_ref = self.sp.nsref(to).clone();
                let step = |ifindex| {
                    Undo::DeleteLink(DeleteLink {
                        ns: to_ref.clone(),
                        name: kdest.to_string(),
                        ifindex,
                    })
                };
                let undo = step(want);
                self.recorded(Some(to), undo, |lab| {
                    lab.do_move(id, cur, to, kdest, Some(want))
                })?;
                self.topo.made_outside(to, dest);
                let got = self.index_there(to, dest)?;
                if got != want
                    && let Some(pos) = self.ledger.last()
                {
                    self.ledger.replace(pos, step(got))?;
                }
                self.mark_link(to, got);
                self.topo.set_index(to, dest, got);
            }
            None => self.do_move(id, cur, to, kdest, None)?,
        }
        if !self.sp.is_created(id) {
            // Where it was, its undo is moot; a veth end left behind there
            // needs one of its own (its pair would otherwise go only when
            // the kernel gets round to the namespace the other end is in).
            self.drop_delete_steps(id, &cur.name)?;
            self.topo.left(id, &cur.name);
            if let Some((pns, peer)) = self.topo.peer(id, &cur.name)
                && !self.sp.is_created(pns)
                && !self.ledger.any(|u| {
                    matches!(u, Undo::DeleteLink(DeleteLink { ns, name, .. }) if ns == self.sp.nsref(pns) && *name == self.made_kernel_link(pns, &peer))
                })
            {
                let index = self.link(pns, &peer)?.index;
                let undo = Undo::DeleteLink(DeleteLink {
                    ns: self.sp.nsref(pns).clone(),
                    name: self.made_kernel_link(pns, &peer),
                    ifindex: index,
                });
                self.recorded(Some(pns), undo, |_| Ok(()))?;
            }
        }
        Ok(())
    }

    /// Moves a link this lab did not make: its `MoveBack` step (written when
    /// it first left home) is replaced by one that says where it is now.
    fn move_foreign(
        &mut self,
        id: NsId,
        cur: &LinkInfoRow,
        to: NsId,
        dest: &str,
        away: Option<usize>,
    ) -> Result<()> {
        let (home, home_dev, home_ifindex, restore) = match away.map(|p| self.ledger.get(p)) {
            Some(Undo::MoveBack(MoveBack {
                home,
                home_dev,
                home_ifindex,
                restore,
                ..
            })) => (
                home.clone(),
                home_dev.clone(),
                *home_ifindex,
                restore.clone(),
            ),
            _ => (
                self.sp.nsref(id).clone(),
                cur.name.clone(),
                cur.index,
                Box::new(self.home_state(id, cur)?),
            ),
        };
        let going_home = *self.sp.nsref(to) == home;
        if going_home && dest != home_dev {
            return Err(LabError::new(
                format!(
                    "link '{}' goes back to '{}' under its own name, '{home_dev}'",
                    cur.name,
                    home.display()
                ),
                "move it home without a new name: link.move(ns)",
            ));
        }
        let want = if going_home {
            home_ifindex
        } else {
            rtnl::pick_index()
        };
        let to_ref = self.sp.nsref(to).clone();
        let step = |ifindex| {
            Undo::MoveBack(MoveBack {
                ns: to_ref.clone(),
                dev: dest.to_string(),
                ifindex,
                home: home.clone(),
                home_dev: home_dev.clone(),
                home_ifindex,
                restore: restore.clone(),
            })
        };
        let undo = step(want);
        self.recorded(None, undo, |lab| {
            match lab.do_move(id, cur, to, dest, Some(want)) {
                // Its old index at home is taken: any will do.
                Err(e) if going_home && index_refused(&e) => lab.do_move(id, cur, to, dest, None),
                other => other,
            }
        })?;
        let got = self.index_there(to, dest)?;
        if got != want
            && let Some(pos) = self.ledger.last()
        {
            self.ledger.replace(pos, step(got))?;
        }
        if let Some(pos) = away {
            self.ledger.drop(pos)?;
        }
        Ok(())
    }

    /// What a move would take from a link at home, to give it back later.
    fn home_state(&mut self, id: NsId, cur: &LinkInfoRow) -> Result<HomeState> {
        let master = match cur.master {
            Some(m) => self.name_of(id, m)?,
            None => None,
        };
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("'{}' in '{}'", cur.name, self.sp.name(id));
        let (addrs, routes) = self
            .sp
            .block_on(async {
                Ok((
                    r.addrs_back(cur.index).await?,
                    r.routes_back(cur.index).await?,
                ))
            })
            .map_err(|e| LabError::kernel("read the addresses and routes of", &what, e))?;
        let dev = cur.name.clone();
        let sysctls = self
            .sp
            .run_in(id, move || sysctl::dev_keys(&dev))
            .map_err(|e| LabError::kernel("read the sysctls of", &what, e))?;
        Ok(HomeState {
            up: cur.up,
            mtu: cur.mtu,
            mac: format_mac(&cur.mac),
            master,
            addrs,
            routes,
            sysctls,
        })
    }

    /// Before namespace `id` is deleted: the links of others in it go home
    /// (deleting it would destroy them), with what they had there.
    pub(super) fn send_home_links_in(&mut self, id: NsId) -> Result<()> {
        let here = self.sp.nsref(id).clone();
        while let Some(pos) = self.ledger.position(
            |u| matches!(u, Undo::MoveBack(MoveBack { ns, home, .. }) if *ns == here && *ns != *home),
        ) {
            let what = self.ledger.get(pos).describe();
            match self
                .ledger
                .undo_now(pos, &mut self.sp, self.id.header(), true)?
            {
                Ok(Undone::Done) => {}
                Ok(Undone::LeftAlone(why)) => crate::say::say!("nslab: {why}"),
                Err(e) => return Err(LabError::kernel("move a link home", &what, e)),
            }
        }
        Ok(())
    }

    /// `ip link del NAME`, for a link this lab made.
    pub fn delete_link(&mut self, id: NsId, name: &str) -> Result<()> {
        if let Some(r) = self.remote_do(id, "delete_link", &name) {
            return r;
        }
        let cur = self.link(id, name)?;
        if cur.kind == "loopback" {
            return Err(LabError::new(
                format!(
                    "'{name}' cannot be deleted: it is the loopback of {}",
                    self.where_(id)
                ),
                "it goes with its namespace",
            ));
        }
        if !self.is_mine(id, name) {
            return Err(LabError::new(
                format!(
                    "link '{name}' in {} was not made by this lab",
                    self.where_(id)
                ),
                "nslab deletes only links it made, and puts others back as it found them; to remove it, use `ip link del` yourself",
            ));
        }
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp.block_on(r.del_link(cur.index)).map_err(|e| {
            LabError::kernel(
                "delete a link",
                &format!("'{name}' in '{}'", self.sp.name(id)),
                e,
            )
        })?;
        self.tell(Event::LinkDeleted { ns: id, dev: name });
        // A veth goes whole: both ends are forgotten.
        for (n, l) in self.topo.deleted((id, name.to_string())) {
            self.drop_delete_steps(n, &l)?;
            self.settle.gone(&(n, l));
        }
        Ok(())
    }

    /// `ip link show NAME`'s link/ether address.
    pub fn mac(&mut self, id: NsId, name: &str) -> Result<String> {
        Ok(format_mac(&self.link(id, name)?.mac))
    }

    /// `ip link set dev NAME address MAC`.
    pub fn set_mac(&mut self, id: NsId, name: &str, mac: &str) -> Result<()> {
        if let Some(r) = self.remote_do(id, "set_mac", &(name, mac)) {
            return r;
        }
        let new = parse_mac(mac)?;
        if new[0] & 1 == 1 {
            return Err(LabError::new(
                format!("{mac} is a multicast address: a link's own address must be unicast"),
                "clear the lowest bit of the first byte; locally administered unicast addresses start with 02, e.g. \"02:00:00:00:00:01\"",
            ));
        }
        if new == [0; 6] {
            return Err(LabError::new(
                "00:00:00:00:00:00 cannot be a link's address",
                "pick a locally administered one, e.g. \"02:00:00:00:00:01\"",
            ));
        }
        let cur = self.link(id, name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("'{name}' in '{}'", self.sp.name(id));
        let kind = if cur.kind.is_empty() {
            "plain".to_string()
        } else {
            cur.kind.clone()
        };
        let act = |lab: &mut Lab| {
            lab.sp
                .block_on(r.set_mac(cur.index, new))
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EBUSY) => LabError::new(
                        format!("link {what} must be down to change its MAC address"),
                        "take it down first: link.down(); link.mac(\"…\"); link.up()",
                    ),
                    Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) => LabError::new(
                        format!("link {what} (a {kind} link) cannot take a MAC address of its own"),
                        "set the MAC of links that have one: veth ends, bridges, macvlans",
                    ),
                    _ => LabError::kernel("set the MAC address", &what, e),
                })
        };
        if self.foreign_link(id, name) && cur.mac != new {
            let undo = Undo::RestoreMac(RestoreMac {
                ns: self.sp.nsref(id).clone(),
                dev: name.to_string(),
                ifindex: cur.index,
                mac: format_mac(&cur.mac),
            });
            self.recorded(Some(id), undo, act)?;
            self.tell(Event::LinkSet {
                ns: id,
                dev: name,
                set: &format!("address {mac}"),
                undo: Some(&format!("address {}", format_mac(&cur.mac))),
            });
        } else {
            act(self)?;
            self.tell(Event::LinkSet {
                ns: id,
                dev: name,
                set: &format!("address {mac}"),
                undo: None,
            });
        }
        Ok(())
    }
}

/// The error for a link kind the kernel does not have: what is missing and
/// how to get it.
fn no_support(kind: &Kind) -> LabError {
    let (what, module, config) = match kind {
        Kind::MacVlan(_) => ("macvlan", "macvlan", "CONFIG_MACVLAN"),
        Kind::IpVlan(_) => ("ipvlan", "ipvlan", "CONFIG_IPVLAN"),
        Kind::Vxlan(_) => ("VXLAN", "vxlan", "CONFIG_VXLAN"),
        Kind::Vlan(_) => ("802.1Q VLAN", "8021q", "CONFIG_VLAN_8021Q"),
        Kind::Vrf(_) => ("VRF", "vrf", "CONFIG_NET_VRF"),
    };
    LabError::new(
        format!("the kernel has no {what} support"),
        format!(
            "load the `{module}` module (modprobe {module}) or use a kernel built with {config}"
        ),
    )
}

/// The kernel refused the index asked for (the link did not move).
fn index_refused(e: &LabError) -> bool {
    matches!(
        e.source.as_ref().and_then(|s| s.raw_errno()),
        Some(libc::EEXIST) | Some(libc::EBUSY)
    )
}

impl Lab {
    /// `type …` of a link kind as `ip link add` takes it.
    pub(super) fn kind_text(&mut self, at: NsId, kind: &Kind) -> Result<String> {
        Ok(match kind {
            Kind::MacVlan(m) => format!(
                "macvlan mode {}",
                match m {
                    MacVlanMode::Private => "private",
                    MacVlanMode::Vepa => "vepa",
                    MacVlanMode::Passthrough => "passthru",
                    MacVlanMode::Source => "source",
                    _ => "bridge",
                }
            ),
            Kind::IpVlan(m) => format!(
                "ipvlan mode {}",
                match m {
                    IpVlanMode::L3 => "l3",
                    IpVlanMode::L3S => "l3s",
                    _ => "l2",
                }
            ),
            Kind::Vlan(id) => format!("vlan id {id}"),
            Kind::Vrf(t) => format!("vrf table {t}"),
            Kind::Vxlan(v) => {
                let mut s = format!("vxlan id {}", v.vni);
                if let Some(r) = v.remote {
                    let word = if r.is_multicast() { "group" } else { "remote" };
                    s += &format!(" {word} {r}");
                }
                if let Some(l) = v.local {
                    s += &format!(" local {l}");
                }
                if let Some(d) = v.dev
                    && let Some(n) = self.name_of(at, d)?
                {
                    s += &format!(" dev {}", super::plan::q(&n));
                }
                s += &format!(" dstport {}", v.port);
                s
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_and_print() {
        assert_eq!(
            parse_mac("02:00:00:0a:FF:01").unwrap(),
            [2, 0, 0, 10, 255, 1]
        );
        assert_eq!(format_mac(&[2, 0, 0, 10, 255, 1]), "02:00:00:0a:ff:01");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:0:0:0:0:1",
            "zz:00:00:00:00:01",
            "02-00-00-00-00-01",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad} accepted");
        }
    }
}
