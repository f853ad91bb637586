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
}
