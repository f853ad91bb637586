//! Source NAT read from a namespace's nf_tables ruleset (`nft -j list
//! ruleset`), whoever made it (masquerade(), `nft` or iptables-nft through
//! exec): a packet leaving a masquerading router carries the router's
//! address from there on, and its reply comes back to that address.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::process::Stdio;

use ipnet::IpNet;
use serde_json::Value;

use crate::net::{NetError, Result, exec};

/// One rule of a nat postrouting chain that rewrites the source.
#[derive(Debug, Clone, PartialEq)]
pub struct NatRule {
    /// `oifname == X` (or `oif X`), `!=` when `oif_not`.
    pub oif: Option<String>,
    pub oif_not: bool,
    /// `ip saddr PREFIX`.
    pub saddr: Option<IpNet>,
    /// `snat to ADDR`; `None` for masquerade (the address of the way out).
    pub to: Option<IpAddr>,
    /// "ip", "ip6" or "inet".
    pub family: String,
}

impl NatRule {
    /// Does the rule rewrite a packet from `src` leaving by `oif`? Matches
    /// nslab does not read are taken to hold.
    pub fn applies(&self, src: IpAddr, oif: &str) -> bool {
        let fam_ok = match self.family.as_str() {
            "ip" => src.is_ipv4(),
            "ip6" => src.is_ipv6(),
            _ => true,
        };
        let oif_ok = match &self.oif {
            Some(o) => (o == oif) != self.oif_not,
            None => true,
        };
        let src_ok = match &self.saddr {
            Some(net) => net.contains(&src),
            None => true,
        };
        fam_ok && oif_ok && src_ok
    }
}

/// `nft -j list ruleset` inside `ns`.
pub fn list_ruleset(ns: BorrowedFd<'_>, nft: &Path) -> Result<String> {
    let argv = vec![
        nft.to_string_lossy().into_owned(),
        "-j".to_string(),
        "list".to_string(),
        "ruleset".to_string(),
    ];
    let mut cmd = exec::command(ns, &argv, false)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let out = cmd.output().map_err(|e| NetError::os("run nft", e))?;
    if !out.status.success() {
        return Err(NetError::Nft("nft list ruleset failed".into()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The source-NAT rules of a ruleset.
pub fn parse(json: &str) -> Vec<NatRule> {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    let mut nat_chains = Vec::new();
    for it in &items {
        let c = &it["chain"];
        if c["type"] == "nat" && c["hook"] == "postrouting" {
            nat_chains.push((
                c["family"].as_str().unwrap_or("").to_string(),
                c["table"].as_str().unwrap_or("").to_string(),
                c["name"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    let mut rules = Vec::new();
    for it in &items {
        let r = &it["rule"];
        if !r.is_object() {
            continue;
        }
        let exprs = r["expr"].as_array().cloned().unwrap_or_default();
        let key = (
            r["family"].as_str().unwrap_or("").to_string(),
            r["table"].as_str().unwrap_or("").to_string(),
            r["chain"].as_str().unwrap_or("").to_string(),
        );
        if !nat_chains.contains(&key) {
            continue;
        }
        let mut rule = NatRule {
            oif: None,
            oif_not: false,
            saddr: None,
            to: None,
            family: key.0.clone(),
        };
        let mut rewrites = false;
        for e in &exprs {
            if e.get("masquerade").is_some() {
                rewrites = true;
            } else if let Some(s) = e.get("snat") {
                rewrites = true;
                rule.to = s["addr"].as_str().and_then(|a| a.parse().ok());
            } else if let Some(m) = e.get("match") {
                let op = m["op"].as_str().unwrap_or("==");
                let left = &m["left"];
                let right = &m["right"];
                let meta = left["meta"]["key"].as_str();
                if matches!(meta, Some("oifname") | Some("oif"))
                    && let Some(name) = right.as_str()
                {
                    rule.oif = Some(name.to_string());
                    rule.oif_not = op == "!=";
                } else if left["payload"]["field"] == "saddr" && op == "==" {
                    rule.saddr = prefix_of(right);
                }
            }
        }
        if rewrites {
            rules.push(rule);
        }
    }
    rules
}

/// One rule of a nat prerouting (or output) chain that rewrites the
/// destination (`dnat to ADDR[:PORT]`, port forwarding).
#[derive(Debug, Clone, PartialEq)]
pub struct DnatRule {
    /// "prerouting" (packets arriving) or "output" (sent from here).
    pub hook: String,
    pub family: String,
    pub table: String,
    pub handle: u64,
    /// `iifname X` / `iif X`.
    pub iif: Option<String>,
    /// `ip daddr …`.
    pub daddr: Option<IpNet>,
    /// The protocol its port match is of (6 tcp, 17 udp), or `meta l4proto`.
    pub l4: Option<u8>,
    pub dport: Option<u16>,
    pub to: IpAddr,
    pub to_port: Option<u16>,
    /// It has matches nslab does not read: it may not apply.
    pub unsure: bool,
}

impl DnatRule {
    /// Does the rule rewrite this packet (protocol number `l4`, port
    /// `dport`) to `dst` arriving on `iif` (`None`: sent from here)?
    pub fn applies(&self, iif: Option<&str>, dst: IpAddr, l4: u8, dport: Option<u16>) -> bool {
        let fam_ok = match self.family.as_str() {
            "ip" => dst.is_ipv4(),
            "ip6" => dst.is_ipv6(),
            _ => self.to.is_ipv4() == dst.is_ipv4(),
        };
        let hook_ok = (self.hook == "prerouting") == iif.is_some();
        let iif_ok = match &self.iif {
            Some(i) => iif == Some(i.as_str()),
            None => true,
        };
        let daddr_ok = self.daddr.is_none_or(|n| n.contains(&dst));
        let l4_ok = self.l4.is_none_or(|p| p == l4);
        let port_ok = match self.dport {
            Some(p) => dport == Some(p),
            None => true,
        };
        fam_ok && hook_ok && iif_ok && daddr_ok && l4_ok && port_ok
    }

    /// "10.0.0.2:8080" (or the address alone when the port stays).
    pub fn target(&self) -> String {
        match (self.to_port, self.to) {
            (Some(p), IpAddr::V6(a)) => format!("[{a}]:{p}"),
            (Some(p), a) => format!("{a}:{p}"),
            (None, a) => a.to_string(),
        }
    }
}

/// The destination-NAT rules of a ruleset, in the order they are tried
/// (chains by priority, rules in order).
pub fn parse_dnat(json: &str) -> Vec<DnatRule> {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    let mut chains = Vec::new();
    for it in &items {
        let c = &it["chain"];
        let hook = c["hook"].as_str().unwrap_or("");
        if c["type"] == "nat" && (hook == "prerouting" || hook == "output") {
            chains.push((
                c["prio"].as_i64().unwrap_or(0),
                c["family"].as_str().unwrap_or("").to_string(),
                c["table"].as_str().unwrap_or("").to_string(),
                c["name"].as_str().unwrap_or("").to_string(),
                hook.to_string(),
            ));
        }
    }
    chains.sort_by_key(|c| c.0);
    let mut rules = Vec::new();
    for (_, fam, table, chain, hook) in &chains {
        for it in &items {
            let r = &it["rule"];
            if r["family"].as_str() != Some(fam)
                || r["table"].as_str() != Some(table)
                || r["chain"].as_str() != Some(chain)
            {
                continue;
            }
            let mut rule = DnatRule {
                hook: hook.clone(),
                family: fam.clone(),
                table: table.clone(),
                handle: r["handle"].as_u64().unwrap_or(0),
                iif: None,
                daddr: None,
                l4: None,
                dport: None,
                to: IpAddr::from([0, 0, 0, 0]),
                to_port: None,
                unsure: false,
            };
            let mut to = None;
            for e in r["expr"].as_array().cloned().unwrap_or_default() {
                if let Some(d) = e.get("dnat") {
                    to = d["addr"].as_str().and_then(|a| a.parse().ok());
                    rule.to_port = d["port"].as_u64().and_then(|p| u16::try_from(p).ok());
                } else if let Some(m) = e.get("match") {
                    let (left, right) = (&m["left"], &m["right"]);
                    if m["op"].as_str().unwrap_or("==") != "==" {
                        rule.unsure = true;
                        continue;
                    }
                    let meta = left["meta"]["key"].as_str();
                    let pl = &left["payload"];
                    match (meta, pl["protocol"].as_str(), pl["field"].as_str()) {
                        (Some("iifname" | "iif"), _, _) => {
                            rule.iif = right.as_str().map(str::to_string)
                        }
                        (Some("nfproto"), _, _) => {}
                        (Some("l4proto"), _, _) => {
                            rule.l4 = match right.as_str() {
                                Some("tcp") => Some(6),
                                Some("udp") => Some(17),
                                _ => right.as_u64().and_then(|n| u8::try_from(n).ok()),
                            }
                        }
                        (_, Some("ip" | "ip6"), Some("daddr")) => rule.daddr = prefix_of(right),
                        (_, Some(p @ ("tcp" | "udp")), Some("dport")) => {
                            rule.l4 = Some(if p == "tcp" { 6 } else { 17 });
                            rule.dport = right.as_u64().and_then(|n| u16::try_from(n).ok());
                            if rule.dport.is_none() {
                                rule.unsure = true;
                            }
                        }
                        _ => rule.unsure = true,
                    }
                }
            }
            if let Some(t) = to {
                rule.to = t;
                rules.push(rule);
            }
        }
    }
    rules
}

fn prefix_of(v: &Value) -> Option<IpNet> {
    if let Some(s) = v.as_str() {
        let ip: IpAddr = s.parse().ok()?;
        return IpNet::new(ip, if ip.is_ipv4() { 32 } else { 128 }).ok();
    }
    let p = &v["prefix"];
    let ip: IpAddr = p["addr"].as_str()?.parse().ok()?;
    IpNet::new(ip, u8::try_from(p["len"].as_u64()?).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerade_and_snat_rules_are_read_with_their_matches() {
        let json = r#"{"nftables":[{"metainfo":{"version":"1.0.6"}},
 {"table":{"family":"inet","name":"t","handle":1}},
 {"chain":{"family":"inet","table":"t","name":"postrouting","handle":1,"type":"nat","hook":"postrouting","prio":100,"policy":"accept"}},
 {"chain":{"family":"inet","table":"t","name":"forward","handle":4,"type":"filter","hook":"forward","prio":0,"policy":"drop"}},
 {"rule":{"family":"inet","table":"t","chain":"postrouting","handle":2,"expr":[
   {"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"10.0.0.0","len":24}}}},
   {"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"uplink"}},
   {"masquerade":null}]}},
 {"rule":{"family":"inet","table":"t","chain":"postrouting","handle":3,"expr":[
   {"match":{"op":"==","left":{"meta":{"key":"oif"}},"right":"lo"}},
   {"snat":{"family":"ip","addr":"1.2.3.4"}}]}},
 {"rule":{"family":"inet","table":"t","chain":"forward","handle":5,"expr":[{"drop":null}]}}]}"#;
        let rules = parse(json);
        assert_eq!(rules.len(), 2);
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(rules[0].applies(src, "uplink"));
        assert!(!rules[0].applies(src, "eth0"));
        assert!(!rules[0].applies("10.1.0.2".parse().unwrap(), "uplink"));
        assert_eq!(rules[1].to, Some("1.2.3.4".parse().unwrap()));
        assert!(rules[1].applies(src, "lo"));
        assert_eq!(parse("not json"), Vec::new());
    }

    #[test]
    fn dnat_rules_are_read_with_their_matches() {
        // What dnat(r, #{proto: "tcp", dport: 80, to: "10.0.0.2:8080",
        // iif: "wan"}) and a daddr one make.
        let json = r#"{"nftables":[
 {"chain":{"family":"inet","table":"t","name":"prerouting","handle":2,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}},
 {"rule":{"family":"inet","table":"t","chain":"prerouting","handle":3,"expr":[
   {"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv4"}},
   {"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"wan"}},
   {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}},
   {"dnat":{"family":"ip","addr":"10.0.0.2","port":8080}}]}},
 {"rule":{"family":"inet","table":"t","chain":"prerouting","handle":7,"expr":[
   {"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"203.0.113.1"}},
   {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":81}},
   {"dnat":{"family":"ip","addr":"10.0.0.3"}}]}}]}"#;
        let r = parse_dnat(json);
        assert_eq!(r.len(), 2);
        let pub_ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(r[0].applies(Some("wan"), pub_ip, 6, Some(80)));
        assert!(!r[0].applies(Some("lan"), pub_ip, 6, Some(80)));
        assert!(!r[0].applies(Some("wan"), pub_ip, 17, Some(80)));
        assert!(!r[0].applies(None, pub_ip, 6, Some(80)));
        assert_eq!(r[0].target(), "10.0.0.2:8080");
        assert!(r[1].applies(Some("lan"), pub_ip, 6, Some(81)));
        assert!(!r[1].applies(Some("lan"), "10.9.9.9".parse().unwrap(), 6, Some(81)));
        assert_eq!(
            (r[1].target(), r[1].unsure),
            ("10.0.0.3".to_string(), false)
        );
    }
}
