//! The findings: why a packet is lost, in words, with the nslab call that
//! fixes it. Each builder reads what it needs through the walk's `World`
//! (a neighbour entry, a sysctl, the segment) to name the cause and the
//! fix; the walk (`walk.rs`) decides where one applies.
//!
//! To add one: a method on `Walker` in the file of its layer, called from
//! the step of `walk.rs` that detects it, and a unit test in `tests.rs`
//! that builds the topology in the fake world and checks its words.

mod bridge;
mod daemon;
mod firewall;
mod link;
mod macvlan;
mod mtu;
mod neighbour;
mod route;
#[cfg(test)]
mod tests;

use std::net::IpAddr;

use super::Finding;
use super::kernel::Ns;
use super::walk::Walker;
use crate::net::rtnl::LinkInfoRow;

pub(super) fn table_name(t: u32) -> String {
    match t {
        254 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

/// The call that deletes route `net` of table `t`.
fn route_delete_call(v: &str, net: &str, t: u32) -> String {
    if t == 254 {
        format!("{v}.route_delete(\"{net}\")")
    } else {
        format!("{v}.route_delete(\"{net}\", #{{table: {t}}})")
    }
}

fn table_arg(t: u32) -> String {
    if t == 254 {
        String::new()
    } else {
        format!(" table {t}")
    }
}

fn family_word(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn neigh_word(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "ARP" } else { "neighbour" }
}

impl Walker<'_, '_> {
    /// The request arrived in `dest`, where nothing listens on the port.
    pub(super) fn nothing_listens(&self, dest: Ns, p: &str, port: u16) -> Finding {
        let help = if p == "tcp" {
            format!(
                "start a server there: {v}.listen({port}), or spawn one (e.g. {v}.spawn(\"python3 -m http.server {port}\"))",
                v = self.var(dest)
            )
        } else {
            format!(
                "start a server there that answers: {}.listen(#{{proto: \"{p}\", port: {port}}})",
                self.var(dest)
            )
        };
        Finding {
            reason: format!(
                "nothing listens on {p} port {port} in {} (the connection is refused, not dropped on the way)",
                self.name(dest)
            ),
            help,
        }
    }

    /// The packet for `dst` came back to `ns` (on `iif`): routes in a loop.
    pub(super) fn looped(&self, ns: Ns, iif: Option<&LinkInfoRow>, dst: IpAddr) -> Finding {
        Finding {
            reason: format!(
                "the packet goes round in a loop: it comes back to {}{}",
                self.name(ns),
                iif.map(|l| format!(" on {}", l.name)).unwrap_or_default()
            ),
            help: format!(
                "check the routes to {dst} along the path (ns.routes() in each namespace)"
            ),
        }
    }
}
