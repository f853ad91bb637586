//! A filter chain that drops the packet: the rule, or the policy, and the
//! rule that lets it through.

use crate::explain::firewall::{self, Chain, Pkt};
use crate::explain::kernel::Ns;
use crate::explain::walk::Walker;
use crate::explain::{Dir, Finding};

impl Walker<'_, '_> {
    pub(in crate::explain) fn drop_finding(
        &self,
        ns: Ns,
        hook: &str,
        c: &Chain,
        rule: Option<&firewall::Rule>,
        verdict: &str,
        p: &Pkt,
    ) -> Finding {
        let (n, v) = (self.name(ns), self.var(ns));
        // The lab's table is inet nslab-LAB; any other is someone else's
        // (iptables-nft, firewalld, a script's `nft`), said so: nslab did
        // not put it there and will not take it away.
        let ours = c.family == "inet" && c.table == self.w.lab_table();
        let chain = if ours {
            format!("chain {} of {} {} ({hook})", c.name, c.family, c.table)
        } else {
            format!(
                "chain {} of {} {} ({hook}; a table that is not the lab's: nslab did not make it)",
                c.name, c.family, c.table
            )
        };
        let l4 = self.pkt.proto_word();
        let what = match self.pkt.port {
            Some(port) if self.dir == Dir::Request => format!("{l4} port {port}"),
            Some(port) => format!("the {l4} reply from port {port}"),
            None if self.dir == Dir::Request => "the ping".to_string(),
            None => "the ping's reply".to_string(),
        };
        if let Some(r) = rule {
            let named = match &r.comment {
                Some(c) => format!(" \"{c}\""),
                None => String::new(),
            };
            return Finding {
                reason: format!(
                    "{n} {}s {what}: rule{named} `{}` (handle {}) in the {chain}",
                    verdict,
                    firewall::describe(r),
                    r.handle
                ),
                help: format!(
                    "{v}.run(\"nft delete rule {} {} {} handle {}\")",
                    c.family, c.table, c.name, r.handle
                ),
            };
        }
        let fam = if p.src.is_ipv4() { "ip" } else { "ip6" };
        let help = if ours && matches!(hook, "input" | "forward" | "output") {
            let mut m = vec![format!("chain: \"{hook}\"")];
            if self.dir == Dir::Reply {
                m.push("state: \"established,related\"".into());
            } else {
                if hook == "forward" {
                    m.push(format!("daddr: \"{}\"", p.dst));
                }
                m.push(format!("proto: \"{l4}\""));
                if let Some(port) = self.pkt.port {
                    m.push(format!("dport: {port}"));
                }
            }
            format!("{v}.accept(#{{{}}})", m.join(", "))
        } else {
            let mut m = format!("{fam} daddr {}", p.dst);
            if let Some(port) = p.dport {
                m.push_str(&format!(" {l4} dport {port}"));
            } else {
                m.push_str(&format!(" meta l4proto {l4}"));
            }
            format!(
                "{v}.run(\"nft insert rule {} {} {} {m} accept\")",
                c.family, c.table, c.name
            )
        };
        Finding {
            reason: format!(
                "{n} drops {what}: the {chain} has policy drop and no rule in it accepts it"
            ),
            help,
        }
    }
}
