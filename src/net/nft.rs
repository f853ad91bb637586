//! nf_tables rules: `nft -j -f -` fed with rulesets built by the `nftables`
//! crate (the JSON API, as Podman's netavark does), run inside the target
//! namespace. Everything nslab adds lives in one `inet` table per lab, so
//! deleting that table removes exactly what the lab added and nothing else.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, NfCmd, NfListObject, Nftables, Rule, Set, Table};
use nftables::stmt::{
    Counter, Log, Match, NAT, NATFamily, Operator, Reject, RejectType, Statement,
};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{NetError, Result, exec};

const FAMILY: NfFamily = NfFamily::INet;

/// The filter chains a lab can put rules in (iptables' INPUT, FORWARD, OUTPUT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What a filter rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Accept,
    Drop,
    /// Drop and tell the sender: a TCP reset for TCP rules, else ICMP
    /// port unreachable (iptables' REJECT), so a client fails at once
    /// instead of waiting out its timeout.
    Reject,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        }
    }

    fn stmt(self, proto: Option<L4>) -> Statement<'static> {
        match self {
            Verdict::Accept => Statement::Accept(None),
            Verdict::Drop => Statement::Drop(None),
            Verdict::Reject if proto == Some(L4::Tcp) => {
                Statement::Reject(Some(Reject::new(Some(RejectType::TCPReset), None)))
            }
            // In an inet table a plain reject is ICMPX port unreachable:
            // ICMP for IPv4 packets, ICMPv6 for IPv6 ones.
            Verdict::Reject => Statement::Reject(None),
        }
    }
}

/// A chain's policy: what happens to packets no rule decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Policy {
    Accept,
    Drop,
}

/// Layer-4 protocols a rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// `iptables -A CHAIN … [-j LOG --log-prefix P] -j ACCEPT|DROP|REJECT`,
/// with an optional packet counter and comment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FilterRule {
    pub hook: Hook,
    pub matches: Matches,
    pub verdict: Verdict,
    pub counter: bool,
    pub log: Option<String>,
    pub comment: Option<String>,
}

/// Port forwarding: `iptables -t nat -A PREROUTING [-i IIF] [-d DADDR]
/// [-p P --dport D] -j DNAT --to-destination TO[:PORT]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DnatRule {
    pub iif: Option<String>,
    pub daddr: Option<IpNet>,
    pub proto: Option<L4>,
    pub dport: Option<u16>,
    pub to: IpAddr,
    pub port: Option<u16>,
}

/// `iptables -t nat -A POSTROUTING -s SRC -o OIF -j SNAT --to-source TO`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnatRule {
    pub src: IpNet,
    pub oif: String,
    pub to: IpAddr,
}

/// One change to a lab's table, as a script asked for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Filter(FilterRule),
    Policy(Hook, Policy),
    Masquerade { src: IpNet, oif: String },
    Dnat(DnatRule),
    Snat(SnatRule),
}

impl Op {
    /// What the op does, for "cannot …" messages.
    pub fn doing(&self) -> &'static str {
        match self {
            Op::Filter(_) => "add a firewall rule",
            Op::Policy(..) => "set a chain policy",
            Op::Masquerade { .. } => "add masquerading",
            Op::Dnat(_) => "add port forwarding (DNAT)",
            Op::Snat(_) => "add source NAT",
        }
    }
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

/// `ct status dnat`: the packet belongs to a connection DNAT translated
/// (either way: the flag is on the conntrack entry).
fn dnat_flow() -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::CT(nftables::expr::CT {
            key: "status".into(),
            family: None,
            dir: None,
        })),
        right: Expression::String("dnat".into()),
        op: Operator::IN,
    })
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

fn filter_chain(table: &str, hook: Hook, policy: Option<Policy>) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: FAMILY,
        table: Cow::Owned(table.to_string()),
        name: hook.name().into(),
        _type: Some(NfChainType::Filter),
        hook: Some(hook.nf()),
        prio: Some(0),
        // Without a policy an existing chain keeps its own; a new one accepts.
        policy: policy.map(|v| match v {
            Policy::Accept => NfChainPolicy::Accept,
            Policy::Drop => NfChainPolicy::Drop,
        }),
        ..Chain::default()
    })
}

/// The NAT chains: "postrouting" (srcnat, 100: after the filter chains, as
/// iptables' nat POSTROUTING) and "prerouting" (dstnat, -100: before
/// routing, so a translated destination is routed as such).
fn nat_chain(table: &str, name: &'static str) -> NfListObject<'static> {
    let (hook, prio) = if name == "prerouting" {
        (NfHook::Prerouting, -100)
    } else {
        (NfHook::Postrouting, 100)
    };
    NfListObject::Chain(Chain {
        family: FAMILY,
        table: Cow::Owned(table.to_string()),
        name: name.into(),
        _type: Some(NfChainType::NAT),
        hook: Some(hook),
        prio: Some(prio),
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

/// Builds rulesets for one lab's table: one `nft` transaction.
pub struct Ruleset {
    batch: Batch<'static>,
    table: String,
    /// Chains added in this transaction already: each is added once, not
    /// once per rule (adding an existing chain is a no-op, but thousands of
    /// them are not free).
    chains: HashSet<&'static str>,
    /// The same transaction in nft's own syntax, written along with the
    /// batch: nft reads it in about half the time it takes to read the
    /// JSON (libjansson and the JSON layer's allocations were most of
    /// nft's user time in rules-2000), and nslab then never serializes
    /// JSON unless a plan shows it. None once a part has no such form (a
    /// comment with a double quote in it): the JSON is sent instead.
    text: Option<String>,
    /// Chains an earlier transaction made in this table: the text leaves
    /// out adding them again (the JSON, which a plan shows, keeps it). nft
    /// takes half again as long over a transaction that re-adds a base
    /// chain (500 rules after 1500: 82 against 139 ms).
    made: HashSet<&'static str>,
}

impl Ruleset {
    /// Starts a ruleset; `create: Some(owner)` makes the table, failing if
    /// one of that name exists already (so a lab never adopts somebody
    /// else's table), with an empty set named `owner` in it: made in the
    /// same transaction, it tells this lab's table from any other of the
    /// same name later (see `delete_owned`).
    pub fn new(table_name: &str, create: Option<&str>) -> Ruleset {
        let mut batch = Batch::new();
        let t = word(table_name);
        let text = match create {
            Some(owner) => {
                batch.add_cmd(NfCmd::Create(table(table_name)));
                batch.add(owner_set(table_name, owner));
                t.zip(word(owner)).map(|(t, o)| {
                    format!("create table inet {t}\nadd set inet {t} {o} {{ type ipv4_addr; }}\n")
                })
            }
            None => {
                batch.add(table(table_name));
                t.map(|t| format!("add table inet {t}\n"))
            }
        };
        Ruleset {
            batch,
            table: table_name.to_string(),
            chains: HashSet::new(),
            text,
            made: HashSet::new(),
        }
    }

    /// The chains an earlier transaction in this table made.
    pub fn with_chains_made(mut self, made: impl IntoIterator<Item = &'static str>) -> Ruleset {
        self.made.extend(made);
        self
    }

    /// The chains this transaction adds (or made before).
    pub fn chains(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.chains.iter().copied()
    }

    /// Appends one command to the text, or gives the text up.
    fn line(&mut self, cmd: Option<String>) {
        match (&mut self.text, cmd) {
            (Some(t), Some(c)) => {
                t.push_str(&c);
                t.push('\n');
            }
            (t, _) => *t = None,
        }
    }

    /// `add chain inet T NAME { type … hook … priority …; [policy …;] }`.
    fn chain_line(&mut self, name: &'static str, policy: Option<Policy>) {
        let (kind, prio) = match name {
            "prerouting" => ("nat", -100),
            "postrouting" => ("nat", 100),
            _ => ("filter", 0),
        };
        let policy = match policy {
            None => "",
            Some(Policy::Accept) => " policy accept;",
            Some(Policy::Drop) => " policy drop;",
        };
        let cmd = word(&self.table).map(|t| {
            format!(
                "add chain inet {t} {name} {{ type {kind} hook {name} priority {prio};{policy} }}"
            )
        });
        self.line(cmd);
    }

    /// `add rule inet T CHAIN STATEMENTS… [comment "…"]`.
    fn rule_line(&mut self, chain: &'static str, expr: &[Statement<'_>], comment: Option<&str>) {
        if self.text.is_none() {
            return;
        }
        let cmd = (|| {
            let mut l = format!("add rule inet {} {chain}", word(&self.table)?);
            for s in expr {
                l.push(' ');
                l.push_str(&stmt_text(s)?);
            }
            if let Some(c) = comment {
                l.push_str(" comment ");
                l.push_str(&super::nft_text::quoted(c)?);
            }
            Some(l)
        })();
        self.line(cmd);
    }

    /// The transaction in nft's own syntax (`nft -f`), when it has one.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    fn chain(&mut self, name: &'static str) {
        if !self.chains.insert(name) {
            return;
        }
        if !self.made.contains(name) {
            self.chain_line(name, None);
        }
        let c = match name {
            "input" => filter_chain(&self.table, Hook::Input, None),
            "forward" => filter_chain(&self.table, Hook::Forward, None),
            "output" => filter_chain(&self.table, Hook::Output, None),
            nat => nat_chain(&self.table, nat),
        };
        self.batch.add(c);
    }

    fn rule(&mut self, chain: &'static str, expr: Vec<Statement<'static>>) {
        self.chain(chain);
        self.rule_line(chain, &expr, None);
        self.batch.add(rule(&self.table, chain, expr));
    }

    /// Adds one op to the transaction.
    pub fn op(mut self, op: &Op) -> Ruleset {
        match op {
            Op::Filter(r) => self.filter(r),
            Op::Policy(hook, p) => {
                // Always sent, even when the chain was added before in
                // this transaction: that add carried no policy.
                self.chains.insert(hook.name());
                self.chain_line(hook.name(), Some(*p));
                self.batch.add(filter_chain(&self.table, *hook, Some(*p)));
            }
            Op::Masquerade { src, oif } => {
                self.rule(
                    "postrouting",
                    vec![
                        addr_match(*src, "saddr"),
                        eq(meta(MetaKey::Oifname), name_expr(oif)),
                        Statement::Masquerade(None),
                    ],
                );
                self.forward_out_and_back(*src, oif);
            }
            Op::Snat(r) => {
                self.rule(
                    "postrouting",
                    vec![
                        addr_match(r.src, "saddr"),
                        eq(meta(MetaKey::Oifname), name_expr(&r.oif)),
                        Statement::SNAT(Some(nat_to(r.to, None))),
                    ],
                );
                self.forward_out_and_back(r.src, &r.oif);
            }
            Op::Dnat(r) => self.dnat(r),
        }
        self
    }

    /// `iptables -A CHAIN … -j ACCEPT|DROP|REJECT`.
    fn filter(&mut self, r: &FilterRule) {
        let mut expr = r.matches.statements();
        if r.counter {
            expr.push(Statement::Counter(Counter::Anonymous(None)));
        }
        if let Some(prefix) = &r.log {
            expr.push(Statement::Log(Some(Log {
                prefix: Some(Cow::Owned(prefix.clone())),
                ..Log::new(None)
            })));
        }
        expr.push(r.verdict.stmt(r.matches.proto));
        let chain = r.hook.name();
        self.chain(chain);
        self.rule_line(chain, &expr, r.comment.as_deref());
        self.batch.add(NfListObject::Rule(Rule {
            family: FAMILY,
            table: Cow::Owned(self.table.clone()),
            chain: chain.into(),
            expr: Cow::Owned(expr),
            comment: r.comment.clone().map(Cow::Owned),
            ..Rule::default()
        }));
    }

    /// The FORWARD accepts that go with source NAT: out through OIF, and
    /// replies back in.
    fn forward_out_and_back(&mut self, src: IpNet, oif: &str) {
        self.rule(
            "forward",
            vec![
                addr_match(src, "saddr"),
                eq(meta(MetaKey::Oifname), name_expr(oif)),
                Statement::Accept(None),
            ],
        );
        self.rule(
            "forward",
            vec![
                eq(meta(MetaKey::Iifname), name_expr(oif)),
                addr_match(src, "daddr"),
                state_match(&["established".into(), "related".into()]),
                Statement::Accept(None),
            ],
        );
    }

    /// The DNAT rule in prerouting, and FORWARD accepts for the flows it
    /// translates (both ways), so that port forwarding works under a
    /// forward policy of drop too, whenever that policy is set.
    fn dnat(&mut self, r: &DnatRule) {
        let family = match r.to {
            IpAddr::V4(_) => "ipv4",
            IpAddr::V6(_) => "ipv6",
        };
        let m = Matches {
            iif: r.iif.clone(),
            daddr: r.daddr,
            proto: r.proto,
            dport: r.dport,
            ..Matches::default()
        };
        let mut expr = vec![eq(
            meta(MetaKey::Nfproto),
            Expression::String(family.into()),
        )];
        expr.extend(m.statements());
        expr.push(Statement::DNAT(Some(nat_to(r.to, r.port))));
        self.rule("prerouting", expr);
        // After translation: to TO, on the port it was translated to.
        let to = IpNet::from(r.to);
        let port = r.port.or(r.dport);
        let mut there = vec![addr_match(to, "daddr")];
        let mut back = vec![addr_match(to, "saddr")];
        if let Some(p) = r.proto {
            let l4 = eq(meta(MetaKey::L4proto), Expression::String(p.name().into()));
            there.push(l4.clone());
            back.push(l4);
            if let Some(port) = port {
                there.push(eq(
                    field(p.name(), "dport"),
                    Expression::Number(port.into()),
                ));
                back.push(eq(
                    field(p.name(), "sport"),
                    Expression::Number(port.into()),
                ));
            }
        }
        for mut e in [there, back] {
            e.push(dnat_flow());
            e.push(Statement::Accept(None));
            self.rule("forward", e);
        }
    }

    /// `nft delete table inet NAME`, only if it holds the set `owner`: one
    /// transaction deletes both, so it fails whole (ENOENT) when the table
    /// is gone or is not the one that set marks.
    pub fn delete_owned(table_name: &str, owner: &str) -> Ruleset {
        let mut batch = Batch::new();
        batch.delete(owner_set(table_name, owner));
        batch.delete(table(table_name));
        let text = word(table_name)
            .zip(word(owner))
            .map(|(t, o)| format!("delete set inet {t} {o}\ndelete table inet {t}\n"));
        Ruleset {
            batch,
            table: table_name.to_string(),
            chains: HashSet::new(),
            text,
            made: HashSet::new(),
        }
    }

    /// About how many bytes of JSON `op` adds to a transaction (nft's
    /// netlink messages for it are of the same order). Reckoned from its
    /// nft syntax, about 2/7 as long (a `tcp dport P accept` rule: 72
    /// bytes against 258), so that transactions keep the size they had
    /// when this measured the JSON itself (serializing each op's JSON twice
    /// cost more than nft took to read the rules).
    /// Chains are not counted: a transaction adds each once.
    pub fn size_hint(table: &str, op: &Op) -> usize {
        let mut base = Ruleset::new(table, None);
        base.chains
            .extend(["input", "forward", "output", "prerouting", "postrouting"]);
        let start = base.text.as_ref().map_or(0, String::len);
        match base.op(op) {
            Ruleset { text: Some(t), .. } => 7 * (t.len() - start) / 2,
            r => {
                let len = |r: Ruleset| {
                    serde_json::to_string(&r.batch.to_nftables()).map_or(0, |j| j.len())
                };
                len(r).saturating_sub(len(Ruleset::new(table, None)))
            }
        }
    }

    pub fn json(self) -> Result<String> {
        let n: Nftables = self.batch.to_nftables();
        serde_json::to_string(&n).map_err(|e| NetError::Other(format!("nft JSON: {e}")))
    }
}

/// A name nft's syntax takes as one token as it stands.
fn word(x: &str) -> Option<&str> {
    super::nft_text::is_word(x).then_some(x)
}

/// One statement in nft's syntax, as `nft_text` writes the same statement
/// from its JSON (a test holds the two together); None for any other.
fn stmt_text(s: &Statement<'_>) -> Option<String> {
    Some(match s {
        Statement::Accept(None) => "accept".into(),
        Statement::Drop(None) => "drop".into(),
        Statement::Masquerade(None) => "masquerade".into(),
        Statement::Counter(Counter::Anonymous(None)) => "counter".into(),
        Statement::Reject(None) => "reject".into(),
        Statement::Reject(Some(Reject {
            _type: Some(RejectType::TCPReset),
            expr: None,
        })) => "reject with tcp reset".into(),
        Statement::Log(Some(l))
            if *l
                == Log {
                    prefix: l.prefix.clone(),
                    ..Log::new(None)
                } =>
        {
            format!(
                "log prefix {}",
                super::nft_text::quoted(l.prefix.as_deref()?)?
            )
        }
        Statement::SNAT(Some(n)) => nat_text("snat", n)?,
        Statement::DNAT(Some(n)) => nat_text("dnat", n)?,
        Statement::Match(m) => match_text(m)?,
        _ => return None,
    })
}

/// `snat ip to 10.0.0.1`, `dnat ip6 to [fd00::2]:5353`.
fn nat_text(kind: &str, n: &NAT<'_>) -> Option<String> {
    let family = match n.family? {
        NATFamily::IP => "ip",
        NATFamily::IP6 => "ip6",
    };
    let Some(Expression::String(addr)) = &n.addr else {
        return None;
    };
    let addr: IpAddr = addr.parse().ok()?;
    if n.flags.is_some() {
        return None;
    }
    let to = match (&n.port, addr) {
        (None, a) => a.to_string(),
        (Some(Expression::Number(p)), IpAddr::V4(a)) => format!("{a}:{p}"),
        (Some(Expression::Number(p)), IpAddr::V6(a)) => format!("[{a}]:{p}"),
        _ => return None,
    };
    Some(format!("{kind} {family} to {to}"))
}

/// `ip saddr 10.0.0.0/24`, `meta iifname "lan0"`, `ct state
/// established,related`, `ct status dnat`.
fn match_text(m: &Match<'_>) -> Option<String> {
    if !matches!(m.op, Operator::EQ | Operator::IN) {
        return None;
    }
    let Expression::Named(left) = &m.left else {
        return None;
    };
    let (left, quote) = match left {
        NamedExpression::Meta(Meta { key }) => {
            let key = match key {
                MetaKey::Iifname => "iifname",
                MetaKey::Oifname => "oifname",
                MetaKey::L4proto => "l4proto",
                MetaKey::Nfproto => "nfproto",
                _ => return None,
            };
            (format!("meta {key}"), key.ends_with("ifname"))
        }
        NamedExpression::Payload(Payload::PayloadField(f)) => {
            (format!("{} {}", word(&f.protocol)?, word(&f.field)?), false)
        }
        NamedExpression::CT(ct) if ct.family.is_none() && ct.dir.is_none() => {
            (format!("ct {}", word(&ct.key)?), false)
        }
        _ => return None,
    };
    let value = |v: &Expression<'_>| -> Option<String> {
        match v {
            Expression::String(x) if quote => super::nft_text::quoted(x),
            Expression::String(x) => word(x).map(str::to_string),
            Expression::Number(n) => Some(n.to_string()),
            Expression::Named(NamedExpression::Prefix(p)) => match &*p.addr {
                Expression::String(a) => {
                    let a: IpAddr = a.parse().ok()?;
                    Some(format!("{a}/{}", p.len))
                }
                _ => None,
            },
            _ => None,
        }
    };
    let right = match &m.right {
        // The flags of a bitmask: `established,related` tests bits, as
        // JSON's list does.
        Expression::List(xs) if left.starts_with("ct ") => {
            xs.iter().map(value).collect::<Option<Vec<_>>>()?.join(",")
        }
        Expression::List(_) => return None,
        v => value(v)?,
    };
    Some(format!("{left} {right}"))
}

fn name_expr(name: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(name.to_string()))
}

/// `snat|dnat ip|ip6 to ADDR[:PORT]` (an inet table needs the family).
fn nat_to(to: IpAddr, port: Option<u16>) -> NAT<'static> {
    NAT {
        addr: Some(Expression::String(Cow::Owned(to.to_string()))),
        family: Some(match to {
            IpAddr::V4(_) => NATFamily::IP,
            IpAddr::V6(_) => NATFamily::IP6,
        }),
        port: port.map(|p| Expression::Number(p.into())),
        flags: None,
    }
}

/// A rule with a counter, as `nft -j list table` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterRow {
    pub chain: String,
    pub comment: Option<String>,
    pub packets: u64,
    pub bytes: u64,
}

/// The rules with a counter in the output of `nft -j list table …`, in
/// the order nft lists them (chain by chain, each in rule order).
pub fn counters(listing: &str) -> Result<Vec<CounterRow>> {
    let v: serde_json::Value = serde_json::from_str(listing)
        .map_err(|e| NetError::Other(format!("cannot read nft's JSON: {e}")))?;
    let mut out = Vec::new();
    let items = v["nftables"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for item in items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let exprs = rule["expr"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let Some(c) = exprs.iter().find_map(|e| e.get("counter")) else {
            continue;
        };
        out.push(CounterRow {
            chain: rule["chain"].as_str().unwrap_or("").to_string(),
            comment: rule["comment"].as_str().map(str::to_string),
            packets: c["packets"].as_u64().unwrap_or(0),
            bytes: c["bytes"].as_u64().unwrap_or(0),
        });
    }
    Ok(out)
}

/// One rule of `nft -j list ruleset`, as `ns.firewall()` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct FwRule {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: u64,
    pub comment: Option<String>,
    /// What the rule does with a packet it matches, in nft's words
    /// ("accept", "drop", "reject", "masquerade", "snat", "dnat",
    /// "jump X", "goto X", ...); None: it only matches, counts or logs.
    pub verdict: Option<String>,
    /// From its counter; None without one.
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
}

/// The rules in a `nft -j list ruleset` (or `list table`) listing, in the
/// order nft lists them.
pub fn fw_rules(listing: &str) -> Result<Vec<FwRule>> {
    let v: serde_json::Value = serde_json::from_str(listing)
        .map_err(|e| NetError::Other(format!("cannot read nft's JSON: {e}")))?;
    let items = v["nftables"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    Ok(items
        .iter()
        .filter_map(|item| item.get("rule"))
        .map(|rule| {
            let exprs = rule["expr"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let counter = exprs
                .iter()
                .find_map(|e| e.get("counter"))
                .filter(|c| c.is_object());
            FwRule {
                family: text(&rule["family"]),
                table: text(&rule["table"]),
                chain: text(&rule["chain"]),
                handle: rule["handle"].as_u64().unwrap_or(0),
                comment: rule["comment"].as_str().map(str::to_string),
                verdict: exprs.iter().filter_map(verdict).next_back(),
                packets: counter.and_then(|c| c["packets"].as_u64()),
                bytes: counter.and_then(|c| c["bytes"].as_u64()),
            }
        })
        .collect())
}

/// The verdict (or NAT statement) a rule's expression says, in nft's words.
fn verdict(e: &serde_json::Value) -> Option<String> {
    let (k, v) = e.as_object()?.iter().next()?;
    match k.as_str() {
        "accept" | "drop" | "continue" | "return" | "queue" | "reject" | "masquerade" | "snat"
        | "dnat" | "redirect" => Some(k.clone()),
        "jump" | "goto" => Some(format!("{k} {}", v["target"].as_str().unwrap_or(""))),
        _ => None,
    }
}

/// The rules of `nft -a list …` text, each as nft prints it (without its
/// `# handle N`): (chain, handle, text).
pub fn rule_lines(listing: &str) -> Vec<(String, u64, String)> {
    let mut chain = String::new();
    let mut out = Vec::new();
    for line in listing.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().unwrap_or("").to_string();
            continue;
        }
        // A base chain that drops what no rule accepts says so first.
        if line.starts_with("type ") && line.contains("policy drop;") {
            out.push((chain.clone(), 0, "policy drop".to_string()));
            continue;
        }
        let Some((rule, handle)) = line.rsplit_once(" # handle ") else {
            continue;
        };
        let Ok(handle) = handle.trim().parse() else {
            continue;
        };
        // Tables, chains and sets carry handles too; their lines end with '{'.
        if rule.ends_with('{') {
            continue;
        }
        out.push((chain.clone(), handle, rule.to_string()));
    }
    out
}

/// `nft [-j] [-a] list ruleset` in `ns`, or `list table inet NAME`.
pub fn list(
    ns: BorrowedFd<'_>,
    nft: &Path,
    table: Option<&str>,
    json: bool,
    handles: bool,
) -> Result<String> {
    let mut args = Vec::new();
    if json {
        args.push("-j");
    }
    if handles {
        args.push("-a");
    }
    args.push("list");
    match table {
        Some(t) => args.extend(["table", "inet", t]),
        None => args.push("ruleset"),
    }
    run(ns, nft, &args, "")
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

/// Runs `nft -f -` with `ruleset` inside `ns` (`nft -j -f -` when it has
/// no form in nft's syntax): one atomic transaction.
pub fn apply(ns: BorrowedFd<'_>, nft: &Path, ruleset: Ruleset) -> Result<()> {
    match ruleset.text() {
        Some(text) => apply_text(ns, nft, text),
        None => apply_json(ns, nft, &ruleset.json()?),
    }
}

/// `nft -j -f -` in `ns` with a ruleset already written as JSON.
pub fn apply_json(ns: BorrowedFd<'_>, nft: &Path, json: &str) -> Result<()> {
    run(ns, nft, &["-j", "-f", "-"], json).map(|_| ())
}

/// `nft -f -` in `ns` with a ruleset in nft's own syntax: through
/// libnftables where it is there (see nftlib.rs), else the `nft` process.
pub fn apply_text(ns: BorrowedFd<'_>, nft: &Path, text: &str) -> Result<()> {
    if let Some(done) = super::nftlib::apply_text(ns, text) {
        return done;
    }
    run(ns, nft, &["-f", "-"], text).map(|_| ())
}

/// `nft -j list table inet NAME` in `ns`: the table as JSON.
pub fn list_table(ns: BorrowedFd<'_>, nft: &Path, name: &str) -> Result<String> {
    run(ns, nft, &["-j", "list", "table", "inet", name], "")
}

/// `nft list table inet NAME` succeeds: the table exists in `ns`.
pub fn has_table(ns: BorrowedFd<'_>, nft: &Path, name: &str) -> Result<bool> {
    match run(ns, nft, &["list", "table", "inet", name], "") {
        Ok(_) => Ok(true),
        Err(e) if e.raw_errno() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `nft list set inet TABLE SET` succeeds: the table exists in `ns` and
/// holds that set (a lab's table carries its owner set).
pub fn has_set(ns: BorrowedFd<'_>, nft: &Path, table: &str, set: &str) -> Result<bool> {
    match run(ns, nft, &["list", "set", "inet", table, set], "") {
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
    Err(NetError::Nft(first_error(&String::from_utf8_lossy(
        &out.stderr,
    ))))
}

/// The message of nft's first error line in what it printed on stderr.
pub(super) fn first_error(stderr: &str) -> String {
    // With JSON input nft says where as "internal:0:0-0: Error: …".
    stderr
        .lines()
        .find_map(|l| l.split_once("Error: ").map(|(_, m)| m))
        .or_else(|| stderr.lines().next())
        .unwrap_or("nft failed")
        .to_string()
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
            counter: false,
            log: None,
            comment: None,
        };
        let json = Ruleset::new("nslab-t", Some("owner_1"))
            .op(&Op::Filter(r))
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

    #[test]
    fn every_shape_a_lab_builds_is_sent_in_nfts_own_syntax() {
        let ops = [
            Op::Filter(FilterRule {
                hook: Hook::Input,
                matches: Matches {
                    iif: Some("eth0".into()),
                    proto: Some(L4::Tcp),
                    dport: Some(80),
                    saddr: Some("10.0.0.7/24".parse().unwrap()),
                    state: vec!["established".into()],
                    ..Matches::default()
                },
                verdict: Verdict::Reject,
                counter: true,
                log: Some("x: ".into()),
                comment: Some("web".into()),
            }),
            Op::Policy(Hook::Forward, Policy::Drop),
            Op::Policy(Hook::Output, Policy::Accept),
            Op::Dnat(DnatRule {
                iif: None,
                daddr: Some("fd00::1/128".parse().unwrap()),
                proto: Some(L4::Tcp),
                dport: Some(80),
                to: "fd00::2".parse().unwrap(),
                port: Some(8080),
            }),
            Op::Masquerade {
                src: "10.0.0.0/24".parse().unwrap(),
                oif: "wan".into(),
            },
            Op::Snat(SnatRule {
                src: "fd00::/64".parse().unwrap(),
                oif: "wan".into(),
                to: "fd00::1".parse().unwrap(),
            }),
            Op::Dnat(DnatRule {
                iif: Some("wan".into()),
                daddr: None,
                proto: Some(L4::Udp),
                dport: Some(53),
                to: "10.0.0.2".parse().unwrap(),
                port: None,
            }),
        ];
        let mut r = Ruleset::new("nslab-t", Some("owner_1"));
        for op in &ops {
            r = r.op(op);
        }
        let direct = r.text().map(str::to_string);
        let json = r.json().unwrap();
        let text = crate::net::nft_text::text(&json);
        assert!(text.is_some(), "{json}");
        assert_eq!(direct, text);
        let r = Ruleset::delete_owned("nslab-t", "owner_1");
        let direct = r.text().map(str::to_string);
        let json = r.json().unwrap();
        assert_eq!(direct, crate::net::nft_text::text(&json));
        assert!(direct.is_some());
        // A comment nft's quotes cannot hold: the JSON is sent instead.
        let odd = Ruleset::new("t", None).op(&Op::Filter(FilterRule {
            hook: Hook::Input,
            matches: Matches::default(),
            verdict: Verdict::Accept,
            counter: false,
            log: None,
            comment: Some("say \"hi\"".into()),
        }));
        assert_eq!(odd.text(), None);
    }

    #[test]
    fn a_later_transaction_sends_no_chain_made_before_but_shows_it() {
        let r = Ruleset::new("t", None)
            .with_chains_made(["input"])
            .op(&Op::Filter(FilterRule {
                hook: Hook::Input,
                matches: Matches::default(),
                verdict: Verdict::Drop,
                counter: false,
                log: None,
                comment: None,
            }))
            .op(&Op::Policy(Hook::Input, Policy::Drop));
        assert_eq!(
            r.text(),
            Some(
                "add table inet t\nadd rule inet t input drop\n\
                 add chain inet t input { type filter hook input priority 0; policy drop; }\n"
            )
        );
        assert_eq!(r.chains().collect::<Vec<_>>(), ["input"]);
        let json = r.json().unwrap();
        assert_eq!(json.matches(r#""hook":"input""#).count(), 2, "{json}");
    }

    #[test]
    fn chains_are_added_once_per_transaction() {
        let r = |dport| {
            Op::Filter(FilterRule {
                hook: Hook::Input,
                matches: Matches {
                    proto: Some(L4::Tcp),
                    dport: Some(dport),
                    ..Matches::default()
                },
                verdict: Verdict::Reject,
                counter: true,
                log: Some("x: ".into()),
                comment: Some("c".into()),
            })
        };
        let json = Ruleset::new("t", None)
            .op(&r(1))
            .op(&r(2))
            .op(&Op::Policy(Hook::Input, Policy::Drop))
            .json()
            .unwrap();
        assert_eq!(json.matches(r#""hook":"input""#).count(), 2, "{json}");
        assert_eq!(json.matches(r#""policy":"drop""#).count(), 1, "{json}");
        assert!(
            json.contains(
                r#"{"counter":null},{"log":{"prefix":"x: "}},{"reject":{"type":"tcp reset"}}]"#
            ),
            "{json}"
        );
        assert!(json.contains(r#""comment":"c""#), "{json}");
    }

    #[test]
    fn dnat_translates_in_prerouting_and_lets_the_flow_through() {
        let json = Ruleset::new("t", None)
            .op(&Op::Dnat(DnatRule {
                iif: Some("wan".into()),
                daddr: None,
                proto: Some(L4::Tcp),
                dport: Some(80),
                to: "10.0.0.2".parse().unwrap(),
                port: Some(8080),
            }))
            .json()
            .unwrap();
        assert!(
            json.contains(r#""type":"nat","hook":"prerouting","prio":-100"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"dnat":{"addr":"10.0.0.2","family":"ip","port":8080}}"#),
            "{json}"
        );
        // Forward accepts for the translated flow: there and back.
        assert!(
            json.contains(r#"{"payload":{"protocol":"tcp","field":"dport"}},"right":8080,"op":"=="}},{"match":{"left":{"ct":{"key":"status"}},"right":"dnat","op":"in"}},{"accept":null}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"payload":{"protocol":"tcp","field":"sport"}},"right":8080,"op":"=="}},{"match":{"left":{"ct":{"key":"status"}},"right":"dnat","op":"in"}},{"accept":null}"#),
            "{json}"
        );
    }

    #[test]
    fn counters_are_read_from_a_listing() {
        let listing = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "inet", "name": "t", "handle": 1}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 2,
            "comment": "web", "expr": [{"counter": {"packets": 3, "bytes": 180}}, {"accept": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 3,
            "expr": [{"accept": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "forward", "handle": 4,
            "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}]}"#;
        let rows = counters(listing).unwrap();
        assert_eq!(
            rows,
            vec![
                CounterRow {
                    chain: "input".into(),
                    comment: Some("web".into()),
                    packets: 3,
                    bytes: 180
                },
                CounterRow {
                    chain: "forward".into(),
                    comment: None,
                    packets: 0,
                    bytes: 0
                },
            ]
        );
    }

    #[test]
    fn fw_rules_read_verdicts_counters_and_comments() {
        let j = r#"{"nftables": [{"metainfo": {}}, {"table": {"family": "inet", "name": "t", "handle": 1}},
          {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 4, "comment": "web",
            "expr": [{"match": {}}, {"counter": {"packets": 3, "bytes": 180}}, {"accept": null}]}},
          {"rule": {"family": "ip", "table": "nat", "chain": "post", "handle": 5,
            "expr": [{"masquerade": null}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "forward", "handle": 6,
            "expr": [{"jump": {"target": "mine"}}]}},
          {"rule": {"family": "inet", "table": "t", "chain": "forward", "handle": 7,
            "expr": [{"log": {"prefix": "x"}}]}}]}"#;
        let r = fw_rules(j).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            (
                r[0].verdict.as_deref(),
                r[0].packets,
                r[0].bytes,
                r[0].comment.as_deref()
            ),
            (Some("accept"), Some(3), Some(180), Some("web"))
        );
        assert_eq!(
            (r[1].family.as_str(), r[1].verdict.as_deref(), r[1].packets),
            ("ip", Some("masquerade"), None)
        );
        assert_eq!(r[2].verdict.as_deref(), Some("jump mine"));
        assert_eq!(r[3].verdict, None);
    }

    #[test]
    fn rule_lines_take_rules_not_tables_or_chains() {
        let t = "table inet t { # handle 1\n\tchain input { # handle 2\n\t\ttype filter hook input priority filter; policy drop;\n\t\ttcp dport 80 accept # handle 4\n\t}\n}\n";
        assert_eq!(
            rule_lines(t),
            vec![
                ("input".to_string(), 0, "policy drop".to_string()),
                ("input".to_string(), 4, "tcp dport 80 accept".to_string())
            ]
        );
    }
}
