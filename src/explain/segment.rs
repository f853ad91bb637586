//! Layer 2: who is on the other end of a link. A veth leads to its peer
//! (in whatever namespace it is); a bridge port leads to the bridge and to
//! every other port of it. The interfaces reached that way without a
//! master are the segment's endpoints: the ones that can own the next
//! hop's address. A macvlan or ipvlan the lab made leads to its siblings
//! and, through its parent's cable, to the rest of the segment (and frames
//! arriving on a parent reach its macvlans); a VXLAN the lab made leads to
//! the VXLAN of the same VNI at its far end. Links nslab cannot follow (a
//! macvlan or VXLAN made with `exec`, a physical link) are listed instead
//! of guessed.

use std::collections::{HashSet, VecDeque};

use super::kernel::Ns;
use super::world::World;
use crate::net::rtnl::LinkInfoRow;

/// An interface on the segment, with the links a frame crosses to get
/// there from the start (the start included, the endpoint last).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ns: Ns,
    pub link: LinkInfoRow,
    pub path: Vec<(Ns, LinkInfoRow)>,
}

#[derive(Debug, Default)]
pub struct Segment {
    pub endpoints: Vec<Endpoint>,
    /// Links the walk could not go past, in words ("r1 vx0 (a vxlan link)").
    pub unfollowed: Vec<String>,
    /// Bridge crossings a frame cannot make now (only looked for by
    /// `follow_open`): a port not forwarding, or two isolated ports.
    pub blocked: Vec<Blocked>,
}

/// A bridge that does not pass a frame on between two of its links.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub ns: Ns,
    pub bridge: String,
    /// The port at fault (the way out, or the way in when that one is).
    pub port: String,
    pub why: Block,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The port's STP state is not forwarding: "listening", "blocking", ….
    State(&'static str),
    /// The frame came in on `from`, isolated, and would leave by `port`,
    /// isolated too: isolated ports do not talk to each other.
    Isolated { from: String },
}

/// Can a frame cross bridge `br` of `ns` from `inp` (`None`: the bridge
/// itself sends it) to `out` (`None`: for the bridge itself)?
fn crossing(
    w: &mut World,
    ns: Ns,
    br: &LinkInfoRow,
    inp: Option<&LinkInfoRow>,
    out: Option<&LinkInfoRow>,
) -> Option<Blocked> {
    let block = |port: &LinkInfoRow, why: Block| Blocked {
        ns,
        bridge: br.name.clone(),
        port: port.name.clone(),
        why,
    };
    let si = inp.and_then(|l| w.port_state(ns, l.index));
    let so = out.and_then(|l| w.port_state(ns, l.index));
    // Frames arriving on a port that does not forward are dropped (a
    // learning port only learns their source), and none leave by one.
    if let (Some(l), Some(s)) = (inp, &si)
        && s.state != 3
    {
        return Some(block(l, Block::State(s.state_name())));
    }
    if let (Some(l), Some(s)) = (out, &so)
        && s.state != 3
    {
        return Some(block(l, Block::State(s.state_name())));
    }
    if let (Some(i), Some(o), Some(a), Some(b)) = (inp, out, &si, &so)
        && a.isolated
        && b.isolated
    {
        return Some(block(
            o,
            Block::Isolated {
                from: i.name.clone(),
            },
        ));
    }
    None
}

/// The first bridge crossing on `path` (from an endpoint of `follow`) that
/// a frame cannot make now.
pub fn first_block(w: &mut World, path: &[(Ns, LinkInfoRow)]) -> Option<Blocked> {
    for (i, (ns, l)) in path.iter().enumerate() {
        if l.kind != "bridge" {
            continue;
        }
        let port_of = |k: usize| {
            path.get(k)
                .filter(|(pns, p)| pns == ns && p.master == Some(l.index))
                .map(|(_, p)| p.clone())
        };
        let inp = i.checked_sub(1).and_then(port_of);
        let out = port_of(i + 1);
        // A port whose link is down is disabled: the walk says the link is
        // down, which is the cause.
        if let Some(b) = crossing(w, *ns, l, inp.as_ref(), out.as_ref())
            && !path
                .iter()
                .any(|(pns, p)| *pns == b.ns && p.name == b.port && !(p.up && p.carrier))
        {
            return Some(b);
        }
    }
    None
}

/// A link to look at, the links crossed to get there, and which way.
type Todo = (Ns, LinkInfoRow, Vec<(Ns, LinkInfoRow)>, Step);

enum Step {
    /// Leave through this link's cable (a veth's peer) or, for a bridge,
    /// through its ports.
    Out,
    /// Arrived here through the cable.
    Arrive,
}

/// The other end of a veth: the lab knows the pairs it made; for one made
/// some other way (`exec("ip link add …")`), the veth in a lab namespace
/// whose index is this one's peer and whose peer is this one.
pub fn peer_of(w: &mut World, ns: Ns, link: &LinkInfoRow) -> Option<(Ns, LinkInfoRow)> {
    if let Some((pns, pname)) = w.veth_peer(ns, &link.name)
        && let Some(row) = w.link_named(pns, &pname)
    {
        return Some((pns, row));
    }
    let want = link.peer?;
    let mut found = Vec::new();
    for id in w.namespaces() {
        for l in w.links(id) {
            if l.kind == "veth" && l.index == want && l.peer == Some(link.index) {
                found.push((id, l.clone()));
            }
        }
    }
    // Two candidates: indexes repeat across namespaces, and nothing here
    // says which one is the peer.
    if found.len() == 1 { found.pop() } else { None }
}

/// The macvlans and ipvlans the lab made on `link` of `ns` (as they are
/// now: one deleted or moved since is left out).
fn children(w: &mut World, ns: Ns, link: &LinkInfoRow) -> Vec<(Ns, LinkInfoRow)> {
    let mut out = Vec::new();
    for (cns, cname) in w.sub_children(ns, &link.name) {
        if let Some(row) = w.link_named(cns, &cname)
            && matches!(row.kind.as_str(), "macvlan" | "ipvlan")
        {
            out.push((cns, row));
        }
    }
    out
}

/// The far ends of VXLAN `link` of `ns` (`None`: the lab did not make it,
/// so its VNI and remote are not known).
fn vxlan_far_ends(w: &mut World, ns: Ns, link: &LinkInfoRow) -> Option<Vec<(Ns, LinkInfoRow)>> {
    let all = w.vxlans();
    let me = all
        .iter()
        .find(|(id, name, _)| *id == ns && *name == link.name)?
        .2
        .clone();
    let remote = me.remote?;
    let mut out = Vec::new();
    for (fid, fname, fx) in &all {
        if (*fid, fname.as_str()) == (ns, link.name.as_str())
            || fx.vni != me.vni
            || fx.port != me.port
        {
            continue;
        }
        let there = if remote.is_multicast() {
            fx.remote == Some(remote)
        } else {
            w.owners(remote).iter().any(|(o, _, _)| o == fid)
        };
        if there && let Some(row) = w.link_named(*fid, fname) {
            out.push((*fid, row));
        }
    }
    Some(out)
}

fn kind_words(l: &LinkInfoRow) -> String {
    if l.kind.is_empty() {
        "a link nslab did not make".into()
    } else {
        format!("a {} link", l.kind)
    }
}

/// Everything reachable at layer 2 from `start` (a link of `ns`), bridge
/// ports whatever their state.
pub fn follow(w: &mut World, ns: Ns, start: &LinkInfoRow) -> Segment {
    walk(w, ns, start, false)
}

/// What a frame from `start` reaches now: not through a bridge port that
/// does not forward (STP) nor between two isolated ports; those crossings
/// are in `blocked`. In a ring of bridges, the way round a blocked port.
pub fn follow_open(w: &mut World, ns: Ns, start: &LinkInfoRow) -> Segment {
    walk(w, ns, start, true)
}

fn walk(w: &mut World, ns: Ns, start: &LinkInfoRow, open: bool) -> Segment {
    let mut seg = Segment::default();
    let mut seen: HashSet<(Ns, u32)> = HashSet::new();
    let mut queue: VecDeque<Todo> = VecDeque::new();
    queue.push_back((ns, start.clone(), vec![(ns, start.clone())], Step::Out));
    while let Some((id, link, path, step)) = queue.pop_front() {
        let key = (id, link.index);
        let first = seen.insert(key);
        match step {
            Step::Out => {
                if !first && path.len() > 1 {
                    continue;
                }
                match link.kind.as_str() {
                    "veth" => match peer_of(w, id, &link) {
                        Some((pns, peer)) => {
                            let mut p = path.clone();
                            p.push((pns, peer.clone()));
                            queue.push_back((pns, peer, p, Step::Arrive));
                        }
                        None => seg.unfollowed.push(format!(
                            "{} {} (a veth whose other end is in no namespace of the lab)",
                            w.name(id),
                            link.name
                        )),
                    },
                    "bridge" => {
                        let ports: Vec<LinkInfoRow> = w
                            .links(id)
                            .iter()
                            .filter(|p| p.master == Some(link.index))
                            .cloned()
                            .collect();
                        for p in ports {
                            if open && let Some(b) = crossing(w, id, &link, None, Some(&p)) {
                                seg.blocked.push(b);
                                continue;
                            }
                            let mut pp = path.clone();
                            pp.push((id, p.clone()));
                            queue.push_back((id, p, pp, Step::Out));
                        }
                    }
                    // A macvlan (ipvlan) the lab made: its siblings on the
                    // parent are right there (bridge mode, nslab's default;
                    // the other modes are taken as it too), the rest of the
                    // segment is out through the parent. Not the parent
                    // itself: a macvlan does not talk to it.
                    "macvlan" | "ipvlan"
                        if let Some((pns, pname)) = w.sub_parent(id, &link.name)
                            && let Some(parent) = w.link_named(pns, &pname) =>
                    {
                        let mut p = path.clone();
                        p.push((pns, parent.clone()));
                        for (sns, sib) in children(w, pns, &parent) {
                            if (sns, sib.index) == (id, link.index)
                                || !seen.insert((sns, sib.index))
                            {
                                continue;
                            }
                            let mut sp = p.clone();
                            sp.push((sns, sib.clone()));
                            seg.endpoints.push(Endpoint {
                                ns: sns,
                                link: sib,
                                path: sp,
                            });
                        }
                        // The parent's own address is not reachable, but its
                        // cable is.
                        seen.insert((pns, parent.index));
                        match parent.kind.as_str() {
                            "veth" => {
                                if let Some((ons, other)) = peer_of(w, pns, &parent) {
                                    let mut op = p.clone();
                                    op.push((ons, other.clone()));
                                    queue.push_back((ons, other, op, Step::Arrive));
                                }
                            }
                            "bridge" => {
                                let ports: Vec<LinkInfoRow> = w
                                    .links(pns)
                                    .iter()
                                    .filter(|x| x.master == Some(parent.index))
                                    .cloned()
                                    .collect();
                                for port in ports {
                                    let mut pp = p.clone();
                                    pp.push((pns, port.clone()));
                                    queue.push_back((pns, port, pp, Step::Out));
                                }
                            }
                            _ => seg.unfollowed.push(format!(
                                "{} {} (the parent of {} {}, {})",
                                w.name(pns),
                                parent.name,
                                w.name(id),
                                link.name,
                                kind_words(&parent)
                            )),
                        }
                    }
                    // A VXLAN the lab made: the frame goes, in UDP over the
                    // underlay, to the VXLANs of the same VNI and port at
                    // its far end (the namespace holding `remote`), or to
                    // every one on its multicast group. The underlay's own
                    // path is not walked here.
                    "vxlan" if let Some(far) = vxlan_far_ends(w, id, &link) => {
                        if far.is_empty() {
                            seg.unfollowed.push(format!(
                                "{} {} (a vxlan whose far end, a vxlan of the same vni in the namespace holding its remote address, is not in the lab)",
                                w.name(id),
                                link.name
                            ));
                        }
                        for (fns, fvx) in far {
                            let mut p = path.clone();
                            p.push((fns, fvx.clone()));
                            queue.push_back((fns, fvx, p, Step::Arrive));
                        }
                    }
                    _ => seg.unfollowed.push(format!(
                        "{} {} ({})",
                        w.name(id),
                        link.name,
                        kind_words(&link)
                    )),
                }
            }
            Step::Arrive => {
                if !first {
                    continue;
                }
                match link.master {
                    Some(m) => {
                        let Some(br) = w.link(id, m) else {
                            continue;
                        };
                        if br.kind != "bridge" {
                            seg.unfollowed.push(format!(
                                "{} {} (a port of {}, {})",
                                w.name(id),
                                link.name,
                                br.name,
                                kind_words(&br)
                            ));
                            continue;
                        }
                        let mut p = path.clone();
                        p.push((id, br.clone()));
                        if open && let Some(b) = crossing(w, id, &br, Some(&link), None) {
                            // Nothing passes a port that does not forward.
                            seg.blocked.push(b);
                            continue;
                        }
                        if seen.insert((id, br.index)) {
                            seg.endpoints.push(Endpoint {
                                ns: id,
                                link: br.clone(),
                                path: p.clone(),
                            });
                            // And the macvlans on the bridge.
                            for (cns, child) in children(w, id, &br) {
                                if seen.insert((cns, child.index)) {
                                    let mut cp = p.clone();
                                    cp.push((cns, child.clone()));
                                    seg.endpoints.push(Endpoint {
                                        ns: cns,
                                        link: child,
                                        path: cp,
                                    });
                                }
                            }
                        }
                        let ports: Vec<LinkInfoRow> = w
                            .links(id)
                            .iter()
                            .filter(|x| x.master == Some(m) && x.index != link.index)
                            .cloned()
                            .collect();
                        for port in ports {
                            if open && let Some(b) = crossing(w, id, &br, Some(&link), Some(&port))
                            {
                                seg.blocked.push(b);
                                continue;
                            }
                            let mut pp = p.clone();
                            pp.push((id, port.clone()));
                            queue.push_back((id, port, pp, Step::Out));
                        }
                    }
                    None => {
                        // Frames for the macvlans on it go to them.
                        for (cns, child) in children(w, id, &link) {
                            if seen.insert((cns, child.index)) {
                                let mut cp = path.clone();
                                cp.push((cns, child.clone()));
                                seg.endpoints.push(Endpoint {
                                    ns: cns,
                                    link: child,
                                    path: cp,
                                });
                            }
                        }
                        seg.endpoints.push(Endpoint { ns: id, link, path });
                    }
                }
            }
        }
    }
    seg
}
