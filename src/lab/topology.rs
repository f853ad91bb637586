//! What the lab knows about the links it made, by (namespace, name): which
//! it made outside its own namespaces, their indexes, bridges, veth pairs,
//! the parents of macvlans and ipvlans, VXLANs, and the IPv6 of bridge
//! ports. An op tells it what happened (made, moved, deleted, a namespace
//! gone); it keeps the maps consistent.

use std::collections::{HashMap, HashSet};

use super::space::NsId;
use crate::net::rtnl::Vxlan;

/// A link by where it is: (namespace, name).
pub type At = (NsId, String);

fn at(id: NsId, name: &str) -> At {
    (id, name.to_string())
}

#[derive(Default)]
pub struct Topology {
    /// Links this lab made outside its own namespaces (they get deleted, so
    /// changes to them need no undo of their own).
    made: HashSet<At>,
    /// Indexes of links the lab made, as the kernel reported them at creation.
    ifindex: HashMap<At, u32>,
    /// Index of every bridge the lab made (attach needs it for each port).
    bridges: HashMap<At, u32>,
    /// Both ends of every veth the lab made, each mapped to the other.
    peers: HashMap<At, At>,
    /// Every macvlan and ipvlan the lab made, mapped to its parent (the
    /// explanation follows frames from one to the other).
    parents: HashMap<At, At>,
    /// Every VXLAN the lab made, with its VNI and far end (the explanation
    /// follows frames to the VXLAN at the other end).
    vxlans: HashMap<At, Vxlan>,
    /// Links the script gave addresses: as bridge ports they keep IPv6.
    addressed: HashSet<At>,
    /// Bridge ports whose IPv6 nslab turned off (see `attach_with`).
    no_ipv6: HashSet<At>,
}

impl Topology {
    /// The lab made link `name` outside its own namespaces.
    pub fn made_outside(&mut self, id: NsId, name: &str) {
        self.made.insert(at(id, name));
    }

    pub fn is_made_outside(&self, id: NsId, name: &str) -> bool {
        self.made.contains(&at(id, name))
    }

    /// The links the lab made outside its own namespaces.
    pub fn made_outside_all(&self) -> impl Iterator<Item = &At> {
        self.made.iter()
    }

    /// Link `name` left namespace `id` (that was not the lab's).
    pub fn left(&mut self, id: NsId, name: &str) {
        self.made.remove(&at(id, name));
    }

    pub fn set_index(&mut self, id: NsId, name: &str, index: u32) {
        self.ifindex.insert(at(id, name), index);
    }

    pub fn index(&self, id: NsId, name: &str) -> Option<u32> {
        self.ifindex.get(&at(id, name)).copied()
    }

    /// The index known for `name` is stale (its link is gone).
    pub fn forget_index(&mut self, id: NsId, name: &str) {
        self.ifindex.remove(&at(id, name));
    }

    pub fn bridge(&mut self, id: NsId, name: &str, index: u32) {
        self.bridges.insert(at(id, name), index);
    }

    /// The index of bridge `name`, if the lab made it.
    pub fn bridge_index(&self, id: NsId, name: &str) -> Option<u32> {
        self.bridges.get(&at(id, name)).copied()
    }

    pub fn veth(&mut self, a: At, b: At) {
        self.peers.insert(a.clone(), b.clone());
        self.peers.insert(b, a);
    }

    /// The other end of a veth the lab made.
    pub fn peer(&self, id: NsId, name: &str) -> Option<At> {
        self.peers.get(&at(id, name)).cloned()
    }

    pub fn peers(&self) -> &HashMap<At, At> {
        &self.peers
    }

    /// A macvlan or ipvlan on `parent`.
    pub fn sub(&mut self, child: At, parent: At) {
        self.parents.insert(child, parent);
    }

    pub fn sub_parent(&self, id: NsId, name: &str) -> Option<At> {
        self.parents.get(&at(id, name)).cloned()
    }

    /// The macvlans and ipvlans the lab made on a parent, sorted.
    pub fn sub_children(&self, id: NsId, name: &str) -> Vec<At> {
        let p = at(id, name);
        let mut v: Vec<At> = self
            .parents
            .iter()
            .filter(|(_, parent)| **parent == p)
            .map(|(c, _)| c.clone())
            .collect();
        v.sort();
        v
    }

    pub fn vxlan(&mut self, id: NsId, name: &str, v: Vxlan) {
        self.vxlans.insert(at(id, name), v);
    }

    /// The VXLANs the lab made, sorted by where they are.
    pub fn vxlans(&self) -> Vec<(NsId, String, Vxlan)> {
        let mut v: Vec<_> = self
            .vxlans
            .iter()
            .map(|((id, name), x)| (*id, name.clone(), x.clone()))
            .collect();
        v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        v
    }

    /// The script gave `dev` an address (as a bridge port it keeps IPv6).
    pub fn addressed(&mut self, id: NsId, dev: &str) {
        self.addressed.insert(at(id, dev));
    }

    /// A bridge port gets its IPv6 back (it was given an address, or
    /// attached with `ipv6: true`); true if nslab had turned it off.
    pub fn ipv6_back(&mut self, id: NsId, dev: &str) -> bool {
        self.no_ipv6.remove(&at(id, dev))
    }

    /// Whether a new bridge port's IPv6 is to be left as it is: it has
    /// addresses, or it is off already.
    pub fn keeps_ipv6(&self, id: NsId, dev: &str) -> bool {
        let key = at(id, dev);
        self.addressed.contains(&key) || self.no_ipv6.contains(&key)
    }

    pub fn ipv6_off(&mut self, id: NsId, dev: &str) {
        self.no_ipv6.insert(at(id, dev));
    }

    /// Link `from` is now `there` (moved, maybe renamed): what is known of
    /// it by its place goes along (but its index, which the move changed).
    pub fn moved(&mut self, from: &At, there: &At) {
        self.ifindex.remove(from);
        if let Some(i) = self.bridges.remove(from) {
            self.bridges.insert(there.clone(), i);
        }
        if let Some(peer) = self.peers.remove(from) {
            self.peers.insert(peer.clone(), there.clone());
            self.peers.insert(there.clone(), peer);
        }
        if let Some(parent) = self.parents.remove(from) {
            self.parents.insert(there.clone(), parent);
        }
        // (Its underlay link stays behind: a moved VXLAN's dev is not the
        // one recorded; the explanation does not use it.)
        if let Some(v) = self.vxlans.remove(from) {
            self.vxlans.insert(there.clone(), v);
        }
        for parent in self.parents.values_mut() {
            if parent == from {
                *parent = there.clone();
            }
        }
    }

    /// Link `this` was deleted: a veth goes whole, its macvlans with it.
    /// Returns the links gone (it, and its peer).
    pub fn deleted(&mut self, this: At) -> Vec<At> {
        let mut gone = vec![this.clone()];
        if let Some(peer) = self.peers.remove(&this) {
            self.peers.remove(&peer);
            gone.push(peer);
        }
        // Its macvlans go with it (the kernel deletes them), and it is
        // no one's macvlan any more.
        self.parents
            .retain(|child, parent| *child != this && *parent != this);
        self.vxlans.remove(&this);
        for l in &gone {
            self.made.remove(l);
            self.ifindex.remove(l);
            self.bridges.remove(l);
        }
        gone
    }

    /// Namespace `id` was deleted, and every link in it with it: returns
    /// the other ends of its veths elsewhere, which the kernel deletes a
    /// moment later.
    pub fn forget_ns(&mut self, id: NsId) -> Vec<At> {
        let peers: Vec<At> = self
            .peers
            .iter()
            .filter(|((n, _), (pn, _))| *n == id && *pn != id)
            .map(|(_, peer)| peer.clone())
            .collect();
        self.peers.retain(|(n, _), (pn, _)| *n != id && *pn != id);
        for p in &peers {
            self.ifindex.remove(p);
            self.made.remove(p);
        }
        let here = |(n, _): &At| *n == id;
        self.made.retain(|l| !here(l));
        self.ifindex.retain(|l, _| !here(l));
        self.bridges.retain(|l, _| !here(l));
        self.parents.retain(|c, p| !here(c) && !here(p));
        self.vxlans.retain(|l, _| !here(l));
        self.addressed.retain(|l| !here(l));
        self.no_ipv6.retain(|l| !here(l));
        peers
    }
}
