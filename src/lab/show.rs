//! `show()`: the lab as it stands, read back from the kernel, as a table.

use std::fmt::Write;

use super::{HOST, Lab, NsId, Result};

impl Lab {
    /// Namespaces the lab knows and whose contents it shows: every one it
    /// made or opened, and the host when the lab put links there.
    fn shown_namespaces(&self) -> Vec<NsId> {
        self.sp
            .alive()
            .into_iter()
            .filter(|id| *id != HOST || self.made_links.iter().any(|(ns, _)| *ns == HOST))
            .collect()
    }

    /// Names of the lab's namespaces and of the links in them (for completion).
    pub fn names(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for id in self.shown_namespaces() {
            out.push(self.sp.name(id).to_string());
            if let Ok(links) = self.links(id) {
                out.extend(links.into_iter().map(|l| l.name));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Every namespace of the lab with its links (kind, state, master,
    /// peer), addresses, routes (every table) and rules. On the host only
    /// the lab's own links and the routes through them.
    pub fn show(&mut self) -> Result<String> {
        let mut out = String::new();
        let ids = self.shown_namespaces();
        if ids.is_empty() {
            return Ok("the lab is empty: make a namespace with netns(\"name\")\n".into());
        }
        for id in ids {
            let name = self.sp.name(id).to_string();
            let all_links = self.links(id)?;
            let addrs = self.addrs(id)?;
            let routes = self.routes(id)?;
            let made = &self.made_links;
            let mine = |l: &str| id != HOST || made.contains(&(id, l.to_string()));
            let links: Vec<_> = all_links.into_iter().filter(|l| mine(&l.name)).collect();
            let _ = writeln!(out, "namespace {name}");
            let _ = writeln!(
                out,
                "  {:<15} {:<8} {:<5} {:<15} {:<22} addresses",
                "link", "kind", "state", "master", "peer"
            );
            for l in &links {
                let peer = self
                    .veth_peers
                    .get(&(id, l.name.clone()))
                    .map(|(pns, pl)| format!("{pl} in {}", self.sp.name(*pns)))
                    .unwrap_or_default();
                // Link-local and loopback addresses are the kernel's, not the lab's.
                let a: Vec<String> = addrs
                    .iter()
                    .filter(|a| a.dev == l.name && !is_kernels(a.addr))
                    .map(|a| a.addr.to_string())
                    .collect();
                let kind = if l.kind.is_empty() { "-" } else { &l.kind };
                let row = format!(
                    "  {:<15} {:<8} {:<5} {:<15} {:<22} {}",
                    l.name,
                    kind,
                    if l.up { "up" } else { "down" },
                    l.master.as_deref().unwrap_or(""),
                    peer,
                    a.join(" ")
                );
                let _ = writeln!(out, "{}", row.trim_end());
            }
            // Every table's routes but the kernel's own (link-local,
            // loopback); in the host only those through the lab's links.
            let shown_routes: Vec<String> = routes
                .iter()
                .filter(|r| !is_kernels(r.dst))
                .filter(|r| {
                    let devs: Vec<&str> = r
                        .dev
                        .iter()
                        .chain(r.nexthops.iter().filter_map(|h| h.dev.as_ref()))
                        .map(String::as_str)
                        .collect();
                    if id == HOST {
                        !devs.is_empty() && devs.iter().all(|d| mine(d))
                    } else {
                        true
                    }
                })
                .map(super::routes::view_text)
                .collect();
            if !shown_routes.is_empty() {
                let _ = writeln!(out, "  routes:");
                for r in shown_routes {
                    let _ = writeln!(out, "    {r}");
                }
            }
            if id != HOST {
                let rules = self.rules(id)?;
                if !rules.is_empty() {
                    let _ = writeln!(out, "  rules:");
                    for r in rules {
                        let _ = writeln!(out, "    {}", super::ledger::rule_text(&r));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn is_kernels(net: ipnet::IpNet) -> bool {
    match net.addr() {
        std::net::IpAddr::V4(a) => a.is_loopback(),
        std::net::IpAddr::V6(a) => a.is_loopback() || (a.segments()[0] & 0xffc0) == 0xfe80,
    }
}
