//! nft's own syntax for the JSON transactions nslab sends (`nft -j -f -`),
//! for people to read: `nslab plan` writes `add rule inet nslab-lab
//! forward meta iifname "wan0" ct state established,related accept` where
//! the JSON takes forty lines. Only the shapes nslab builds are known here
//! (see `nft::Ruleset`); for anything else `text` says None and the caller
//! keeps the JSON, which is never wrong.

use serde_json::{Map, Value};

/// The transaction `json` (`{"nftables": [...]}`) as an `nft -f` file, one
/// command per line; None when a part of it has no translation here.
pub fn text(json: &str) -> Option<String> {
    let v: Value = serde_json::from_str(json).ok()?;
    let mut out = String::new();
    for cmd in v.get("nftables")?.as_array()? {
        let (verb, obj) = single(cmd)?;
        if !matches!(verb, "add" | "create" | "delete") {
            return None;
        }
        let (kind, body) = single(obj)?;
        let body = body.as_object()?;
        out.push_str(&command(verb, kind, body)?);
        out.push('\n');
    }
    Some(out)
}

/// The one key and value of an object like `{"add": {...}}`.
fn single(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    m.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn s<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key)?.as_str().filter(|x| is_word(x))
}

/// A table, chain or set name, a family, a keyword: nothing nft would read
/// as more than one token.
pub(super) fn is_word(x: &str) -> bool {
    !x.is_empty()
        && x.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// A string as nft quotes it; None for one a double-quoted string cannot hold.
pub(super) fn quoted(x: &str) -> Option<String> {
    (!x.chars().any(|c| c == '"' || c == '\\' || c.is_control())).then(|| format!("\"{x}\""))
}

fn command(verb: &str, kind: &str, b: &Map<String, Value>) -> Option<String> {
    let family = s(b, "family")?;
    match kind {
        "table" => Some(format!("{verb} table {family} {}", s(b, "name")?)),
        "set" => {
            let head = format!("{verb} set {family} {} {}", s(b, "table")?, s(b, "name")?);
            if verb == "delete" {
                return Some(head);
            }
            Some(format!("{head} {{ type {}; }}", s(b, "type")?))
        }
        "chain" if verb == "add" => {
            let mut spec = format!(
                "type {} hook {} priority {};",
                s(b, "type")?,
                s(b, "hook")?,
                b.get("prio")?.as_i64()?
            );
            if let Some(p) = b.get("policy") {
                spec.push_str(&format!(" policy {};", p.as_str().filter(|p| is_word(p))?));
            }
            Some(format!(
                "add chain {family} {} {} {{ {spec} }}",
                s(b, "table")?,
                s(b, "name")?
            ))
        }
        "rule" if verb == "add" => {
            let mut line = format!("add rule {family} {} {}", s(b, "table")?, s(b, "chain")?);
            for stmt in b.get("expr")?.as_array()? {
                line.push(' ');
                line.push_str(&statement(stmt)?);
            }
            if let Some(c) = b.get("comment") {
                line.push_str(&format!(" comment {}", quoted(c.as_str()?)?));
            }
            Some(line)
        }
        _ => None,
    }
}

fn statement(stmt: &Value) -> Option<String> {
    let (kind, body) = single(stmt)?;
    match (kind, body) {
        ("accept" | "drop" | "masquerade" | "counter", Value::Null) => Some(kind.to_string()),
        ("reject", Value::Null) => Some("reject".into()),
        ("reject", Value::Object(m)) if m.len() == 1 && m.get("type")? == "tcp reset" => {
            Some("reject with tcp reset".into())
        }
        ("log", Value::Object(m)) if m.len() == 1 => Some(format!(
            "log prefix {}",
            quoted(m.get("prefix")?.as_str()?)?
        )),
        ("snat" | "dnat", Value::Object(m)) => nat(kind, m),
        ("match", Value::Object(m)) => matched(m),
        _ => None,
    }
}

/// `snat ip to 10.0.0.1`, `dnat ip6 to [fd00::2]:5353`.
fn nat(kind: &str, m: &Map<String, Value>) -> Option<String> {
    if m.keys()
        .any(|k| !matches!(k.as_str(), "addr" | "family" | "port"))
    {
        return None;
    }
    let family = s(m, "family")?;
    let addr: std::net::IpAddr = m.get("addr")?.as_str()?.parse().ok()?;
    let to = match (m.get("port"), addr) {
        (None, a) => a.to_string(),
        (Some(p), std::net::IpAddr::V4(a)) => format!("{a}:{}", p.as_u64()?),
        (Some(p), std::net::IpAddr::V6(a)) => format!("[{a}]:{}", p.as_u64()?),
    };
    Some(format!("{kind} {family} to {to}"))
}

/// `ip saddr 10.0.0.0/24`, `iifname "lan0"`, `ct state
/// established,related`, `ct status dnat`.
fn matched(m: &Map<String, Value>) -> Option<String> {
    let (left, quote) = selector(m.get("left")?)?;
    let right = m.get("right")?;
    let value = |v: &Value| -> Option<String> {
        match v {
            Value::String(x) if quote => quoted(x),
            Value::String(x) => Some(x.clone()).filter(|x| is_word(x)),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => {
                let p = o.get("prefix")?.as_object()?;
                let addr: std::net::IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
                Some(format!("{addr}/{}", p.get("len")?.as_u64()?))
            }
            _ => None,
        }
    };
    let right = match right {
        // The flags of a bitmask (ct state, ct status): nft reads JSON's
        // list as `established,related`, a test of bits, where `{ … }`
        // would be a set lookup (same packets, other bytecode).
        Value::Array(xs) if left.starts_with("ct ") => {
            let xs: Option<Vec<String>> = xs.iter().map(value).collect();
            xs?.join(",")
        }
        Value::Array(_) => return None,
        v => value(v)?,
    };
    match m.get("op")?.as_str()? {
        "==" | "in" => Some(format!("{left} {right}")),
        "!=" => Some(format!("{left} != {right}")),
        _ => None,
    }
}

/// What a match looks at, and whether its values are quoted strings
/// (interface names) rather than keywords and addresses.
fn selector(left: &Value) -> Option<(String, bool)> {
    let (kind, body) = single(left)?;
    let body = body.as_object()?;
    match kind {
        "meta" => {
            let key = s(body, "key")?;
            Some((format!("meta {key}"), key.ends_with("ifname")))
        }
        "ct" => Some((format!("ct {}", s(body, "key")?), false)),
        "payload" => Some((
            format!("{} {}", s(body, "protocol")?, s(body, "field")?),
            false,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_nslab_sends_read_as_nft_writes_them() {
        let json = r#"{"nftables": [
 {"create": {"table": {"family": "inet", "name": "nslab-gw"}}},
 {"add": {"set": {"family": "inet", "name": "owner_1", "table": "nslab-gw", "type": "ipv4_addr"}}},
 {"add": {"chain": {"family": "inet", "hook": "input", "name": "input", "policy": "drop", "prio": 0, "table": "nslab-gw", "type": "filter"}}},
 {"add": {"rule": {"chain": "input", "comment": "ssh in", "expr": [
   {"match": {"left": {"meta": {"key": "iifname"}}, "op": "==", "right": "lan0"}},
   {"match": {"left": {"payload": {"field": "saddr", "protocol": "ip"}}, "op": "==", "right": {"prefix": {"addr": "10.0.0.0", "len": 24}}}},
   {"match": {"left": {"ct": {"key": "state"}}, "op": "in", "right": ["established", "related"]}},
   {"match": {"left": {"payload": {"field": "dport", "protocol": "tcp"}}, "op": "==", "right": 22}},
   {"counter": null}, {"log": {"prefix": "ssh: "}}, {"reject": {"type": "tcp reset"}}],
   "family": "inet", "table": "nslab-gw"}}},
 {"add": {"rule": {"chain": "prerouting", "expr": [
   {"dnat": {"addr": "fd00::2", "family": "ip6", "port": 5353}}], "family": "inet", "table": "nslab-gw"}}}
]}"#;
        assert_eq!(
            text(json).as_deref(),
            Some(
                "create table inet nslab-gw\n\
                 add set inet nslab-gw owner_1 { type ipv4_addr; }\n\
                 add chain inet nslab-gw input { type filter hook input priority 0; policy drop; }\n\
                 add rule inet nslab-gw input meta iifname \"lan0\" ip saddr 10.0.0.0/24 \
                 ct state established,related tcp dport 22 counter log prefix \"ssh: \" \
                 reject with tcp reset comment \"ssh in\"\n\
                 add rule inet nslab-gw prerouting dnat ip6 to [fd00::2]:5353\n"
            )
        );
    }

    #[test]
    fn anything_else_stays_json() {
        for json in [
            // A statement this file does not know.
            r#"{"nftables": [{"add": {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"limit": {"rate": 1}}]}}}]}"#,
            // A name nft's syntax cannot hold as it stands.
            r#"{"nftables": [{"add": {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"match": {"left": {"meta": {"key": "iifname"}}, "op": "==", "right": "a\"b"}}]}}}]}"#,
            r#"{"nftables": [{"add": {"table": {"family": "inet", "name": "t; flush ruleset"}}}]}"#,
            "not json",
        ] {
            assert_eq!(text(json), None, "{json}");
        }
    }
}
