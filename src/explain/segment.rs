//! Layer 2: who is on the other end of a link. A veth leads to its peer
//! (in whatever namespace it is); a bridge port leads to the bridge and to
//! every other port of it. The interfaces reached that way without a
//! master are the segment's endpoints: the ones that can own the next
//! hop's address. Kinds nslab cannot follow yet (macvlan, vxlan, a
//! physical link) are listed instead of guessed.

use std::collections::{HashSet, VecDeque};

use super::world::World;
use crate::lab::NsId;
use crate::net::rtnl::LinkInfoRow;

/// An interface on the segment, with the links a frame crosses to get
/// there from the start (the start included, the endpoint last).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ns: NsId,
    pub link: LinkInfoRow,
    pub path: Vec<(NsId, LinkInfoRow)>,
}

#[derive(Debug, Default)]
pub struct Segment {
    pub endpoints: Vec<Endpoint>,
    /// Links the walk could not go past, in words ("r1 vx0 (a vxlan link)").
    pub unfollowed: Vec<String>,
}

/// A link to look at, the links crossed to get there, and which way.
type Todo = (NsId, LinkInfoRow, Vec<(NsId, LinkInfoRow)>, Step);

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
pub fn peer_of(w: &mut World, ns: NsId, link: &LinkInfoRow) -> Option<(NsId, LinkInfoRow)> {
    if let Some((pns, pname)) = w.lab.view_veth_peer(ns, &link.name)
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

fn kind_words(l: &LinkInfoRow) -> String {
    if l.kind.is_empty() {
        "a link nslab did not make".into()
    } else {
        format!("a {} link", l.kind)
    }
}

/// Everything reachable at layer 2 from `start` (a link of `ns`).
pub fn follow(w: &mut World, ns: NsId, start: &LinkInfoRow) -> Segment {
    let mut seg = Segment::default();
    let mut seen: HashSet<(NsId, u32)> = HashSet::new();
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
                            let mut pp = path.clone();
                            pp.push((id, p.clone()));
                            queue.push_back((id, p, pp, Step::Out));
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
                        if seen.insert((id, br.index)) {
                            seg.endpoints.push(Endpoint {
                                ns: id,
                                link: br.clone(),
                                path: p.clone(),
                            });
                        }
                        let ports: Vec<LinkInfoRow> = w
                            .links(id)
                            .iter()
                            .filter(|x| x.master == Some(m) && x.index != link.index)
                            .cloned()
                            .collect();
                        for port in ports {
                            let mut pp = p.clone();
                            pp.push((id, port.clone()));
                            queue.push_back((id, port, pp, Step::Out));
                        }
                    }
                    None => seg.endpoints.push(Endpoint { ns: id, link, path }),
                }
            }
        }
    }
    seg
}
