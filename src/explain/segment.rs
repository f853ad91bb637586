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
    /// Not a bridge: a macvlan and its lower link, or two macvlans on one
    /// lower link, whose frames the kernel does not pass between them
    /// (`Blocked::bridge` is the lower link, `port` the macvlan).
    Macvlan(Walled),
}

/// Who cannot talk on a macvlan's lower link, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walled {
    /// The macvlan that sends, with its namespace and mode; `None`: the
    /// lower link itself sends.
    pub from: Option<(Ns, String, &'static str)>,
    /// The macvlan the frame is for; `None`: the lower link itself.
    pub to: Option<(Ns, String, &'static str)>,
    /// The bridge port at the other end of the lower link's cable, which
    /// could send the frames back (hairpin), if it is one.
    pub mirror: Option<Mirror>,
    /// The lower link's kind ("veth", "bridge", …).
    pub lower_kind: String,
}

/// A bridge port at the other end of a macvlan's lower link (a veth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub ns: Ns,
    pub bridge: String,
    pub port: String,
    pub hairpin: bool,
    /// Its STP state when not forwarding ("blocking", ...).
    pub state: Option<&'static str>,
    pub isolated: bool,
}

impl Mirror {
    /// Does it send a frame back out the port it came in by?
    pub fn reflects(&self) -> bool {
        self.hairpin && self.state.is_none() && !self.isolated
    }
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

/// The bridge port at the other end of `lower`'s cable, if it is a veth
/// whose peer is one.
fn mirror(w: &mut World, ns: Ns, lower: &LinkInfoRow) -> Option<Mirror> {
    if lower.kind != "veth" {
        return None;
    }
    let (pns, peer) = peer_of(w, ns, lower)?;
    let br = w.link(pns, peer.master?)?;
    if br.kind != "bridge" {
        return None;
    }
    let st = w.port_state(pns, peer.index)?;
    Some(Mirror {
        ns: pns,
        bridge: br.name,
        port: peer.name,
        hairpin: st.hairpin,
        state: (st.state != 3).then(|| st.state_name()),
        isolated: st.isolated,
    })
}

/// A macvlan: its namespace, name and mode.
type Mac = (Ns, String, &'static str);

fn as_macvlan(ns: Ns, l: &LinkInfoRow) -> Option<Mac> {
    (l.kind == "macvlan").then(|| (ns, l.name.clone(), l.macvlan_mode.unwrap_or("bridge")))
}

/// Can a frame get from `from` to `to`, two macvlans on `lower` or one and
/// `lower` itself, as the kernel's macvlan driver passes frames? The lower
/// link's own frames go out its cable, never up into its macvlans; a
/// macvlan's go to a sibling directly only when both are in bridge mode,
/// else out the cable too (vepa, private, and a bridge-mode one to a vepa
/// sibling or to the lower link's address). What goes out comes back only
/// from a bridge port in hairpin mode at the cable's other end, and then
/// reaches everyone but private macvlans' siblings: a broadcast (ARP) that
/// a private macvlan sent comes back to it alone, and a passthru one takes
/// every frame that comes in, so its lower link hears nothing. `asks`: the sender must
/// resolve the next hop itself (the request's way; the reply's was learned
/// from the request), which a private macvlan cannot do through the cable.
/// `None`: it gets there (or these are not macvlans: ipvlans pass).
fn macvlan_crossing(
    w: &mut World,
    from: (Ns, &LinkInfoRow),
    lower: (Ns, &LinkInfoRow),
    to: (Ns, &LinkInfoRow),
    asks: bool,
) -> Option<Blocked> {
    let is_lower = |x: (Ns, &LinkInfoRow)| (x.0, x.1.index) == (lower.0, lower.1.index);
    let f = if is_lower(from) {
        None
    } else {
        Some(as_macvlan(from.0, from.1)?)
    };
    let t = if is_lower(to) {
        None
    } else {
        Some(as_macvlan(to.0, to.1)?)
    };
    let private = |m: &Option<Mac>| {
        m.as_ref()
            .is_some_and(|m| matches!(m.2, "private" | "source"))
    };
    let bridged = |m: &Option<Mac>| m.as_ref().is_some_and(|m| m.2 == "bridge");
    let passthru = |m: &Option<Mac>| m.as_ref().is_some_and(|m| m.2 == "passthru");
    if bridged(&f) && bridged(&t) {
        return None;
    }
    let mirror = mirror(w, lower.0, lower.1);
    let back = match &mirror {
        Some(m) => Some(m.reflects()),
        // A bridge's ports and a dummy send nothing back up, nor does a
        // veth's other end that is no bridge port.
        None => match lower.1.kind.as_str() {
            "bridge" | "dummy" => Some(false),
            "veth" if peer_of(w, lower.0, lower.1).is_some() => Some(false),
            // A physical link's switch may send frames back (reflective
            // relay, what vepa is for): siblings are not ruled out there.
            _ => None,
        },
    };
    if back.is_none() && f.is_some() && t.is_some() && !private(&f) && !private(&t) {
        return None;
    }
    let passes = back == Some(true)
        && match (&f, &t) {
            (Some(_), Some(_)) => !private(&f) && !private(&t),
            // A passthru macvlan takes every frame that comes in on the
            // lower link, those sent back to the lower link's address too.
            (Some(_), None) => !(passthru(&f) || asks && private(&f)),
            (None, Some(_)) => !passthru(&t),
            _ => true,
        };
    if passes {
        return None;
    }
    let port = t
        .as_ref()
        .or(f.as_ref())
        .map(|m| m.1.clone())
        .unwrap_or_default();
    Some(Blocked {
        ns: lower.0,
        bridge: lower.1.name.clone(),
        port,
        why: Block::Macvlan(Walled {
            from: f,
            to: t,
            mirror,
            lower_kind: lower.1.kind.clone(),
        }),
    })
}

/// Is `child` of `cns` a macvlan (ipvlan) the lab made on `parent` of `pns`?
fn child_of(w: &mut World, cns: Ns, child: &LinkInfoRow, pns: Ns, parent: &LinkInfoRow) -> bool {
    matches!(child.kind.as_str(), "macvlan" | "ipvlan")
        && w.sub_parent(cns, &child.name) == Some((pns, parent.name.clone()))
}

/// The crossing at `path[i]` between a macvlan and its lower link or two
/// macvlans on one, when the kernel does not make it.
fn macvlan_block(
    w: &mut World,
    path: &[(Ns, LinkInfoRow)],
    i: usize,
    asks: bool,
) -> Option<Blocked> {
    let (ns, l) = &path[i];
    let (nns, next) = path.get(i + 1)?;
    // The lower link sends, to one of its own macvlans.
    if i == 0 && child_of(w, *nns, next, *ns, l) {
        return macvlan_crossing(w, (*ns, l), (*ns, l), (*nns, next), asks);
    }
    if !child_of(w, *ns, l, *nns, next) {
        return None;
    }
    match path.get(i + 2) {
        // To a sibling.
        Some((sns, sib)) if child_of(w, *sns, sib, *nns, next) => {
            macvlan_crossing(w, (*ns, l), (*nns, next), (*sns, sib), asks)
        }
        // To the lower link itself.
        None => macvlan_crossing(w, (*ns, l), (*nns, next), (*nns, next), asks),
        // Out through its cable.
        Some(_) => None,
    }
}

/// The first crossing on `path` (from an endpoint of `follow_all`) that a
/// frame cannot make now: a bridge that does not pass it on, or a
/// macvlan's lower link that does not (`asks` as for `follow_open`).
pub fn first_block(w: &mut World, path: &[(Ns, LinkInfoRow)], asks: bool) -> Option<Blocked> {
    for (i, (ns, l)) in path.iter().enumerate() {
        if let Some(b) = macvlan_block(w, path, i, asks) {
            return Some(b);
        }
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
/// ports whatever their state, macvlans whatever their mode (but not a
/// macvlan's lower link, nor a lower link's macvlans: they never talk).
pub fn follow(w: &mut World, ns: Ns, start: &LinkInfoRow) -> Segment {
    walk(w, ns, start, How::Cables)
}

/// As `follow`, and a macvlan's lower link and a lower link's macvlans
/// too: every interface a frame could reach if nothing kept it.
pub fn follow_all(w: &mut World, ns: Ns, start: &LinkInfoRow) -> Segment {
    walk(w, ns, start, How::All)
}

/// What a frame from `start` reaches now: not through a bridge port that
/// does not forward (STP) nor between two isolated ports, nor between
/// macvlans (and their lower link) that the kernel keeps apart; those
/// crossings are in `blocked`. In a ring of bridges, the way round a
/// blocked port. `asks`: the sender resolves the next hop itself (see
/// `macvlan_crossing`).
pub fn follow_open(w: &mut World, ns: Ns, start: &LinkInfoRow, asks: bool) -> Segment {
    walk(w, ns, start, How::Open { asks })
}

#[derive(Clone, Copy)]
enum How {
    Cables,
    All,
    Open { asks: bool },
}

fn walk(w: &mut World, ns: Ns, start: &LinkInfoRow, how: How) -> Segment {
    let open = matches!(how, How::Open { .. });
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
                if path.len() == 1 && !matches!(how, How::Cables) {
                    // A lower link's own macvlans: not through the cable
                    // unless it sends the frames back.
                    for (cns, child) in children(w, id, &link) {
                        if child.kind != "macvlan" || seen.contains(&(cns, child.index)) {
                            continue;
                        }
                        let cp = vec![(id, link.clone()), (cns, child.clone())];
                        if let How::Open { asks } = how
                            && let Some(b) = macvlan_block(w, &cp, 0, asks)
                        {
                            seg.blocked.push(b);
                            continue;
                        }
                        seen.insert((cns, child.index));
                        seg.endpoints.push(Endpoint {
                            ns: cns,
                            link: child,
                            path: cp,
                        });
                    }
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
                    // parent are right there (as their modes let them), the
                    // rest of the segment is out through the parent. The
                    // parent itself only as `macvlan_crossing` says.
                    "macvlan" | "ipvlan"
                        if let Some((pns, pname)) = w.sub_parent(id, &link.name)
                            && let Some(parent) = w.link_named(pns, &pname) =>
                    {
                        let mut p = path.clone();
                        p.push((pns, parent.clone()));
                        let k = p.len() - 2;
                        for (sns, sib) in children(w, pns, &parent) {
                            if (sns, sib.index) == (id, link.index)
                                || seen.contains(&(sns, sib.index))
                            {
                                continue;
                            }
                            let mut sp = p.clone();
                            sp.push((sns, sib.clone()));
                            if let How::Open { asks } = how
                                && let Some(b) = macvlan_block(w, &sp, k, asks)
                            {
                                seg.blocked.push(b);
                                continue;
                            }
                            seen.insert((sns, sib.index));
                            seg.endpoints.push(Endpoint {
                                ns: sns,
                                link: sib,
                                path: sp,
                            });
                        }
                        if link.kind == "macvlan" && seen.insert((pns, parent.index)) {
                            let lower = Endpoint {
                                ns: pns,
                                link: parent.clone(),
                                path: p.clone(),
                            };
                            match how {
                                How::Cables => {}
                                How::All => seg.endpoints.push(lower),
                                How::Open { asks } => match macvlan_block(w, &p, k, asks) {
                                    Some(b) => seg.blocked.push(b),
                                    None => seg.endpoints.push(lower),
                                },
                            }
                        }
                        // Its cable is reachable whatever its own address.
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
