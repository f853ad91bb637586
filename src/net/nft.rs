//! nf_tables rules: `nft -j -f -` fed with rulesets built by the `nftables`
//! crate (the JSON API, as Podman's netavark does), run inside the target
//! namespace. Everything nslab adds lives in one `inet` table per lab, so
//! deleting that table removes exactly what the lab added and nothing else.

use std::borrow::Cow;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, NfCmd, NfListObject, Nftables, Rule, Set, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{NetError, Result, exec};

const FAMILY: NfFamily = NfFamily::INet;

/// The filter chains a lab can put rules in (iptables' INPUT, FORWARD, OUTPUT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Input,
    Forward,
    Output,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
        }
    }

    fn nf(self) -> NfHook {
        match self {
            Hook::Input => NfHook::Input,
            Hook::Forward => NfHook::Forward,
            Hook::Output => NfHook::Output,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

impl Verdict {
    fn stmt(self) -> Statement<'static> {
        match self {
            Verdict::Accept => Statement::Accept(None),
            Verdict::Drop => Statement::Drop(None),
        }
    }
}

/// Layer-4 protocols a rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

impl L4 {
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
            L4::Icmpv6 => "icmpv6",
        }
    }

    pub fn has_ports(self) -> bool {
        matches!(self, L4::Tcp | L4::Udp)
    }
}

/// What a filter rule matches; every field left empty matches anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matches {
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub proto: Option<L4>,
    pub saddr: Option<IpNet>,
    pub daddr: Option<IpNet>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// Conntrack states (`ct state established,related`).
    pub state: Vec<String>,
}

/// `iptables -A CHAIN … -j ACCEPT|DROP`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterRule {
    pub hook: Hook,
    pub matches: Matches,
    pub verdict: Verdict,
}

fn eq<'a>(left: Expression<'a>, right: Expression<'a>) -> Statement<'a> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn field(protocol: &'static str, name: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: name.into(),
        },
    )))
}

fn net_expr(net: IpNet) -> Expression<'static> {
    let net = net.trunc();
    let addr = Expression::String(Cow::Owned(net.addr().to_string()));
    if net.prefix_len() == net.max_prefix_len() {
        addr
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr),
            len: u32::from(net.prefix_len()),
        }))
    }
}

fn addr_match(net: IpNet, dir: &'static str) -> Statement<'static> {
    let proto = match net.addr() {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    };
    eq(field(proto, dir), net_expr(net))
}

fn state_match(states: &[String]) -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::CT(nftables::expr::CT {
            key: "state".into(),
            family: None,
            dir: None,
        })),
        right: Expression::List(
            states
                .iter()
                .map(|s| Expression::String(Cow::Owned(s.clone())))
                .collect(),
        ),
        op: Operator::IN,
    })
}

impl Matches {
    fn statements(&self) -> Vec<Statement<'static>> {
        let mut s = Vec::new();
        let name = |n: &String| Expression::String(Cow::Owned(n.clone()));
        if let Some(i) = &self.iif {
            s.push(eq(meta(MetaKey::Iifname), name(i)));
        }
        if let Some(o) = &self.oif {
            s.push(eq(meta(MetaKey::Oifname), name(o)));
        }
        if let Some(a) = self.saddr {
            s.push(addr_match(a, "saddr"));
        }
        if let Some(a) = self.daddr {
            s.push(addr_match(a, "daddr"));
        }
        if let Some(p) = self.proto {
            s.push(eq(
                meta(MetaKey::L4proto),
                Expression::String(p.name().into()),
            ));
            if let Some(port) = self.sport {
                s.push(eq(
                    field(p.name(), "sport"),
                    Expression::Number(port.into()),
                ));
            }
            if let Some(port) = self.dport {
                s.push(eq(
                    field(p.name(), "dport"),
                    Expression::Number(port.into()),
                ));
            }
        }
        if !self.state.is_empty() {
            s.push(state_match(&self.state));
        }
        s
    }
}

fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: FAMILY,
        name: Cow::Owned(name.to_string()),
        handle: None,
    })
}

fn filter_chain(table: &str, hook: Hook, policy: Option<Verdict>) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: FAMILY,
        table: Cow::Owned(table.to_string()),
        name: hook.name().into(),
        _type: Some(NfChainType::Filter),
        hook: Some(hook.nf()),
        prio: Some(0),
        // Without a policy an existing chain keeps its own; a new one accepts.
        policy: policy.map(|v| match v {
            Verdict::Accept => NfChainPolicy::Accept,
            Verdict::Drop => NfChainPolicy::Drop,
        }),
        ..Chain::default()
    })
}

fn nat_chain(table: &str) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: FAMILY,
        table: Cow::Owned(table.to_string()),
        name: "postrouting".into(),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Postrouting),
        // srcnat: after the filter chains, as iptables' nat POSTROUTING.
        prio: Some(100),
        ..Chain::default()
    })
}

fn owner_set(table: &str, owner: &str) -> NfListObject<'static> {
    NfListObject::Set(Box::new(Set {
        family: FAMILY,
        table: Cow::Owned(table.to_string()),
        name: Cow::Owned(owner.to_string()),
        ..Set::default()
    }))
}

fn rule(table: &str, chain: &'static str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: FAMILY,
        table: Cow::Owned(table.to_string()),
        chain: chain.into(),
        expr: Cow::Owned(expr),
        ..Rule::default()
    })
}

/// Builds rulesets for one lab's table.
pub struct Ruleset {
    batch: Batch<'static>,
}

impl Ruleset {
    /// Starts a ruleset; `create: Some(owner)` makes the table, failing if
    /// one of that name exists already (so a lab never adopts somebody
    /// else's table), with an empty set named `owner` in it: made in the
    /// same transaction, it tells this lab's table from any other of the
    /// same name later (see `delete_owned`).
    pub fn new(table_name: &str, create: Option<&str>) -> Ruleset {
        let mut batch = Batch::new();
        match create {
            Some(owner) => {
                batch.add_cmd(NfCmd::Create(table(table_name)));
                batch.add(owner_set(table_name, owner));
            }
            None => batch.add(table(table_name)),
        }
        Ruleset { batch }
    }

    /// `iptables -A CHAIN … -j ACCEPT|DROP`.
    pub fn filter(mut self, table: &str, r: &FilterRule) -> Ruleset {
        self.batch.add(filter_chain(table, r.hook, None));
        let mut expr = r.matches.statements();
        expr.push(r.verdict.stmt());
        self.batch.add(rule(table, r.hook.name(), expr));
        self
    }

    /// `iptables -P CHAIN ACCEPT|DROP`.
    pub fn policy(mut self, table: &str, hook: Hook, v: Verdict) -> Ruleset {
        self.batch.add(filter_chain(table, hook, Some(v)));
        self
    }

    /// `iptables -t nat -A POSTROUTING -s SRC -o OIF -j MASQUERADE` plus the
    /// FORWARD accepts out through OIF and for replies back in.
    pub fn masquerade(mut self, table: &str, src: IpNet, oif: &str) -> Ruleset {
        let oif_m = || {
            eq(
                meta(MetaKey::Oifname),
                Expression::String(oif.to_string().into()),
            )
        };
        let iif_m = || {
            eq(
                meta(MetaKey::Iifname),
                Expression::String(oif.to_string().into()),
            )
        };
        self.batch.add(nat_chain(table));
        self.batch.add(rule(
            table,
            "postrouting",
            vec![
                addr_match(src, "saddr"),
                oif_m(),
                Statement::Masquerade(None),
            ],
        ));
        self.batch.add(filter_chain(table, Hook::Forward, None));
        self.batch.add(rule(
            table,
            "forward",
            vec![addr_match(src, "saddr"), oif_m(), Statement::Accept(None)],
        ));
        self.batch.add(rule(
            table,
            "forward",
            vec![
                iif_m(),
                addr_match(src, "daddr"),
                state_match(&["established".into(), "related".into()]),
                Statement::Accept(None),
            ],
        ));
        self
    }

    /// `nft delete table inet NAME`, only if it holds the set `owner`: one
    /// transaction deletes both, so it fails whole (ENOENT) when the table
    /// is gone or is not the one that set marks.
    pub fn delete_owned(table_name: &str, owner: &str) -> Ruleset {
        let mut batch = Batch::new();
        batch.delete(owner_set(table_name, owner));
        batch.delete(table(table_name));
        Ruleset { batch }
    }

    pub fn json(self) -> Result<String> {
        let n: Nftables = self.batch.to_nftables();
        serde_json::to_string(&n).map_err(|e| NetError::Other(format!("nft JSON: {e}")))
    }
}

/// Where `nft` is: `$NSLAB_NFT`, else `$PATH`, else the sbin directories
/// (not on an ordinary user's PATH on Debian, yet rootless labs need it).
pub fn program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NSLAB_NFT") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
}

/// Runs `nft -j -f -` with `ruleset` inside `ns`: one atomic transaction.
pub fn apply(ns: BorrowedFd<'_>, nft: &Path, ruleset: Ruleset) -> Result<()> {
    run(ns, nft, &["-j", "-f", "-"], &ruleset.json()?).map(|_| ())
}

/// `nft list table inet NAME` succeeds: the table exists in `ns`.
pub fn has_table(ns: BorrowedFd<'_>, nft: &Path, name: &str) -> Result<bool> {
    match run(ns, nft, &["list", "table", "inet", name], "") {
        Ok(_) => Ok(true),
        Err(e) if e.raw_errno() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `nft ARGS…` inside `ns` with `input` on its stdin; its stdout, or
/// its first error line.
fn run(ns: BorrowedFd<'_>, nft: &Path, args: &[&str], input: &str) -> Result<String> {
    let mut argv = vec![nft.to_string_lossy().into_owned()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut cmd = exec::command(ns, &argv, false)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| NetError::os("start nft", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means nft exited early; its status tells why.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::os("wait for nft", e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .or_else(|| stderr.lines().next())
        .unwrap_or("nft failed")
        .trim_start_matches("Error: ")
        .to_string();
    Err(NetError::Nft(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_rule_json_matches_what_nft_expects() {
        let r = FilterRule {
            hook: Hook::Input,
            matches: Matches {
                iif: Some("veth1".into()),
                proto: Some(L4::Tcp),
                dport: Some(80),
                saddr: Some("10.0.0.7/24".parse().unwrap()),
                ..Matches::default()
            },
            verdict: Verdict::Accept,
        };
        let json = Ruleset::new("nslab-t", Some("owner_1"))
            .filter("nslab-t", &r)
            .json()
            .unwrap();
        assert!(
            json.contains(r#"{"create":{"table":{"family":"inet","name":"nslab-t"}}}"#),
            "{json}"
        );
        assert!(json.contains(r#""hook":"input""#), "{json}");
        assert!(!json.contains("policy"), "{json}");
        assert!(
            json.contains(r#"{"prefix":{"addr":"10.0.0.0","len":24}}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"payload":{"protocol":"tcp","field":"dport"}},"right":80"#),
            "{json}"
        );
        assert!(json.ends_with(r#"{"accept":null}]}}}]}"#), "{json}");
    }
}
