//! Every finding, in a lab built in memory (`fake.rs`): no root, no
//! kernel, milliseconds. Each test is a topology with one fault, and
//! checks the reason's and the help's words, which scripts and users read.

use crate::explain::fake::{Fake, TABLE};
use crate::explain::{Finding, Ns, Packet, Trace, trace, unreached, unsure};
use crate::net::probe::Proto;

/// h1 (10.1.0.2) eth0 - e1 (10.1.0.1) r1 (10.2.0.1) e2 - eth0 h2
/// (10.2.0.2), working: default routes on the hosts, r1 forwards.
fn routed() -> (Fake, Ns, Ns, Ns) {
    let mut f = Fake::new();
    let (h1, r1, h2) = (f.ns("h1"), f.ns("r1"), f.ns("h2"));
    f.veth(h1, "eth0", r1, "e1")
        .veth(r1, "e2", h2, "eth0")
        .addr(h1, "eth0", "10.1.0.2/24")
        .addr(r1, "e1", "10.1.0.1/24")
        .addr(r1, "e2", "10.2.0.1/24")
        .addr(h2, "eth0", "10.2.0.2/24")
        .route(h1, "default", "10.1.0.1")
        .route(h2, "default", "10.2.0.1")
        .forwarding(r1, true);
    (f, h1, r1, h2)
}

/// The same in IPv6: fd01::2 - fd01::1 r1 fd02::1 - fd02::2.
fn routed6() -> (Fake, Ns, Ns, Ns) {
    let mut f = Fake::new();
    let (h1, r1, h2) = (f.ns("h1"), f.ns("r1"), f.ns("h2"));
    f.veth(h1, "eth0", r1, "e1")
        .veth(r1, "e2", h2, "eth0")
        .addr(h1, "eth0", "fd01::2/64")
        .addr(r1, "e1", "fd01::1/64")
        .addr(r1, "e2", "fd02::1/64")
        .addr(h2, "eth0", "fd02::2/64")
        .route(h1, "default6", "fd01::1")
        .route(h2, "default6", "fd02::1")
        .forwarding(r1, true);
    (f, h1, r1, h2)
}

/// h1 (10.0.0.1) eth0 - p1 [br0 of s] p2 - eth0 h2 (10.0.0.2).
fn bridged() -> (Fake, Ns, Ns, Ns) {
    let mut f = Fake::new();
    let (h1, s, h2) = (f.ns("h1"), f.ns("s"), f.ns("h2"));
    f.bridge(s, "br0")
        .veth(h1, "eth0", s, "p1")
        .veth(s, "p2", h2, "eth0")
        .attach(s, "br0", "p1")
        .attach(s, "br0", "p2")
        .addr(h1, "eth0", "10.0.0.1/24")
        .addr(h2, "eth0", "10.0.0.2/24");
    (f, h1, s, h2)
}

fn ping(dst: &str) -> Packet {
    Packet::ping(dst.parse().expect("an address"))
}

/// A ping of `size` bytes of data with DF set.
fn whole(dst: &str, size: usize) -> Packet {
    let mut p = ping(dst);
    p.size = Some(size);
    p
}

fn tcp(dst: &str, port: u16) -> Packet {
    let mut p = ping(dst);
    p.proto = Some(Proto::Tcp);
    p.port = Some(port);
    p
}

/// Why `pkt` from `from` is lost: the finding the walk is sure of.
fn lost(f: &mut Fake, from: Ns, pkt: &Packet) -> Finding {
    let t = trace(f, from, pkt);
    match t.lost {
        Some(l) => l,
        None => panic!("nothing lost: {} {:?}", t.draw(), t.suspects),
    }
}

/// The one suspect of a path that is whole.
fn suspect(f: &mut Fake, from: Ns, pkt: &Packet) -> Finding {
    let t = trace(f, from, pkt);
    assert!(t.lost.is_none(), "{:?}", t.lost);
    assert_eq!(t.suspects.len(), 1, "{:?}", t.suspects);
    t.suspects[0].clone()
}

fn is(f: &Finding, reason: &str, help: &str) {
    assert_eq!(f.reason, reason);
    assert_eq!(f.help, help);
}

/// A ruleset of one table: `chains` as (name, hook, policy), `rules` as
/// (chain, handle, expressions in nft's JSON).
fn nft(
    family: &str,
    table: &str,
    chains: &[(&str, &str, &str)],
    rules: &[(&str, u64, &str)],
) -> String {
    let mut items: Vec<String> = chains
        .iter()
        .map(|(name, hook, policy)| {
            format!(
                r#"{{"chain":{{"family":"{family}","table":"{table}","name":"{name}","handle":1,"type":"filter","hook":"{hook}","prio":0,"policy":"{policy}"}}}}"#
            )
        })
        .collect();
    items.extend(rules.iter().map(|(chain, handle, expr)| {
        format!(
            r#"{{"rule":{{"family":"{family}","table":"{table}","chain":"{chain}","handle":{handle},"expr":[{expr}]}}}}"#
        )
    }));
    format!(r#"{{"nftables":[{}]}}"#, items.join(","))
}

const DROP: &str = r#"{"drop":null}"#;

fn dport(p: u16) -> String {
    format!(
        r#"{{"match":{{"op":"==","left":{{"payload":{{"protocol":"tcp","field":"dport"}}}},"right":{p}}}}}"#
    )
}

#[test]
fn a_working_path_is_drawn_both_ways_with_no_reason() {
    let (mut f, h1, _, _) = routed();
    let t = trace(&mut f, h1, &ping("10.2.0.2"));
    assert!(t.lost.is_none() && t.suspects.is_empty() && t.unknown.is_none());
    assert_eq!(
        t.draw(),
        "h1 eth0 -> r1 e1/e2 -> h2 eth0 ✓; back: h2 eth0 -> r1 e2/e1 -> h1 eth0 ✓"
    );
    assert_eq!(t.checked, ["h1", "r1", "h2"]);
    assert_eq!(t.hops[1].why, "route to 10.2.0.2 dev e2 (table main)");
}

/// A router running a routing daemon that has not learned the route: the
/// finding names the daemon, what its table holds, and how to ask it,
/// before a static route.
#[test]
fn no_route_where_a_routing_daemon_runs_points_at_the_daemon() {
    let (mut f, h1, r1, _) = routed();
    f.runs(r1, "zebra")
        .runs(r1, "ospfd")
        .learned(r1, "10.255.0.9/32", "10.2.0.2", "ospf");
    is(
        &lost(&mut f, h1, &ping("10.3.0.2")),
        "r1 has no route to 10.3.0.2; FRR's ospfd runs there but has not learned a route to 10.3.0.2 (its table holds routes 1 from ospf, none to it)",
        "ask the daemon what it knows, e.g. frr::show(r1, \"ip ospf neighbor\") (a neighbour that is not up, or a network not announced); or add a route: r1.route(\"10.3.0.2/32\", GATEWAY) with GATEWAY a router on one of its links",
    );
    // BIRD, with nothing learned yet.
    let (mut f, h1, r1, _) = routed();
    f.runs(r1, "bird");
    let l = lost(&mut f, h1, &ping("10.3.0.2"));
    assert!(
        l.reason.ends_with(
            "BIRD runs there but has not learned a route to 10.3.0.2 (its table holds no route a routing protocol made)"
        ),
        "{}",
        l.reason
    );
    assert!(
        l.help.contains("bird::show(r1, \"protocols\")"),
        "{}",
        l.help
    );
    // zebra alone learns nothing: the finding stays as it was.
    let (mut f, h1, r1, _) = routed();
    f.runs(r1, "zebra");
    is(
        &lost(&mut f, h1, &ping("10.3.0.2")),
        "r1 has no route to 10.3.0.2",
        "r1.route(\"10.3.0.2/32\", GATEWAY) with GATEWAY a router on one of its links",
    );
}

#[test]
fn no_route_on_a_host_suggests_a_default_route_via_the_router_next_to_it() {
    let (mut f, h1, _, _) = routed();
    f.unroute(h1, "default");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "h1 has no route to 10.2.0.2",
        "h1.route(\"default\", \"10.1.0.1\")",
    );
    f.route(h1, "default", "10.1.0.1");
    // A router lacking one gets a route for the subnet, with a gateway
    // to find when nobody next to it can take it.
    is(
        &lost(&mut f, h1, &ping("10.3.0.2")),
        "r1 has no route to 10.3.0.2",
        "r1.route(\"10.3.0.2/32\", GATEWAY) with GATEWAY a router on one of its links",
    );
    let t = trace(&mut f, h1, &ping("10.3.0.2"));
    assert_eq!(t.draw(), "h1 eth0 -> r1 e1 ✗");
}

#[test]
fn a_link_down_with_its_routes_gone_is_named_with_the_routes_to_add_back() {
    let (mut f, h1, _, _) = routed();
    f.down(h1, "eth0");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "h1 has no route to 10.2.0.2 (its link eth0 is down: the kernel removes the routes through a link while it is down)",
        "h1.link(\"eth0\").up(), then a route through it, e.g. h1.route(\"default\", \"10.1.0.1\")",
    );
}

#[test]
fn a_peer_down_is_named_as_no_carrier() {
    let (mut f, h1, r1, _) = routed();
    f.down(r1, "e1");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "h1 eth0 has no carrier: its peer e1 in r1 is down",
        "r1.link(\"e1\").up()",
    );
}

#[test]
fn a_macvlan_whose_parent_is_down_has_no_carrier() {
    let mut f = Fake::new();
    let (h, p, o) = (f.ns("h"), f.ns("p"), f.ns("o"));
    f.veth(p, "up0", o, "eth0")
        .macvlan(p, "up0", h, "mv0")
        .addr(h, "mv0", "10.0.0.1/24")
        .addr(o, "eth0", "10.0.0.2/24")
        .down(p, "up0");
    is(
        &lost(&mut f, h, &ping("10.0.0.2")),
        "h mv0 has no carrier: its parent up0 in p is down",
        "p.link(\"up0\").up()",
    );
}

#[test]
fn forwarding_off_is_named_for_the_router_or_the_link() {
    let (mut f, h1, r1, _) = routed();
    f.forwarding(r1, false);
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 does not forward (net.ipv4.ip_forward = 0)",
        "r1.forwarding(true)",
    );
    assert_eq!(
        trace(&mut f, h1, &ping("10.2.0.2")).draw(),
        "h1 eth0 -> r1 e1 ✗"
    );
    f.forwarding(r1, true)
        .sysctl(r1, "net/ipv4/conf/e1/forwarding", "0");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 does not forward what arrives on e1 (net.ipv4.conf.e1.forwarding = 0)",
        "r1.sysctl(\"net.ipv4.conf.e1.forwarding\", \"1\")",
    );
}

#[test]
fn ipv6_forwarding_off_is_checked_by_the_walk_itself() {
    let (mut f, h1, r1, _) = routed6();
    assert!(trace(&mut f, h1, &ping("fd02::2")).lost.is_none());
    f.sysctl(r1, "net/ipv6/conf/all/forwarding", "0");
    is(
        &lost(&mut f, h1, &ping("fd02::2")),
        "r1 does not forward IPv6 (net.ipv6.conf.all.forwarding = 0)",
        "r1.forwarding(true)",
    );
}

#[test]
fn blackhole_unreachable_and_prohibit_routes_are_named_with_their_table() {
    let (mut f, h1, r1, _) = routed();
    f.special(r1, "blackhole", "10.2.0.2/32", 254);
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 drops it silently: a blackhole route for 10.2.0.2/32 (table main)",
        "r1.route_delete(\"10.2.0.2/32\")",
    );
    let (mut f, h1, r1, _) = routed();
    f.special(r1, "unreachable", "10.2.0.2/32", 100);
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 has an unreachable route for 10.2.0.2/32 (table 100)",
        "r1.route_delete(\"10.2.0.2/32\", #{table: 100})",
    );
    let (mut f, h1, r1, _) = routed();
    f.special(r1, "prohibit", "10.2.0.2/32", 254);
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 refuses it: a prohibit route for 10.2.0.2/32 (table main)",
        "r1.route_delete(\"10.2.0.2/32\")",
    );
}

#[test]
fn strict_rp_filter_on_an_asymmetric_path_is_named() {
    let (mut f, h1, r1, _) = routed();
    // r1's way back to h1 goes out e2.
    f.route(r1, "10.1.0.2/32", "10.2.0.2")
        .sysctl(r1, "net/ipv4/conf/all/rp_filter", "1");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 drops packets from 10.1.0.2 arriving on e1: the reverse-path filter (net.ipv4.conf.all.rp_filter = 1, strict) wants them on e2, where its route back to 10.1.0.2 goes",
        "make it loose (an asymmetric path is fine then): r1.sysctl(\"net.ipv4.conf.all.rp_filter\", \"2\")",
    );
}

#[test]
fn rp_filter_without_a_route_back_suggests_one() {
    let (mut f, h1, r1, _) = routed();
    f.addr(h1, "eth0", "10.9.0.2/24")
        .sysctl(r1, "net/ipv4/conf/e1/rp_filter", "2");
    let mut pkt = ping("10.2.0.2");
    pkt.src = Some("10.9.0.2".parse().expect("an address"));
    is(
        &lost(&mut f, h1, &pkt),
        "r1 drops packets from 10.9.0.2 arriving on e1: the reverse-path filter (net.ipv4.conf.e1.rp_filter = 2) finds no route back to 10.9.0.2",
        "give it a route back: r1.route(\"10.9.0.0/24\", \"10.1.0.2\"), or turn the filter off: r1.sysctl(\"net.ipv4.conf.e1.rp_filter\", \"0\")",
    );
}

#[test]
fn a_source_that_is_not_the_senders_is_refused() {
    let (mut f, h1, _, _) = routed();
    let mut pkt = ping("10.2.0.2");
    pkt.src = Some("10.1.0.9".parse().expect("an address"));
    is(
        &lost(&mut f, h1, &pkt),
        "10.1.0.9 is not an address of h1, so it cannot send from it",
        "use one of h1's addresses as src, or leave src out",
    );
}

#[test]
fn martian_sources_are_named() {
    let (mut f, h1, r1, _) = routed();
    let mut pkt = ping("10.2.0.2");
    pkt.src = Some("127.0.0.1".parse().expect("an address"));
    is(
        &lost(&mut f, h1, &pkt),
        "h1 drops it: 127.0.0.1 cannot be a source address",
        "send it from an address of a link (leave src out)",
    );
    f.addr(r1, "e2", "10.1.0.2/32");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 drops it: its source 10.1.0.2 is an address of r1 itself (the address is used twice?)",
        "give every namespace its own addresses",
    );
}

#[test]
fn policy_rules_are_named_when_no_route_explains_the_refusal() {
    use nix::errno::Errno;
    let (mut f, h1, r1, _) = routed();
    f.rule_refuses(r1, Errno::EACCES);
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "r1 refuses it: a policy rule prohibits it",
        "find the rule with r1.run(\"ip rule\") and delete it (r1.run(\"ip rule del …\"))",
    );
    f.rule_refuses(r1, Errno::EHOSTUNREACH);
    let t = trace(&mut f, h1, &ping("10.2.0.2"));
    assert!(t.lost.is_none());
    assert_eq!(
        t.unknown.as_deref(),
        Some(
            "r1 refuses to route it (host unreachable) but has no unreachable route for it: a policy rule? (r1.run(\"ip rule\") lists them)"
        )
    );
}

#[test]
fn a_gateway_nobody_has_is_named_with_the_router_that_is_there() {
    let (mut f, h1, _, _) = routed();
    f.unroute(h1, "default")
        .route(h1, "default", "10.1.0.99")
        .neighbour(h1, "eth0", "10.1.0.99", "failed");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "h1's route to 10.2.0.2 goes via 10.1.0.99, which nobody on the link of eth0 has (no namespace of the lab has it); h1's ARP entry for 10.1.0.99 is FAILED",
        "route via the router on that link: h1.run(\"ip route replace default via 10.1.0.1\")",
    );
    // On-link: the address is nowhere.
    is(
        &lost(&mut f, h1, &ping("10.1.0.77")),
        "10.1.0.77 exists nowhere on the link of h1 eth0 (no namespace of the lab has it)",
        "check the address, or give it to a namespace on that link, e.g. r1.addr(\"e1\", \"10.1.0.77/24\")",
    );
}

#[test]
fn an_address_on_another_link_is_said_to_be_there() {
    let (mut f, h1, _, _) = routed();
    f.route_dev(h1, "10.2.0.2/32", "eth0");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "10.2.0.2 exists nowhere on the link of h1 eth0 (10.2.0.2 is on h2 eth0, which is not on that link)",
        "10.2.0.2 belongs to h2 eth0: connect it to that link, or route to it via a router",
    );
}

#[test]
fn no_address_on_the_way_out_suggests_a_free_one_of_the_link() {
    let mut f = Fake::new();
    let (h1, r1) = (f.ns("h1"), f.ns("r1"));
    f.veth(h1, "eth0", r1, "e1")
        .addr(r1, "e1", "10.1.0.1/24")
        .route_dev(h1, "10.1.0.0/24", "eth0");
    is(
        &lost(&mut f, h1, &ping("10.1.0.1")),
        "h1 sends it out eth0, which has no IPv4 address",
        "give eth0 an address in the subnet of its link: h1.addr(\"eth0\", \"10.1.0.2/24\")",
    );
}

#[test]
fn a_neighbour_that_does_not_answer_is_a_suspect_with_its_state() {
    let (mut f, h1, r1, _) = routed();
    f.neighbour(r1, "e2", "10.2.0.2", "incomplete");
    is(
        &suspect(&mut f, h1, &ping("10.2.0.2")),
        "r1's ARP entry for 10.2.0.2 on e2 is INCOMPLETE, though h2 eth0 has that address: something on the link drops ARP (an arp or bridge firewall rule, arp_ignore/arp_filter, rp_filter for the sender)",
        "look at h2's firewall (h2.run(\"nft list ruleset\")) and its arp sysctls (h2.run(\"sysctl -a -r arp_\"))",
    );
    // A failed probe's reason is the suspect when nothing is sure.
    let t = trace(&mut f, h1, &ping("10.2.0.2"));
    assert!(t.reason().is_some_and(|r| r.reason.contains("INCOMPLETE")));
}

#[test]
fn arp_ignore_8_is_named_as_why_nobody_answers() {
    let (mut f, h1, r1, h2) = routed();
    f.neighbour(r1, "e2", "10.2.0.2", "failed")
        .sysctl(h2, "net/ipv4/conf/eth0/arp_ignore", "8");
    is(
        &suspect(&mut f, h1, &ping("10.2.0.2")),
        "h2 answers no ARP request on eth0 (net.ipv4.conf.eth0.arp_ignore = 8), so r1's ARP entry for 10.2.0.2 on e2 is FAILED",
        "h2.sysctl(\"net.ipv4.conf.eth0.arp_ignore\", \"0\")",
    );
}

#[test]
fn a_router_whose_link_local_is_in_dad_is_named() {
    let (mut f, h1, r1, _) = routed6();
    f.neighbour(r1, "e2", "fd02::2", "failed")
        .tentative(r1, "e2");
    is(
        &suspect(&mut f, h1, &ping("fd02::2")),
        "r1's neighbour entry for fd02::2 on e2 is FAILED: r1 forwards it, and a router asks for a neighbour only from a link-local address done with duplicate address detection, which e2's still is not (DAD runs for a second or more after a link comes up, longer with more dad_transmits)",
        "probe again in a moment; or have r1 skip DAD on links it makes from now on: r1.sysctl(\"net.ipv6.conf.default.accept_dad\", \"0\") before they are made",
    );
}

#[test]
fn a_destination_address_still_in_dad_is_named_not_forwarding() {
    // h2 holds fd02::2, tentatively: the lookup there does not find it
    // local, and h2 does not forward. Seen on a busy machine, where DAD
    // takes seconds.
    let (mut f, h1, _, h2) = routed6();
    f.tentative_addr(h2, "fd02::2");
    is(
        &lost(&mut f, h1, &ping("fd02::2")),
        "h2 holds fd02::2 on eth0, but cannot use it yet: duplicate address detection is not done with it (an IPv6 address is tentative for a second or more after it is added, dad_transmits seconds; longer on a busy machine)",
        "probe again in a moment; or have h2 skip DAD on addresses it gets from now on: h2.sysctl(\"net.ipv6.conf.eth0.accept_dad\", \"0\") before the address is added",
    );
}

#[test]
fn isolated_bridge_ports_are_named_and_the_help_opens_one() {
    let (mut f, h1, s, _) = bridged();
    assert!(trace(&mut f, h1, &ping("10.0.0.2")).lost.is_none());
    f.port(s, "p1", 3, true).port(s, "p2", 3, true);
    is(
        &lost(&mut f, h1, &ping("10.0.0.2")),
        "the bridge br0 of s does not pass it from port p1 to port p2 (on the way to 10.0.0.2): both ports are isolated, and isolated ports do not talk to each other",
        "s.link(\"br0\").attach(s.link(\"p2\"), #{isolated: false})",
    );
}

#[test]
fn stp_port_states_are_named() {
    let (mut f, h1, s, _) = bridged();
    f.port(s, "p2", 4, false);
    is(
        &lost(&mut f, h1, &ping("10.0.0.2")),
        "the bridge br0 of s does not forward through its port p2 (on the way to 10.0.0.2): the port is blocking (STP breaks a loop of bridges there), and no other way round the loop is open",
        "open the other way round the loop (its links up, its bridges passing frames on) and let the spanning tree settle (max_age_s + 2 × forward_delay_s after a change)",
    );
    f.port(s, "p2", 1, false);
    let l = lost(&mut f, h1, &ping("10.0.0.2"));
    assert_eq!(
        l.reason,
        "the bridge br0 of s does not forward through its port p2 yet (on the way to 10.0.0.2): the port is listening (STP)"
    );
    assert!(
        l.help.starts_with("wait for the spanning tree"),
        "{}",
        l.help
    );
    f.port(s, "p1", 0, false).port(s, "p2", 3, false);
    is(
        &lost(&mut f, h1, &ping("10.0.0.2")),
        "the bridge br0 of s does not forward through its port p1 (on the way to 10.0.0.2): the port is disabled",
        "bring the port up (s.link(\"p1\").up()), or set its state to forwarding when the bridge runs no STP: s.run(\"bridge link set dev p1 state 3\")",
    );
}

#[test]
fn a_bridge_port_down_on_the_way_is_named() {
    let (mut f, h1, s, _) = bridged();
    f.down(s, "p2");
    is(
        &lost(&mut f, h1, &ping("10.0.0.2")),
        "the link p2 of s is down (on the way from h1 eth0 to 10.0.0.2)",
        "s.link(\"p2\").up()",
    );
}

#[test]
fn a_df_packet_too_big_for_the_sender_is_named_with_the_size_that_fits() {
    let (mut f, h1, _, _) = routed();
    f.mtu(h1, "eth0", 1400);
    is(
        &lost(&mut f, h1, &whole("10.2.0.2", 1472)),
        "h1 cannot send it whole: the packet of 1500 bytes (DF set) is bigger than the MTU of h1 eth0 (1400 < 1500), and it may not be fragmented",
        "h1.link(\"eth0\").mtu(1500), or send less: size: 1372 at most",
    );
    assert!(trace(&mut f, h1, &whole("10.2.0.2", 1372)).lost.is_none());
}

#[test]
fn a_df_packet_too_big_for_a_router_is_named_with_both_ends_of_the_cable() {
    let (mut f, h1, r1, h2) = routed();
    f.mtu(r1, "e2", 1400).mtu(h2, "eth0", 1400);
    is(
        &lost(&mut f, h1, &whole("10.2.0.2", 1472)),
        "r1 cannot pass it on: the packet of 1500 bytes (DF set) is bigger than the MTU of r1 e2 (1400 < 1500), so r1 drops it and sends back \"fragmentation needed\"",
        "r1.link(\"e2\").mtu(1500); h2.link(\"eth0\").mtu(1500), or send less: size: 1372 at most",
    );
}

#[test]
fn a_smaller_mtu_at_the_other_end_of_a_cable_drops_it_there() {
    let (mut f, h1, r1, _) = routed();
    f.mtu(r1, "e1", 1400);
    is(
        &lost(&mut f, h1, &whole("10.2.0.2", 1472)),
        "the packet of 1500 bytes is bigger than the MTU of r1 e1 (1400 < 1500), on the way from h1 eth0: it is dropped there",
        "r1.link(\"e1\").mtu(1500), or send less: size: 1372 at most",
    );
}

#[test]
fn a_route_mtu_is_named_and_a_learned_one_only_when_nothing_else_is() {
    let (mut f, h1, _, _) = routed();
    f.route_mtu(h1, "default", 1300, false);
    is(
        &lost(&mut f, h1, &whole("10.2.0.2", 1472)),
        "h1 cannot send it whole: the packet of 1500 bytes (DF set) is bigger than the MTU of h1's route to 10.2.0.2 (1300 < 1500, table main)",
        "drop the mtu from the route (h1.run(\"ip route change … \") without `mtu 1300`), or send less: size: 1272 at most",
    );
    f.route_mtu(h1, "default", 1300, true);
    is(
        &lost(&mut f, h1, &whole("10.2.0.2", 1472)),
        "h1 cannot send it whole: the packet of 1500 bytes (DF set) is bigger than the path MTU h1 learned for 10.2.0.2 (1300 < 1500, from a \"fragmentation needed\" that came back earlier; the kernel keeps it about 10 minutes)",
        "when the link that was too small takes more now, forget what was learned: h1.run(\"ip route flush cache\"); or send less: size: 1272 at most",
    );
}

#[test]
fn a_forward_policy_drop_in_the_labs_table_suggests_an_accept() {
    let (mut f, h1, r1, _) = routed();
    f.nft(
        r1,
        &nft("inet", TABLE, &[("forward", "forward", "drop")], &[]),
    );
    let l = lost(&mut f, h1, &ping("10.2.0.2"));
    is(
        &l,
        "r1 drops the ping: the chain forward of inet nslab-t (forward) has policy drop and no rule in it accepts it",
        "r1.accept(#{chain: \"forward\", daddr: \"10.2.0.2\", proto: \"icmp\"})",
    );
    let t = trace(&mut f, h1, &ping("10.2.0.2"));
    assert_eq!(t.firewalled, [("r1".to_string(), 1)]);
}

#[test]
fn an_input_rule_in_another_table_is_named_with_its_handle() {
    let (mut f, h1, _, h2) = routed();
    f.listen(h2, Proto::Tcp, 80).nft(
        h2,
        &nft(
            "ip",
            "filter",
            &[("INPUT", "input", "accept")],
            &[("INPUT", 7, &format!("{},{DROP}", dport(80)))],
        ),
    );
    is(
        &lost(&mut f, h1, &tcp("10.2.0.2", 80)),
        "h2 drops tcp port 80: rule `tcp dport 80 drop` (handle 7) in the chain INPUT of ip filter (input; a table that is not the lab's: nslab did not make it)",
        "h2.run(\"nft delete rule ip filter INPUT handle 7\")",
    );
    f.listen(h2, Proto::Tcp, 22);
    assert!(trace(&mut f, h1, &tcp("10.2.0.2", 22)).lost.is_none());
}

#[test]
fn an_output_policy_drop_on_the_sender_is_named() {
    let (mut f, h1, _, _) = routed();
    f.nft(
        h1,
        &nft("inet", TABLE, &[("output", "output", "drop")], &[]),
    );
    is(
        &lost(&mut f, h1, &tcp("10.2.0.2", 80)),
        "h1 drops tcp port 80: the chain output of inet nslab-t (output) has policy drop and no rule in it accepts it",
        "h1.accept(#{chain: \"output\", proto: \"tcp\", dport: 80})",
    );
}

#[test]
fn a_drop_of_the_reply_is_said_to_lose_the_reply() {
    let (mut f, h1, r1, h2) = routed();
    f.listen(h2, Proto::Tcp, 80).nft(
        r1,
        &nft(
            "inet",
            TABLE,
            &[("forward", "forward", "accept")],
            &[(
                "forward",
                3,
                r#"{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"e2"}},{"drop":null}"#,
            )],
        ),
    );
    let l = lost(&mut f, h1, &tcp("10.2.0.2", 80));
    assert_eq!(
        l.reason,
        "the request gets there, but the reply is lost: r1 drops the tcp reply from port 80: rule `iifname e2 drop` (handle 3) in the chain forward of inet nslab-t (forward)"
    );
}

#[test]
fn a_forward_policy_drop_in_another_table_suggests_an_nft_rule() {
    let (mut f, h1, r1, h2) = routed();
    f.listen(h2, Proto::Tcp, 80).nft(
        r1,
        &nft("ip", "filter", &[("FORWARD", "forward", "drop")], &[]),
    );
    is(
        &lost(&mut f, h1, &tcp("10.2.0.2", 80)),
        "r1 drops tcp port 80: the chain FORWARD of ip filter (forward; a table that is not the lab's: nslab did not make it) has policy drop and no rule in it accepts it",
        "r1.run(\"nft insert rule ip filter FORWARD ip daddr 10.2.0.2 tcp dport 80 accept\")",
    );
}

#[test]
fn a_drop_after_a_match_nslab_cannot_read_is_only_a_suspect() {
    let (mut f, h1, r1, _) = routed();
    let mark = r#"{"match":{"op":"==","left":{"meta":{"key":"mark"}},"right":1}},{"drop":null}"#;
    f.nft(
        r1,
        &nft(
            "inet",
            TABLE,
            &[("forward", "forward", "accept")],
            &[("forward", 5, mark)],
        ),
    );
    let t = trace(&mut f, h1, &ping("10.2.0.2"));
    assert!(t.lost.is_none());
    // The request's and the reply's: the rule may drop both.
    assert_eq!(t.suspects.len(), 2);
    is(
        &t.suspects[0],
        "r1 drops the ping: rule `meta mark 1 drop` (handle 5) in the chain forward of inet nslab-t (forward) (nslab cannot read every match before it, so: maybe)",
        "r1.run(\"nft delete rule inet nslab-t forward handle 5\")",
    );
    assert!(
        t.suspects[1]
            .reason
            .starts_with("r1 drops the ping's reply: rule `meta mark 1 drop`")
    );
}

#[test]
fn nothing_listening_is_refused_not_lost() {
    let (mut f, h1, _, h2) = routed();
    is(
        &lost(&mut f, h1, &tcp("10.2.0.2", 80)),
        "nothing listens on tcp port 80 in h2 (the connection is refused, not dropped on the way)",
        "start a server there: h2.listen(80), or spawn one (e.g. h2.spawn(\"python3 -m http.server 80\"))",
    );
    f.listen(h2, Proto::Tcp, 80);
    assert!(trace(&mut f, h1, &tcp("10.2.0.2", 80)).lost.is_none());
}

/// h1 (10.1.0.2, private) - r1 - inet (203.0.113.2, no route to 10.1/24).
fn to_the_internet() -> (Fake, Ns, Ns, Ns) {
    let mut f = Fake::new();
    let (h1, r1, net) = (f.ns("h1"), f.ns("r1"), f.ns("inet"));
    f.veth(h1, "eth0", r1, "e1")
        .veth(r1, "e2", net, "eth0")
        .addr(h1, "eth0", "10.1.0.2/24")
        .addr(r1, "e1", "10.1.0.1/24")
        .addr(r1, "e2", "203.0.113.1/24")
        .addr(net, "eth0", "203.0.113.2/24")
        .route(h1, "default", "10.1.0.1")
        .forwarding(r1, true);
    (f, h1, r1, net)
}

#[test]
fn a_private_source_without_masquerade_loses_the_reply_and_suggests_it() {
    let (mut f, h1, _, _) = to_the_internet();
    is(
        &lost(&mut f, h1, &ping("203.0.113.2")),
        "the request gets there, but the reply is lost: inet has no route back to 10.1.0.2 (a private address r1 passes on without masquerading it)",
        "masquerade(r1, \"10.1.0.0/24\", \"e2\"), or inet.route(\"10.1.0.0/24\", \"203.0.113.1\")",
    );
}

#[test]
fn no_route_back_between_private_subnets_suggests_the_route_first() {
    let (mut f, h1, _, h2) = routed();
    f.unroute(h2, "default");
    is(
        &lost(&mut f, h1, &ping("10.2.0.2")),
        "the request gets there, but the reply is lost: h2 has no route back to 10.1.0.2",
        "h2.route(\"10.1.0.0/24\", \"10.2.0.1\"), or masquerade(r1, \"10.1.0.0/24\", \"e2\")",
    );
    let t = trace(&mut f, h1, &ping("10.2.0.2"));
    assert_eq!(t.draw(), "h1 eth0 -> r1 e1/e2 -> h2 eth0 ✓; back: h2 ✗");
}

#[test]
fn a_masquerade_rule_is_followed_there_and_back() {
    let (mut f, h1, r1, _) = to_the_internet();
    f.nft(
        r1,
        r#"{"nftables":[
 {"chain":{"family":"inet","table":"nslab-t","name":"post","handle":1,"type":"nat","hook":"postrouting","prio":100,"policy":"accept"}},
 {"rule":{"family":"inet","table":"nslab-t","chain":"post","handle":2,"expr":[
   {"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"e2"}},{"masquerade":null}]}}]}"#,
    );
    let t = trace(&mut f, h1, &ping("203.0.113.2"));
    assert!(t.lost.is_none() && t.unknown.is_none(), "{:?}", t.lost);
    assert_eq!(
        t.draw(),
        "h1 eth0 -> r1 e1/e2 -> inet eth0 ✓; back: inet eth0 -> r1 e2/e1 -> h1 eth0 ✓"
    );
}

#[test]
fn a_dnat_rule_sends_the_request_on_to_its_new_destination() {
    let (mut f, h1, r1, h2) = routed();
    f.nft(
        r1,
        r#"{"nftables":[
 {"chain":{"family":"inet","table":"nslab-t","name":"pre","handle":1,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}},
 {"rule":{"family":"inet","table":"nslab-t","chain":"pre","handle":3,"expr":[
   {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}},
   {"dnat":{"family":"ip","addr":"10.2.0.2","port":8080}}]}}]}"#,
    );
    is(
        &lost(&mut f, h1, &tcp("10.1.0.1", 80)),
        "nothing listens on tcp port 8080 in h2 (the connection is refused, not dropped on the way)",
        "start a server there: h2.listen(8080), or spawn one (e.g. h2.spawn(\"python3 -m http.server 8080\"))",
    );
    f.listen(h2, Proto::Tcp, 8080);
    let t = trace(&mut f, h1, &tcp("10.1.0.1", 80));
    assert!(t.lost.is_none(), "{:?}", t.lost);
    assert_eq!(
        t.hops[1].why,
        "dnat 10.1.0.1:80 -> 10.2.0.2:8080 (rule handle 3 in inet nslab-t); route to 10.2.0.2 dev e2 (table main)"
    );
}

#[test]
fn a_routing_loop_is_named() {
    let (mut f, h1, r1, h2) = routed();
    f.route(r1, "10.3.0.0/24", "10.2.0.2").forwarding(h2, true);
    is(
        &lost(&mut f, h1, &ping("10.3.0.2")),
        "the packet goes round in a loop: it comes back to h2 on eth0",
        "check the routes to 10.3.0.2 along the path (ns.routes() in each namespace)",
    );
}

#[test]
fn a_link_kind_nslab_cannot_follow_is_said_not_guessed() {
    let mut f = Fake::new();
    let h = f.ns("h");
    f.other_link(h, "d0", "dummy").addr(h, "d0", "10.0.0.1/24");
    let t = trace(&mut f, h, &ping("10.0.0.2"));
    assert!(t.lost.is_none());
    assert_eq!(
        t.unknown.as_deref(),
        Some("nslab cannot follow past h d0 (a dummy link) (where 10.0.0.2 could be)")
    );
}

#[test]
fn the_failure_of_expect_reach_is_the_reason_and_the_path() {
    let (mut f, h1, r1, _) = routed();
    f.forwarding(r1, false);
    let pkt = ping("10.2.0.2");
    let t: Trace = trace(&mut f, h1, &pkt);
    let e = unreached("h1", &pkt, &t, false);
    assert_eq!(
        e.message,
        "h1 cannot reach 10.2.0.2: r1 does not forward (net.ipv4.ip_forward = 0)\npath: h1 eth0 -> r1 e1 ✗"
    );
    assert_eq!(e.help, "r1.forwarding(true)");
}

#[test]
fn an_unsure_probe_keeps_the_paths_reason_else_names_the_machines_drops() {
    let why = "the kernel dropped 9 incoming packets because a CPU's input backlog (net.core.netdev_max_backlog) was full (the probe was lost all 5 times it was sent)";
    let help = "the machine is busy: raise net.core.netdev_max_backlog";
    // Nothing wrong on the path: what nslab checked, then the drops.
    let (mut f, h1, r1, _) = routed();
    let pkt = ping("10.2.0.2");
    let t = trace(&mut f, h1, &pkt);
    let e = unsure("h1", &pkt, &t, why, help);
    assert_eq!(
        e.message,
        format!(
            "h1 cannot reach 10.2.0.2, and nslab cannot tell why: the routes, links, forwarding, rp_filter and neighbours it checked in h1, r1, h2 let it through; meanwhile {why}\npath: h1 eth0 -> r1 e1/e2 -> h2 eth0 ✓; back: h2 eth0 -> r1 e2/e1 -> h1 eth0 ✓"
        )
    );
    assert!(
        e.help
            .ends_with(&format!("; or, as the machine dropped packets: {help}")),
        "{}",
        e.help
    );
    // A suspect is followed by the drops, which may have caused it.
    f.neighbour(r1, "e2", "10.2.0.2", "failed");
    let t = trace(&mut f, h1, &pkt);
    let e = unsure("h1", &pkt, &t, why, help);
    let plain = unreached("h1", &pkt, &t, false);
    assert!(t.lost.is_none() && !t.suspects.is_empty());
    let (head, _) = plain.message.split_once("\npath: ").expect("a path");
    assert!(
        e.message
            .starts_with(&format!("{head}; meanwhile {why}\npath: ")),
        "{}",
        e.message
    );
    assert!(e.help.starts_with(&plain.help), "{}", e.help);
    // A drop on the path stands, as for any lost probe.
    f.forwarding(r1, false);
    let t = trace(&mut f, h1, &pkt);
    assert_eq!(
        unsure("h1", &pkt, &t, why, help),
        unreached("h1", &pkt, &t, false)
    );
}

/// The explanation's "nothing found" says when no firewall rule could be
/// read, from what the kernel seam says, whatever this machine has.
#[test]
fn no_reason_says_when_no_firewall_rule_could_be_read() {
    let (mut f, h1, _, _) = routed();
    let pkt = ping("10.2.0.2");
    let read = trace(&mut f, h1, &pkt);
    assert!(!read.no_reason().contains("`nft` is not installed"));
    f.without_nft();
    let unread = trace(&mut f, h1, &pkt);
    assert!(
        unread
            .no_reason()
            .ends_with("; `nft` is not installed, so no firewall rule was read"),
        "{}",
        unread.no_reason()
    );
}

#[test]
fn vxlans_are_followed_to_their_far_end_of_the_same_vni() {
    let mut f = Fake::new();
    let (a, b) = (f.ns("a"), f.ns("b"));
    f.veth(a, "u0", b, "u0")
        .addr(a, "u0", "192.168.0.1/24")
        .addr(b, "u0", "192.168.0.2/24")
        .vxlan(a, "vx0", 42, "192.168.0.2")
        .vxlan(b, "vx0", 42, "192.168.0.1")
        .addr(a, "vx0", "10.9.0.1/24")
        .addr(b, "vx0", "10.9.0.2/24");
    let t = trace(&mut f, a, &ping("10.9.0.2"));
    assert!(t.lost.is_none() && t.unknown.is_none(), "{:?}", t.unknown);
    assert_eq!(t.draw(), "a vx0 -> b vx0 ✓; back: b vx0 -> a vx0 ✓");
    let mut g = Fake::new();
    let (a, b) = (g.ns("a"), g.ns("b"));
    g.veth(a, "u0", b, "u0")
        .addr(a, "u0", "192.168.0.1/24")
        .addr(b, "u0", "192.168.0.2/24")
        .vxlan(a, "vx0", 42, "192.168.0.2")
        .vxlan(b, "vx0", 43, "192.168.0.1")
        .addr(a, "vx0", "10.9.0.1/24")
        .addr(b, "vx0", "10.9.0.2/24");
    let t = trace(&mut g, a, &ping("10.9.0.2"));
    assert_eq!(
        t.unknown.as_deref(),
        Some(
            "nslab cannot follow past a vx0 (a vxlan whose far end, a vxlan of the same vni in the namespace holding its remote address, is not in the lab) (where 10.9.0.2 could be)"
        )
    );
}

#[test]
fn macvlans_reach_their_siblings_on_the_same_parent() {
    let mut f = Fake::new();
    let (p, h1, h2) = (f.ns("p"), f.ns("h1"), f.ns("h2"));
    f.other_link(p, "up0", "dummy")
        .macvlan(p, "up0", h1, "mv0")
        .macvlan(p, "up0", h2, "mv0")
        .addr(h1, "mv0", "10.0.0.1/24")
        .addr(h2, "mv0", "10.0.0.2/24");
    let t = trace(&mut f, h1, &ping("10.0.0.2"));
    assert!(t.lost.is_none() && t.unknown.is_none(), "{:?}", t.unknown);
    assert_eq!(t.draw(), "h1 mv0 -> h2 mv0 ✓; back: h2 mv0 -> h1 mv0 ✓");
}

/// The first hour's triangle (issue 21, item 2): h1 (192.168.1.10) on
/// r1's LAN; r1, r2, r3 in a triangle (10.0.12/24, 10.0.13/24,
/// 10.0.23/24); r3's link to r1 down, and r3 has no route back to the
/// LAN. r1 reaches r3 over r2.
#[test]
fn no_route_back_beside_a_link_down_says_both_and_routes_over_a_link_that_is_up() {
    let mut f = Fake::new();
    let (h1, r1, r2, r3) = (f.ns("h1"), f.ns("r1"), f.ns("r2"), f.ns("r3"));
    f.veth(h1, "eth0", r1, "lan")
        .veth(r1, "to-r2", r2, "to-r1")
        .veth(r1, "to-r3", r3, "to-r1")
        .veth(r2, "to-r3", r3, "to-r2")
        .addr(h1, "eth0", "192.168.1.10/24")
        .addr(r1, "lan", "192.168.1.1/24")
        .addr(r1, "to-r2", "10.0.12.1/24")
        .addr(r2, "to-r1", "10.0.12.2/24")
        .addr(r1, "to-r3", "10.0.13.1/24")
        .addr(r3, "to-r1", "10.0.13.3/24")
        .addr(r2, "to-r3", "10.0.23.2/24")
        .addr(r3, "to-r2", "10.0.23.3/24")
        .route(h1, "default", "192.168.1.1")
        .route(r1, "10.0.23.0/24", "10.0.12.2")
        .route(r2, "192.168.1.0/24", "10.0.12.1")
        .forwarding(r1, true)
        .forwarding(r2, true)
        .forwarding(r3, true)
        .down(r3, "to-r1");
    let l = lost(&mut f, h1, &ping("10.0.23.3"));
    // No route through the dead link, none that never existed.
    assert!(!l.help.contains("10.0.13.1"), "{l:?}");
    assert!(!l.reason.contains("went with it"), "{l:?}");
    is(
        &l,
        "the request gets there, but the reply is lost: r3 has no route back to 192.168.1.10 (its link to-r1 is down: the kernel removes the routes through a link while it is down)",
        "r3.route(\"192.168.1.0/24\", \"10.0.23.2\"), or masquerade(r2, \"192.168.1.0/24\", \"to-r3\")",
    );
}

#[test]
fn a_link_down_to_the_destinations_own_subnet_needs_only_to_come_up() {
    let (mut f, h1, _, _) = routed();
    f.down(h1, "eth0");
    is(
        &lost(&mut f, h1, &ping("10.1.0.1")),
        "h1 has no route to 10.1.0.1: its link eth0 to 10.1.0.1's subnet is down",
        "h1.link(\"eth0\").up()",
    );
}

/// a (m1) ea ~ VXLAN 10001 over the underlay 192.0.2.0/24 ~ eb b (m2):
/// the driver's lab, with the agent's lab of m2 in it; `m2_rules` is m2's
/// own namespace's ruleset, `m1_underlay` whether m1 has its address.
fn two_machines(m2_rules: Option<String>, m1_underlay: bool) -> (Fake, Ns, Ns) {
    use crate::explain::Across;
    let x = |here: &str, there: &str, local: &str, remote: &str, far| Across {
        vni: 10001,
        port: 14789,
        local: local.parse().expect("an address"),
        remote: remote.parse().expect("an address"),
        underlay: Ns(0),
        here: here.into(),
        there: there.into(),
        far,
    };
    let mut m2 = Fake::new();
    let (h2, b2) = (m2.ns("host"), m2.ns("b"));
    m2.other_link(h2, "eth0", "physical")
        .addr(h2, "eth0", "192.0.2.2/24")
        .other_link(b2, "eb", "vxlan")
        .addr(b2, "eb", "10.9.0.2/24")
        .across(b2, "eb", x("m2", "m1", "192.0.2.2", "192.0.2.1", None));
    if let Some(r) = m2_rules {
        m2.nft(h2, &r);
    }
    let mut f = Fake::new();
    let h1 = f.ns("host");
    let a = f.ns("a");
    let b = f.placed("b", "m2");
    f.other_link(h1, "eth0", "physical");
    if m1_underlay {
        f.addr(h1, "eth0", "192.0.2.1/24");
    }
    f.other_link(a, "ea", "vxlan")
        .addr(a, "ea", "10.9.0.1/24")
        .across(
            a,
            "ea",
            x("m1", "m2", "192.0.2.1", "192.0.2.2", Some((b, "eb".into()))),
        )
        .across(
            b,
            "eb",
            x("m2", "m1", "192.0.2.2", "192.0.2.1", Some((a, "ea".into()))),
        )
        .agent(m2);
    (f, a, b)
}

#[test]
fn a_link_between_machines_is_walked_on_both_machines_and_named() {
    let (mut f, a, b) = two_machines(None, true);
    let t = trace(&mut f, a, &ping("10.9.0.2"));
    assert!(t.lost.is_none() && t.unknown.is_none(), "{:?}", t.unknown);
    assert_eq!(
        t.draw(),
        "a ea -> m2 b eb over VXLAN 10001 ✓; back: m2 b eb -> a ea over VXLAN 10001 ✓"
    );
    assert!(t.checked.contains(&"m2 b".to_string()), "{:?}", t.checked);
    let t = trace(&mut f, b, &ping("10.9.0.1"));
    assert_eq!(
        t.draw(),
        "m2 b eb -> a ea over VXLAN 10001 ✓; back: a ea -> m2 b eb over VXLAN 10001 ✓"
    );
}

#[test]
fn a_rule_dropping_the_vxlan_port_on_the_far_machine_is_the_reason() {
    let udp = r#"{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":14789}}"#;
    let rules = nft(
        "inet",
        "t",
        &[("c", "input", "accept")],
        &[("c", 3, &format!("{udp},{DROP}"))],
    );
    let (mut f, a, _) = two_machines(Some(rules), true);
    let t = trace(&mut f, a, &ping("10.9.0.2"));
    assert_eq!(t.draw(), "a ea -> m2 b eb over VXLAN 10001 ✗");
    is(
        t.lost.as_ref().expect("lost"),
        "m2 drops UDP 14789 on the underlay (VXLAN 10001's packets from m1's underlay address 192.0.2.1): rule `udp dport 14789 drop` (handle 3) in chain c of inet t (input)",
        "allow UDP 14789 on m2 between the machines' underlay addresses: delete the rule there (`nft delete rule inet t c handle 3`) or accept the port before it (`nft insert rule inet t c udp dport 14789 accept`); or start the agents with another --vxlan-port that the underlay lets through",
    );
}

#[test]
fn no_route_to_the_far_machines_underlay_address_is_the_reason() {
    let (mut f, a, _) = two_machines(None, false);
    let t = trace(&mut f, a, &ping("10.9.0.2"));
    assert_eq!(t.draw(), "a ea -> ✗");
    let l = t.lost.expect("lost");
    assert!(
        l.reason.starts_with(
            "no route from m1 to m2's underlay address 192.0.2.2 (the lookup says: network unreachable)"
        ),
        "{}",
        l.reason
    );
    assert!(
        l.help.starts_with("give m1 a route to 192.0.2.2"),
        "{}",
        l.help
    );
}
