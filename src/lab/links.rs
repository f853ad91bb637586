//! Links: veths, bridges, a handle on existing links, and their state.

use super::deferred::DeferredUp;
use super::events::Event;
use super::firewall::{Refused, Site};
use super::ledger::Undo;
use super::{HOST, Lab, LabError, LinkView, NsId, Result, names, net_err};
use crate::lab::steps::links::{DeleteLink, RestoreMaster, RestoreMtu, RestorePort, RestoreUp};
use crate::net::rtnl;
use crate::net::rtnl::{BridgeOpts, PortOpts, PortVlan};
use crate::net::rtnl::{LinkInfoRow, Rtnl};

/// A bridge port's options (`br.attach(link, #{…})`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachOpts {
    pub port: PortOpts,
    pub vlans: Vec<PortVlan>,
    /// Keep the kernel's IPv6 on a bridge port (`#{ipv6: true}`); by
    /// default a port the lab made, without addresses, has none.
    pub ipv6: bool,
}

impl Lab {
    pub(super) fn exists(&mut self, id: NsId, name: &str) -> Result<bool> {
        let kname = self.kernel_link(id, name).into_owned();
        self.exists_kernel(id, &kname)
    }

    /// `exists` by the kernel's name (see prefix.rs).
    pub(super) fn exists_kernel(&mut self, id: NsId, name: &str) -> Result<bool> {
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        match self.sp.block_on(r.index_of(name)) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(LabError::kernel("look up a link", name, e)),
        }
    }

    pub(super) fn link_exists_err(&self, id: NsId, name: &str) -> LabError {
        LabError::new(
            format!("link '{name}' already exists in {}", self.where_(id)),
            "pick another name: link names are unique within a namespace",
        )
    }

    /// `ip link add A type veth peer name B` with A in `ns_a`, B in `ns_b`,
    /// both up. The peer is created directly in its namespace.
    pub fn veth(&mut self, ns_a: NsId, a: &str, ns_b: NsId, b: &str) -> Result<()> {
        self.veth_made_at(ns_a, a, ns_b, b, None)
    }

    /// `veth` for a script's call at `site`: B comes up at the script's next
    /// call, or with the attach that call makes of it (see deferred.rs).
    pub fn veth_at(&mut self, ns_a: NsId, a: &str, ns_b: NsId, b: &str, site: Site) -> Result<()> {
        self.veth_made_at(ns_a, a, ns_b, b, Some(site))
    }

    fn veth_made_at(
        &mut self,
        ns_a: NsId,
        a: &str,
        ns_b: NsId,
        b: &str,
        defer: Option<Site>,
    ) -> Result<()> {
        if let Some(r) = self.remote_veth(ns_a, a, ns_b, b) {
            return r;
        }
        names::check_ifname(a)?;
        names::check_ifname(b)?;
        if ns_a == ns_b && a == b {
            return Err(LabError::new(
                format!("both ends of the veth are called '{a}' in the same namespace"),
                "give the two ends different names",
            ));
        }
        let (ka, kb) = (
            self.new_kernel_link(ns_a, a)?,
            self.new_kernel_link(ns_b, b)?,
        );
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
        let (undo_ns, undo_name, undo_kname) = if !self.sp.is_created(ns_a) {
            (ns_a, a, &ka)
        } else {
            (ns_b, b, &kb)
        };
        // Outside the lab's namespaces that end gets an index of nslab's
        // choosing, journaled before it exists (see `rtnl::pick_index`).
        let mark = (!self.sp.is_created(undo_ns)).then(rtnl::pick_index);
        // The kernel gives the peer the index asked for only when the first
        // end asks for one too (veth_newlink): then both do.
        let ends = if undo_ns == ns_a && undo_name == a {
            (mark, None)
        } else {
            (mark.map(|_| rtnl::pick_index()), mark)
        };
        let undo = Undo::DeleteLink(DeleteLink {
            ns: self.sp.nsref(undo_ns).clone(),
            name: undo_kname.clone(),
            ifindex: mark.unwrap_or(0),
        });
        let r = self.sp.rtnl(ns_a).map_err(net_err("open netlink"))?;
        let peer_raw = if ns_a == ns_b {
            None
        } else {
            Some(std::os::fd::AsRawFd::as_raw_fd(&peer_fd))
        };
        // Opened before anything is made, when B comes up here.
        let rb = match defer {
            None => Some(self.sp.rtnl(ns_b).map_err(net_err("open netlink"))?),
            Some(_) => None,
        };
        self.recorded(Some(undo_ns), undo, |lab| {
            let made = lab.sp.block_on(r.add_veth(&ka, &kb, peer_raw, ends));
            match made {
                Ok(index) => {
                    if let Some(i) = index {
                        lab.topo.set_index(ns_a, a, i);
                    }
                    match &rb {
                        Some(rb) => lab.end_up(rb, &kb, b),
                        None => Ok(()),
                    }
                }
                Err(e) if e.raw_errno() == Some(libc::EEXIST) => {
                    if lab.exists_kernel(ns_a, &ka)? {
                        Err(lab.link_exists_err(ns_a, a))
                    } else if lab.exists_kernel(ns_b, &kb)? {
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
        if let Some(index) = mark {
            self.mark_link(undo_ns, index);
        }
        if let Some(site) = defer {
            self.deferred.put_up(DeferredUp {
                ns: ns_b,
                name: b.to_string(),
                kname: kb.clone(),
                site,
            });
        }
        if own_queues() {
            for (id, kname) in [(ns_a, ka), (ns_b, kb)] {
                let shown = kname.clone();
                self.sp
                    .run_in(id, move || crate::net::ns::own_queue_here(&kname))
                    .map_err(|e| {
                        let mut err = LabError::kernel("give a veth end its own queue", &shown, e);
                        err.help = Some(
                            "NSLAB_OWN_QUEUES=1 asks for it; unset it to keep the kernel's defaults"
                                .into(),
                        );
                        err
                    })?;
            }
        }
        // Tell the parts.
        self.link_made(ns_a, a);
        self.link_made(ns_b, b);
        self.topo.veth((ns_a, a.to_string()), (ns_b, b.to_string()));
        self.tell(Event::VethMade {
            a: (ns_a, a),
            b: (ns_b, b),
        });
        Ok(())
    }

    /// Brings up the veth ends put off (see deferred.rs), then applies the
    /// queued firewall rules: before every call of the script but those
    /// that queue rules, and at its end. An error is the first of either,
    /// shown at the call that asked for it.
    pub fn flush(&mut self) -> std::result::Result<(), Refused> {
        let ups = self.flush_ups();
        let rules = self.flush_rules();
        ups.and(rules)
    }

    /// `flush` before `br.attach(link)`: `link`'s own up, if put off,
    /// stays for the attach to take over (see `attach_with`).
    pub fn flush_but_port(&mut self, id: NsId, link: &str) -> std::result::Result<(), Refused> {
        let held = self.deferred.take_up(id, link);
        let out = self.flush();
        if let Some(up) = held {
            self.deferred.put_up(up);
        }
        out
    }

    /// Every end put off comes up, one request each; the first error is
    /// returned once all were tried.
    pub fn flush_ups(&mut self) -> std::result::Result<(), Refused> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let mut first = None;
        for up in self.deferred.take_ups() {
            if let Err(error) = self.bring_up(&up) {
                first.get_or_insert(Refused {
                    error,
                    site: up.site,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn bring_up(&mut self, up: &DeferredUp) -> Result<()> {
        let r = self.sp.rtnl(up.ns).map_err(net_err("open netlink"))?;
        self.end_up(&r, &up.kname, &up.name)
    }

    /// A veth end up through its namespace's client `r`, by its kernel
    /// name `kname` (`name` is the script's, for the error).
    fn end_up(&self, r: &Rtnl, kname: &str, name: &str) -> Result<()> {
        self.sp
            .block_on(r.set_up_by_name(kname))
            .map_err(|e| LabError::kernel("bring a veth up", name, e))
    }

    /// Link `name` was made in `id` and is up: the parts learn of it.
    pub(super) fn link_made(&mut self, id: NsId, name: &str) {
        if !self.sp.is_created(id) {
            self.topo.made_outside(id, name);
        }
        self.settle.came_up(id, name);
    }

    /// `ip link add NAME type bridge [stp_state 1 …]` + up, in `ns`.
    pub fn bridge(&mut self, id: NsId, name: &str, opts: &BridgeOpts) -> Result<()> {
        names::check_ifname(name)?;
        if let Some(r) = self.remote_bridge(id, name, opts) {
            return r;
        }
        let kname = self.new_kernel_link(id, name)?;
        let mark = (!self.sp.is_created(id)).then(rtnl::pick_index);
        let undo = Undo::DeleteLink(DeleteLink {
            ns: self.sp.nsref(id).clone(),
            name: kname.clone(),
            ifindex: mark.unwrap_or(0),
        });
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.recorded(Some(id), undo, |lab| {
            let made = if *opts == BridgeOpts::default() {
                lab.sp.block_on(r.add_bridge(&kname, mark))
            } else {
                lab.sp.block_on(r.add_bridge_with(&kname, mark, opts))
            };
            made.map_err(|e| match e.raw_errno() {
                    Some(libc::EEXIST) => match lab.exists_kernel(id, &kname) {
                        Ok(false) => index_taken(name),
                        Ok(true) => lab.link_exists_err(id, name),
                        Err(e) => e,
                    },
                    Some(libc::EOPNOTSUPP) if opts.vlan_filtering == Some(true) => {
                        no_vlan_filtering("make a bridge with vlan_filtering")
                    }
                    Some(libc::ERANGE) | Some(libc::EINVAL) if *opts != BridgeOpts::default() => {
                        LabError::new(
                            format!("the kernel refused the settings of bridge '{name}'"),
                            "with stp on, forward_delay_s must be 2..=30, hello_s 1..=10 and max_age_s 6..=40",
                        )
                    }
                    _ => LabError::kernel(
                        "create a bridge",
                        &format!("'{name}' in '{}'", lab.sp.name(id)),
                        e,
                    ),
                })
        })?;
        let index = match mark {
            Some(i) => {
                self.mark_link(id, i);
                Ok(i)
            }
            None => self.sp.block_on(r.index_of(&kname)),
        };
        if let Ok(index) = index {
            self.topo.bridge(id, name, index);
        }
        self.link_made(id, name);
        self.tell(Event::BridgeMade { ns: id, name, opts });
        Ok(())
    }

    /// Gives a link the lab made outside its own namespaces the alias
    /// `nslab:LAB`, so `ip link` shows whose it is. Only a label for people:
    /// the kernel cannot take an alias in the request that makes a link,
    /// so nslab's own checks go by the index chosen up front.
    pub(super) fn mark_link(&mut self, id: NsId, index: u32) {
        let alias = format!("nslab:{}", self.id.name());
        if let Ok(r) = self.sp.rtnl(id) {
            let _ = self.sp.block_on(r.set_alias(index, &alias));
        }
    }

    /// The link's details; a clear error when there is no such link.
    pub fn link(&mut self, id: NsId, name: &str) -> Result<LinkInfoRow> {
        names::check_ifname(name)?;
        let kname = self.kernel_link(id, name);
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.link(&kname))
            .map(|mut row| {
                row.name = name.to_string();
                row
            })
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

    pub(super) fn var_hint(&self, id: NsId) -> String {
        if id == HOST {
            "host()".into()
        } else {
            "ns".into()
        }
    }

    /// Undo for a change to a link this lab did not make; none for its own.
    pub(super) fn foreign_link(&self, id: NsId, name: &str) -> bool {
        !self.sp.is_created(id) && !self.topo.is_made_outside(id, name)
    }

    /// `ip link set NAME up|down`.
    pub fn set_up(&mut self, id: NsId, name: &str, up: bool) -> Result<()> {
        if let Some(r) = self.remote_up(id, name, up) {
            return r;
        }
        let cur = self.link(id, name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let doing = if up {
            "bring a link up"
        } else {
            "bring a link down"
        };
        let what = format!("'{name}' in '{}'", self.sp.name(id));
        if up {
            self.settle.came_up(id, name);
            self.v6_tentative_again(id, cur.index);
            // A veth's peer gets its carrier now, and cannot send until the
            // kernel activates it too (linkwatch, which a busy machine runs
            // late): a probe right after must wait for both ends.
            if let Some((pns, peer)) = self.topo.peer(id, name) {
                self.settle.came_up(pns, &peer);
                if let Ok(p) = self.link(pns, &peer) {
                    self.v6_tentative_again(pns, p.index);
                }
            }
        }
        let act = |lab: &mut Lab| {
            lab.sp
                .block_on(r.set_up(cur.index, up))
                .map_err(|e| LabError::kernel(doing, &what, e))
        };
        if self.foreign_link(id, name) && cur.up != up {
            let undo = Undo::RestoreUp(RestoreUp {
                ns: self.sp.nsref(id).clone(),
                dev: name.to_string(),
                ifindex: cur.index,
                up: cur.up,
            });
            self.recorded(Some(id), undo, act)?;
            self.tell(Event::LinkUp {
                ns: id,
                dev: name,
                up,
                old: Some(cur.up),
            });
            Ok(())
        } else {
            act(self)?;
            self.tell(Event::LinkUp {
                ns: id,
                dev: name,
                up,
                old: None,
            });
            Ok(())
        }
    }

    /// A link coming up (or its peer getting a carrier) makes its IPv6
    /// addresses tentative again until the kernel's DAD work has run for
    /// them, nodad ones too, and a busy machine runs it late: the next
    /// probe to or from them waits for them as for fresh ones
    /// (`settle_dad`). Best effort: unreadable, nothing to wait for.
    fn v6_tentative_again(&mut self, id: NsId, index: u32) {
        let Ok(r) = self.sp.rtnl(id) else {
            return;
        };
        // The kernel's link-locals are `settle_v6`'s: addrs_back leaves them out.
        let Ok(addrs) = self.sp.block_on(r.addrs_back(index)) else {
            return;
        };
        for a in addrs.iter().filter(|a| a.addr.addr().is_ipv6()) {
            self.settle.fresh_v6(id, a.addr.addr());
        }
    }

    /// `ip link set NAME mtu N`.
    pub fn set_mtu(&mut self, id: NsId, name: &str, mtu: u32) -> Result<()> {
        if let Some(r) = self.remote_do(id, "mtu", &(name, mtu)) {
            return r;
        }
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
            let undo = Undo::RestoreMtu(RestoreMtu {
                ns: self.sp.nsref(id).clone(),
                dev: name.to_string(),
                ifindex: cur.index,
                mtu: cur.mtu,
            });
            self.recorded(Some(id), undo, act)?;
            self.tell(Event::LinkMtu {
                ns: id,
                dev: name,
                mtu,
                old: Some(cur.mtu),
            });
            Ok(())
        } else {
            act(self)?;
            self.tell(Event::LinkMtu {
                ns: id,
                dev: name,
                mtu,
                old: None,
            });
            Ok(())
        }
    }

    /// `ip link set LINK master BR` (+ up).
    pub fn attach(&mut self, br_ns: NsId, br: &str, link_ns: NsId, link: &str) -> Result<()> {
        attach_checks(self, br_ns, br, link_ns, link)?;
        let what = format!("'{link}' to bridge '{br}' in '{}'", self.sp.name(br_ns));
        // Both may come up now (the bridge gets its carrier from its ports).
        self.settle.came_up(link_ns, link);
        self.settle.came_up(br_ns, br);
        // A bridge and a port the lab made: one request, no lookups.
        if let Some(br_index) = self.topo.bridge_index(br_ns, br)
            && !self.foreign_link(link_ns, link)
        {
            let r = self.sp.rtnl(br_ns).map_err(net_err("open netlink"))?;
            let klink = self.kernel_link(link_ns, link).into_owned();
            return match self.sp.block_on(r.attach_by_name(&klink, br_index)) {
                Ok(()) => {
                    self.tell(Event::MasterSet {
                        ns: br_ns,
                        br,
                        link,
                        old: None,
                        was_up: true,
                    });
                    Ok(())
                }
                Err(e) => {
                    // A missing port gets the same report as everywhere else.
                    if e.raw_errno() == Some(libc::ENODEV) {
                        self.link(link_ns, link)?;
                    }
                    Err(attach_err(&what, br, link, e))
                }
            };
        }
        // Any kind that takes ports will do (a bridge, a VRF, a bond): the
        // kernel says which do not.
        let brl = self.link(br_ns, br)?;
        let cur = self.link(link_ns, link)?;
        let r = self.sp.rtnl(br_ns).map_err(net_err("open netlink"))?;
        let act = |lab: &mut Lab| {
            lab.sp
                .block_on(async {
                    r.set_master(cur.index, Some(brl.index)).await?;
                    r.set_up(cur.index, true).await
                })
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EOPNOTSUPP) => not_a_master(br, &brl.kind),
                    _ => attach_err(&what, br, link, e),
                })
        };
        if self.foreign_link(link_ns, link) {
            let old = match cur.master {
                Some(m) => self.name_of(link_ns, m)?,
                None => None,
            };
            let undo = Undo::RestoreMaster(RestoreMaster {
                ns: self.sp.nsref(link_ns).clone(),
                dev: link.to_string(),
                ifindex: cur.index,
                master: old.clone(),
            });
            self.recorded(Some(link_ns), undo, act)?;
            self.tell(Event::MasterSet {
                ns: br_ns,
                br,
                link,
                old: Some(old.as_deref()),
                was_up: cur.up,
            });
            if !cur.up {
                let undo = Undo::RestoreUp(RestoreUp {
                    ns: self.sp.nsref(link_ns).clone(),
                    dev: link.to_string(),
                    ifindex: cur.index,
                    up: false,
                });
                // Already up by now: the record only brings the old state back.
                self.recorded(Some(link_ns), undo, |_| Ok(()))?;
            }
            Ok(())
        } else {
            act(self)?;
            self.tell(Event::MasterSet {
                ns: br_ns,
                br,
                link,
                old: None,
                was_up: true,
            });
            Ok(())
        }
    }

    /// `br.attach(link, #{…})`: attach, then set the port's options
    /// (`ip link set LINK type bridge_slave …`, `bridge vlan add …`).
    ///
    /// A veth end whose up was put off (see deferred.rs) has its IPv6
    /// turned off first, while still down, when it is to have none: it
    /// never gets a link-local address, nor the routes and timers that go
    /// with it. If the attach fails, the end comes up all the same, as
    /// `veth()` promised.
    pub fn attach_with(
        &mut self,
        br_ns: NsId,
        br: &str,
        link_ns: NsId,
        link: &str,
        opts: &AttachOpts,
    ) -> Result<()> {
        let down = self.deferred.take_up(link_ns, link);
        let out = self.attach_port(br_ns, br, link_ns, link, opts, down.as_ref());
        // (A link put off is in a namespace of this machine: remote_port
        // only ever refuses it.)
        if let Some(up) = down
            && out.is_err()
        {
            let _ = self.bring_up(&up);
        }
        out
    }

    fn attach_port(
        &mut self,
        br_ns: NsId,
        br: &str,
        link_ns: NsId,
        link: &str,
        opts: &AttachOpts,
        down: Option<&DeferredUp>,
    ) -> Result<()> {
        if let Some(r) = self.remote_port(br_ns, br, link_ns, link, opts, true) {
            return r;
        }
        let foreign = self.foreign_link(link_ns, link);
        if !opts.vlans.is_empty() {
            self.vlans_allowed(br_ns, br, link_ns, link)?;
            // Before the port joins: on a kernel without VLAN filtering
            // the call fails here, with nothing done.
            self.bridge_vlan_filtering(br_ns, br)?;
        }
        let with_opts = !(opts.port.is_empty() && opts.vlans.is_empty());
        let before = if with_opts || foreign {
            Some(self.link(link_ns, link)?)
        } else {
            None
        };
        let was_port = before.as_ref().is_some_and(|c| c.master.is_some());
        // A port of another bridge before: its settings come back when it
        // is put back there (joining this bridge resets them, options or
        // not). The record goes first, so that at teardown the port is back
        // on its old bridge before they are applied (a link that was no
        // bridge's port loses them when it leaves).
        if foreign && let Some(cur) = before.filter(|c| c.master.is_some()) {
            let r = self.sp.rtnl(link_ns).map_err(net_err("open netlink"))?;
            let old = self
                .sp
                .block_on(r.port_opts(cur.index))
                .map_err(|e| LabError::kernel("read bridge port options", link, e))?;
            if let Some(old) = old {
                let undo = Undo::RestorePort(RestorePort {
                    ns: self.sp.nsref(link_ns).clone(),
                    dev: link.to_string(),
                    ifindex: cur.index,
                    opts: old,
                });
                // Nothing changes yet: the record only brings them back.
                self.recorded(Some(link_ns), undo, |_| Ok(()))?;
            }
        }
        // Off while down: no link-local address is made and dropped.
        let ipv6_first = down.is_some() && !opts.ipv6;
        if ipv6_first {
            attach_checks(self, br_ns, br, link_ns, link)?;
            self.port_ipv6(br_ns, br, link_ns, link, false)?;
        }
        // Up before it joins: the other end gets its carrier, and sends its
        // first IPv6 packets (MLD reports), while this one is no port yet;
        // joined first, the bridge flooded them to every port, O(N^2) for
        // a star (bench/README.md, tenth round).
        if let Some(up) = down {
            self.bring_up(up)?;
        }
        self.attach(br_ns, br, link_ns, link)?;
        if !ipv6_first {
            self.port_ipv6(br_ns, br, link_ns, link, opts.ipv6)?;
        }
        if !with_opts {
            return Ok(());
        }
        let index = self.link(link_ns, link)?.index;
        let r = self.sp.rtnl(link_ns).map_err(net_err("open netlink"))?;
        let what = format!(
            "port '{link}' of bridge '{br}' in '{}'",
            self.sp.name(br_ns)
        );
        let set = self.port_settings(&r, index, opts, &what);
        // A link that was no bridge's port before is not left half set up
        // (in the REPL the session goes on after the error).
        if set.is_err() && !was_port {
            let _ = self.sp.block_on(r.set_master(index, None));
        }
        set?;
        self.tell(Event::PortSet {
            ns: link_ns,
            link,
            port: &opts.port,
            old: None,
        });
        Ok(())
    }

    /// VLANs are set only on ports the lab made, of bridges it made: a
    /// port's VLAN set, and a bridge's VLAN filtering, could not be put
    /// back exactly at teardown.
    fn vlans_allowed(&mut self, br_ns: NsId, br: &str, link_ns: NsId, link: &str) -> Result<()> {
        for (id, name, what) in [(link_ns, link, "link"), (br_ns, br, "bridge")] {
            if self.foreign_link(id, name) {
                return Err(LabError::new(
                    format!(
                        "nslab does not set VLANs on '{name}': the lab did not make that {what}, and its VLANs could not be put back exactly at teardown"
                    ),
                    "give VLANs to a link the lab makes (e.g. a veth end beside the bridge), on a bridge the lab makes",
                ));
            }
        }
        self.unplanned("a bridge port's vlans")
    }

    /// `ip link set BR type bridge vlan_filtering 1` (a bridge the lab
    /// made: it goes at teardown, with the setting).
    fn bridge_vlan_filtering(&mut self, br_ns: NsId, br: &str) -> Result<()> {
        let brl = self.link(br_ns, br)?;
        if brl.kind != "bridge" {
            return Err(not_a_bridge(br, &brl.kind));
        }
        let r = self.sp.rtnl(br_ns).map_err(net_err("open netlink"))?;
        self.sp
            .block_on(r.set_vlan_filtering(brl.index, true))
            .map_err(|e| match e.raw_errno() {
                Some(libc::EOPNOTSUPP) => no_vlan_filtering("give a bridge port VLANs"),
                _ => LabError::kernel(
                    "turn VLAN filtering on",
                    &format!("bridge '{br}' in '{}'", self.sp.name(br_ns)),
                    e,
                ),
            })
    }

    /// `br.port(link, #{…})`: changes the options of a port of `br`
    /// (`ip link set LINK type bridge_slave …`, its VLAN set). A link the
    /// lab did not make gets the old values of what changed back at
    /// teardown.
    pub fn port_with(
        &mut self,
        br_ns: NsId,
        br: &str,
        link_ns: NsId,
        link: &str,
        opts: &AttachOpts,
    ) -> Result<()> {
        if let Some(r) = self.remote_port(br_ns, br, link_ns, link, opts, false) {
            return r;
        }
        let brl = self.link(br_ns, br)?;
        if brl.kind != "bridge" {
            return Err(not_a_bridge(br, &brl.kind));
        }
        let cur = self.link(link_ns, link)?;
        if br_ns != link_ns || cur.master != Some(brl.index) {
            return Err(LabError::new(
                format!(
                    "'{link}' is not a port of bridge '{br}' in '{}'",
                    self.sp.name(br_ns)
                ),
                "attach it first, with br.attach(link) or br.attach(link, #{…}), which takes the same options",
            ));
        }
        if !opts.vlans.is_empty() {
            self.vlans_allowed(br_ns, br, link_ns, link)?;
            self.bridge_vlan_filtering(br_ns, br)?;
        }
        let r = self.sp.rtnl(link_ns).map_err(net_err("open netlink"))?;
        let what = format!(
            "port '{link}' of bridge '{br}' in '{}'",
            self.sp.name(br_ns)
        );
        let mut old = None;
        if self.foreign_link(link_ns, link) && !opts.port.is_empty() {
            let had = self
                .sp
                .block_on(r.port_opts(cur.index))
                .map_err(|e| LabError::kernel("read bridge port options", link, e))?
                .unwrap_or_default();
            // Only what changes comes back.
            let back = PortOpts {
                isolated: opts.port.isolated.and(had.isolated),
                hairpin: opts.port.hairpin.and(had.hairpin),
                cost: opts.port.cost.and(had.cost),
                priority: opts.port.priority.and(had.priority),
                learning: opts.port.learning.and(had.learning),
                flood: opts.port.flood.and(had.flood),
            };
            let undo = Undo::RestorePort(RestorePort {
                ns: self.sp.nsref(link_ns).clone(),
                dev: link.to_string(),
                ifindex: cur.index,
                opts: back.clone(),
            });
            // No VLANs here: vlans_allowed refused them on this link.
            self.recorded(Some(link_ns), undo, |lab| {
                lab.port_settings(&r, cur.index, opts, &what)
            })?;
            old = Some(back);
        } else {
            self.port_settings(&r, cur.index, opts, &what)?;
        }
        self.tell(Event::PortSet {
            ns: link_ns,
            link,
            port: &opts.port,
            old: old.as_ref(),
        });
        Ok(())
    }

    /// A bridge port is a switch port: it needs no IPv6 address of its own.
    /// Left as the kernel has it, each port the lab makes gets a link-local
    /// address and sends duplicate-address detection, MLD reports and router
    /// solicitations, which the bridge floods to every other port: O(N²)
    /// packets for N ports, most of a big star's build. So a port the lab
    /// made and the script gave no address has IPv6 turned off
    /// (`disable_ipv6`, which also drops the link-local address it got when
    /// it came up, before its DAD probe, sent up to a second later, goes
    /// out). Not for links the lab did not make, not for other masters (a
    /// VRF's links route), and not with `#{ipv6: true}`; `addr` on such a
    /// port turns IPv6 back on.
    fn port_ipv6(
        &mut self,
        br_ns: NsId,
        br: &str,
        link_ns: NsId,
        link: &str,
        keep: bool,
    ) -> Result<()> {
        if keep {
            if self.topo.ipv6_back(link_ns, link) {
                self.link_ipv6(link_ns, link, true)?;
            }
            return Ok(());
        }
        if self.foreign_link(link_ns, link) || self.topo.keeps_ipv6(link_ns, link) {
            return Ok(());
        }
        if self.topo.bridge_index(br_ns, br).is_none() && self.link(br_ns, br)?.kind != "bridge" {
            return Ok(());
        }
        if self.link_ipv6(link_ns, link, false)? {
            self.topo.ipv6_off(link_ns, link);
        }
        Ok(())
    }

    /// IPv6 on or off on one link (`net.ipv6.conf.LINK.disable_ipv6`).
    /// False when the kernel has no IPv6 (nothing to turn off).
    pub(super) fn link_ipv6(&mut self, id: NsId, link: &str, on: bool) -> Result<bool> {
        // Slashes: link names may hold dots.
        let rel = format!("{}/disable_ipv6", self.kernel_link(id, link));
        let v = if on { "0" } else { "1" };
        let what = format!("'{link}' in '{}'", self.sp.name(id));
        let planned = format!("net/ipv6/conf/{rel}");
        match self.sp.write_ipv6_conf(id, &rel, v) {
            Ok(()) => {
                let old = if on { "1" } else { "0" };
                self.tell(Event::SysctlSet {
                    ns: id,
                    key: &planned,
                    value: v,
                    old,
                });
                Ok(true)
            }
            // No /proc/sys/net/ipv6 at all: a kernel without IPv6.
            Err(e) if e.raw_errno() == Some(libc::ENOENT) && !on => Ok(false),
            Err(e) => Err(LabError::kernel(
                if on {
                    "turn IPv6 back on on a bridge port"
                } else {
                    "turn IPv6 off on a bridge port"
                },
                &what,
                e,
            )),
        }
    }

    fn port_settings(&mut self, r: &Rtnl, index: u32, opts: &AttachOpts, what: &str) -> Result<()> {
        if !opts.port.is_empty() {
            self.sp
                .block_on(r.set_port(index, &opts.port))
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EOPNOTSUPP) => LabError::new(
                        format!("the kernel does not support these bridge port options ({what})"),
                        "isolated needs Linux 4.18 or later; leave the option out on older kernels",
                    ),
                    Some(libc::ERANGE) | Some(libc::EINVAL) => LabError::new(
                        format!("the kernel refused the options of {what}"),
                        "cost is 1..=65535 (or more on newer kernels), priority 0..=63",
                    ),
                    _ => LabError::kernel("set bridge port options", what, e),
                })?;
        }
        if !opts.vlans.is_empty() {
            self.sp
                .block_on(r.set_port_vlans(index, &opts.vlans))
                .map_err(|e| match e.raw_errno() {
                    Some(libc::EOPNOTSUPP) => no_vlan_filtering("give a bridge port VLANs"),
                    _ => LabError::kernel("set the VLANs of a bridge port", what, e),
                })?;
        }
        Ok(())
    }

    pub(super) fn name_of(&mut self, id: NsId, index: u32) -> Result<Option<String>> {
        Ok(self
            .links_raw(id)?
            .into_iter()
            .find(|l| l.index == index)
            .map(|l| l.name))
    }

    pub(super) fn links_raw(&mut self, id: NsId) -> Result<Vec<LinkInfoRow>> {
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let rows = self
            .sp
            .block_on(r.links())
            .map_err(|e| LabError::kernel("list links", &self.where_(id), e))?;
        Ok(self.script_rows(id, rows))
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
}

/// EOPNOTSUPP for a bridge VLAN setting: the kernel was built without it.
pub(super) fn no_vlan_filtering(doing: &str) -> LabError {
    LabError::new(
        format!(
            "cannot {doing}: the kernel has no bridge VLAN filtering (it was built without CONFIG_BRIDGE_VLAN_FILTERING)"
        ),
        "run the lab on a kernel built with CONFIG_BRIDGE_VLAN_FILTERING=y, or leave the VLAN options out (the bridge then forwards every VLAN's frames as they come)",
    )
}

/// EEXIST for a new link whose name is free: the index nslab picked for it
/// is taken (a chance of about one in a billion per link in use).
pub(super) fn index_taken(name: &str) -> LabError {
    LabError::new(
        format!("the kernel refused the index nslab picked for link '{name}': it is in use"),
        "run the script again: nslab picks another one at random",
    )
}

/// `br.port(…)` or port VLANs on a link that is no bridge.
fn not_a_bridge(br: &str, kind: &str) -> LabError {
    let kind = if kind.is_empty() { "plain" } else { kind };
    LabError::new(
        format!("'{br}' is a {kind} link, not a bridge: it has no port options"),
        "call it on a bridge, e.g. let br = bridge(ns, \"br0\"); br.port(link, #{cost: 10})",
    )
}

/// `master.attach(link)` on a link that takes no ports (the kernel answers
/// EOPNOTSUPP: it has no way to add one).
fn not_a_master(master: &str, kind: &str) -> LabError {
    let kind = if kind.is_empty() { "plain" } else { kind };
    LabError::new(
        format!("'{master}' is a {kind} link, which takes no ports"),
        "attach links to a bridge (bridge(ns, \"br0\")) or a VRF (vrf(ns, \"red\", 10))",
    )
}

/// What attach refuses before asking the kernel anything.
fn attach_checks(lab: &Lab, br_ns: NsId, br: &str, link_ns: NsId, link: &str) -> Result<()> {
    if br_ns != link_ns {
        return Err(LabError::new(
            format!(
                "link '{link}' is in namespace '{}' but bridge '{br}' is in '{}'",
                lab.sp.name(link_ns),
                lab.sp.name(br_ns)
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
    Ok(())
}

/// A failed `br.attach(link)` in words. The kernel answers ELOOP when the
/// port is itself a bridge (Linux never nests bridges, which could make a
/// loop of bridges), as strerror's "Too many symbolic links".
pub(super) fn attach_err(what: &str, br: &str, link: &str, e: crate::net::NetError) -> LabError {
    match e.raw_errno() {
        Some(libc::ELOOP) => LabError::new(
            format!(
                "cannot attach '{link}' to bridge '{br}': '{link}' is a bridge, and a bridge cannot be a port of another bridge (that could make a loop of bridges)"
            ),
            "join two bridges with a veth instead: let c = veth(ns, \"x\", ns, \"y\"); then attach c[0] to one bridge and c[1] to the other",
        ),
        // The kernel numbers a bridge's ports in 10 bits (BR_MAX_PORTS).
        Some(libc::EXFULL) => LabError::new(
            format!(
                "cannot attach '{link}' to bridge '{br}': a Linux bridge takes at most 1023 ports, and it has them all"
            ),
            "spread the hosts over several bridges joined by veths, as topo::star does past 1000 hosts",
        ),
        _ => LabError::kernel("attach a link", what, e),
    }
}

/// `NSLAB_OWN_QUEUES=1`: every veth end the lab makes gets a receive queue
/// of its own (`net::ns::own_queue_here`), so the machine's shared input
/// backlog, which other labs' bursts fill, never drops this lab's packets.
/// For checks on a shared machine (the test suite sets it, see
/// .cargo/config.toml); it costs TCP throughput, so it is not the default.
fn own_queues() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("NSLAB_OWN_QUEUES").is_some_and(|v| v == "1"))
}
