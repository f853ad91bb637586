//! A route that is missing where a routing daemon runs: the daemon has not
//! learned it (a neighbour that never came up, a network not announced).
//! In a routing lab the fix is in the daemon, not a static route, so the
//! finding says which daemon runs there and how to ask it.

use std::net::IpAddr;

use super::super::Finding;
use super::super::kernel::Ns;
use super::super::walk::Walker;

/// A routing daemon by its program name: the suite it belongs to (whose
/// recipe asks it) and the question that shows its neighbours.
struct Daemon {
    program: &'static str,
    suite: Suite,
    ask: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
enum Suite {
    Frr,
    Bird,
}

const DAEMONS: &[Daemon] = &[
    Daemon {
        program: "ospfd",
        suite: Suite::Frr,
        ask: "ip ospf neighbor",
    },
    Daemon {
        program: "ospf6d",
        suite: Suite::Frr,
        ask: "ipv6 ospf6 neighbor",
    },
    Daemon {
        program: "bgpd",
        suite: Suite::Frr,
        ask: "bgp summary",
    },
    Daemon {
        program: "isisd",
        suite: Suite::Frr,
        ask: "isis neighbor",
    },
    Daemon {
        program: "ripd",
        suite: Suite::Frr,
        ask: "ip rip status",
    },
    Daemon {
        program: "ripngd",
        suite: Suite::Frr,
        ask: "ipv6 ripng status",
    },
    Daemon {
        program: "babeld",
        suite: Suite::Frr,
        ask: "babel neighbor",
    },
    Daemon {
        program: "eigrpd",
        suite: Suite::Frr,
        ask: "ip eigrp neighbors",
    },
    Daemon {
        program: "bird",
        suite: Suite::Bird,
        ask: "protocols",
    },
];

/// Routes nobody's daemon made.
const NOT_LEARNED: &[&str] = &["kernel", "boot", "static", "redirect", "ra", "dhcp"];

impl Walker<'_, '_> {
    /// `f` says `ns` has no route to `dst`; when a routing daemon runs in
    /// `ns`, it also says that daemon has not learned one, and points at
    /// the daemon's own view before a static route.
    pub(in crate::explain) fn unlearned(&mut self, ns: Ns, dst: IpAddr, f: Finding) -> Finding {
        let programs = self.w.programs(ns);
        let running: Vec<&Daemon> = DAEMONS
            .iter()
            .filter(|d| programs.iter().any(|p| p == d.program))
            .collect();
        let Some(first) = running.first() else {
            return f;
        };
        let names: Vec<String> = running
            .iter()
            .map(|d| match d.suite {
                Suite::Frr => format!("FRR's {}", d.program),
                Suite::Bird => "BIRD".to_string(),
            })
            .collect();
        let mut learned: Vec<(String, usize)> = Vec::new();
        for e in self.w.fib(ns, dst.is_ipv6()) {
            if e.kind != "unicast" || NOT_LEARNED.contains(&e.protocol.as_str()) {
                continue;
            }
            match learned.iter_mut().find(|(p, _)| *p == e.protocol) {
                Some((_, n)) => *n += 1,
                None => learned.push((e.protocol.clone(), 1)),
            }
        }
        let table = if learned.is_empty() {
            "its table holds no route a routing protocol made".to_string()
        } else {
            let parts: Vec<String> = learned
                .iter()
                .map(|(p, n)| format!("{n} from {p}"))
                .collect();
            format!("its table holds routes {}, none to it", parts.join(", "))
        };
        let v = self.var(ns);
        let ask = match first.suite {
            Suite::Frr => format!("frr::show({v}, \"{}\")", first.ask),
            Suite::Bird => format!("bird::show({v}, \"{}\")", first.ask),
        };
        Finding {
            reason: format!(
                "{}; {} runs there but has not learned a route to {dst} ({table})",
                f.reason,
                names.join(" and ")
            ),
            help: format!(
                "ask the daemon what it knows, e.g. {ask} (a neighbour that is not up, or a network not announced); or add a route: {}",
                f.help
            ),
        }
    }
}
