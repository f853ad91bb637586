//! NAT and firewall rules in the lab's own nf_tables table.
//!
//! Rules are queued, and applied as one `nft` transaction per namespace
//! when something needs them in effect: the api layer flushes the queue
//! before every call that is not itself a rule, and at the end of the
//! script (starting `nft` once per rule made 2000 rules take 20 s). What
//! can be checked is checked when a rule is queued, so its errors point at
//! its call. When nft still refuses a batch, the batch is split in halves
//! until the one rule it refuses is found: the rules before it are applied,
//! and the error names the call that queued it (its `Site`), wherever the
//! flush happened.

use super::events::Event;
use super::ledger::Undo;
use std::os::fd::AsFd;

use super::{Lab, LabError, NsId, Result, ledger, names};
use crate::lab::steps::nft::DeleteNftTable;
use crate::net::nft;
use crate::net::nft::Ruleset;
use std::path::PathBuf;

use crate::net::nft::{CounterRow, FwRule, Op};

/// Where a script asked for something: the source it is in (None: the
/// main script), line and column, as the script engine counts them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site {
    pub source: Option<String>,
    pub line: usize,
    pub col: usize,
}

/// An op waiting for the next flush.
pub(super) struct Pending {
    id: NsId,
    op: Op,
    site: Site,
}

/// `ns.firewall()`: the rules as nft prints them, and one by one.
#[derive(Debug, Default)]
pub struct FirewallView {
    pub text: String,
    pub rules: Vec<FwRule>,
}

/// A queued op nft refused, with the call that queued it.
#[derive(Debug)]
pub struct Refused {
    pub error: LabError,
    pub site: Site,
}

impl Lab {
    /// The lab's own nf_tables table (family inet), one per namespace used.
    pub fn table_name(&self) -> String {
        format!("nslab-{}", self.id.name())
    }

    /// Does the lab's table exist in `id`? Known for namespaces the lab
    /// made; in one a kept lab made before an `nslab repl --attach` session
    /// took it over (no journal step says), asked of nft once: the table
    /// with the lab's owner set in it.
    fn has_table(&mut self, id: NsId) -> Result<bool> {
        if self.fw.has_table(id) {
            return Ok(true);
        }
        if !self.sp.is_adopted(id) || nft::program().is_none() {
            return Ok(false);
        }
        let prog = self.nft_program()?;
        let table = self.table_name();
        let owner = ledger::owner_set(&self.id.header().id);
        let fd = self.sp.fd(id).map_err(|e| {
            LabError::kernel("look for the lab's nf_tables table", &self.where_(id), e)
        })?;
        let has = nft::has_set(fd.as_fd(), &prog, &table, &owner).map_err(|e| {
            LabError::kernel("look for the lab's nf_tables table", &self.where_(id), e)
        })?;
        if has {
            self.fw.table_made(id);
        }
        Ok(has)
    }

    /// The `nft` binary, looked up once.
    fn nft_program(&mut self) -> Result<PathBuf> {
        if let Some(p) = self.fw.prog() {
            return Ok(p.clone());
        }
        let p = nft::program().ok_or_else(|| {
            LabError::new(
                "`nft` is not installed; nslab needs it for NAT and firewall rules",
                "install the nftables package (apt install nftables, dnf install nftables), or point NSLAB_NFT at an nft binary",
            )
        })?;
        self.fw.found_prog(p.clone());
        Ok(p)
    }

    /// Queues `op` for namespace `id`, after checking everything that can
    /// be checked without nft: the namespace is there, nft is installed,
    /// the devices NAT names exist (nft matches devices by name and takes
    /// any name: a typo would make a rule that never applies, silently).
    pub fn queue(&mut self, id: NsId, mut op: Op, site: Site) -> Result<()> {
        if let Some(r) = self.remote_rule(id, &op) {
            return r;
        }
        self.sp
            .fd(id)
            .map_err(|e| LabError::kernel(op.doing(), &self.where_(id), e))?;
        self.nft_program()?;
        match &op {
            Op::Masquerade { oif: dev, .. } | Op::Snat(nft::SnatRule { oif: dev, .. }) => {
                names::check_ifname(dev)?;
                self.link(id, dev)?;
            }
            Op::Dnat(nft::DnatRule { iif: Some(dev), .. }) => {
                names::check_ifname(dev)?;
                self.link(id, dev)?;
            }
            _ => {}
        }
        // nft matches devices by the kernel's name (see prefix.rs).
        let devs: Vec<&mut String> = match &mut op {
            Op::Masquerade { oif, .. } | Op::Snat(nft::SnatRule { oif, .. }) => vec![oif],
            Op::Dnat(r) => r.iif.iter_mut().collect(),
            Op::Filter(r) => r
                .matches
                .iif
                .iter_mut()
                .chain(r.matches.oif.iter_mut())
                .collect(),
            Op::Policy(..) => vec![],
        };
        for d in devs {
            *d = self.kernel_link(id, d).into_owned();
        }
        self.fw.queue(Pending { id, op, site });
        Ok(())
    }

    /// Applies every queued op: one transaction per namespace. When nft
    /// refuses one, the ops queued before it in its namespace are applied,
    /// the ones after it dropped, and the error is the one queued first
    /// among the namespaces' refused ops.
    pub(super) fn flush_rules(&mut self) -> std::result::Result<(), Refused> {
        if self.fw.is_empty() {
            return Ok(());
        }
        let pending = self.fw.take();
        // Namespaces are independent of each other: grouping them keeps
        // each one's order and makes one transaction of each.
        let mut groups: Vec<(NsId, Vec<usize>)> = Vec::new();
        for (i, p) in pending.iter().enumerate() {
            match groups.iter_mut().find(|(id, _)| *id == p.id) {
                Some((_, v)) => v.push(i),
                None => groups.push((p.id, vec![i])),
            }
        }
        let mut first_refused: Option<(usize, LabError)> = None;
        for (id, idx) in groups {
            if let Some(p) = self.watch.plan_mut() {
                p.site = Some(pending[idx[0]].site.clone());
            }
            let ops: Vec<&Op> = idx.iter().map(|i| &pending[*i].op).collect();
            if let Err((k, e)) = self.apply_chunks(id, &ops)
                && first_refused.as_ref().is_none_or(|(j, _)| idx[k] < *j)
            {
                first_refused = Some((idx[k], e));
            }
        }
        match first_refused {
            None => Ok(()),
            Some((i, error)) => Err(Refused {
                error,
                site: pending[i].site.clone(),
            }),
        }
    }

    /// Applies `ops` in `id` in transactions of about BATCH_BYTES of JSON
    /// each: nft sends a transaction as one netlink write, and where it
    /// cannot raise its socket's buffer (in a user namespace: rootless and
    /// isolated labs) one of more than ~200 KB fails ("Message too long";
    /// about 750 simple rules). A chunk that is still too big is split like
    /// any refused one.
    fn apply_chunks(
        &mut self,
        id: NsId,
        ops: &[&Op],
    ) -> std::result::Result<(), (usize, LabError)> {
        const BATCH_BYTES: usize = 128 * 1024;
        let table = self.table_name();
        let (mut start, mut size) = (0, 0);
        for (i, op) in ops.iter().enumerate() {
            let s = Ruleset::size_hint(&table, op);
            if i > start && size + s > BATCH_BYTES {
                self.apply_ops(id, &ops[start..i])
                    .map_err(|(k, e)| (k + start, e))?;
                (start, size) = (i, 0);
            }
            size += s;
        }
        self.apply_ops(id, &ops[start..])
            .map_err(|(k, e)| (k + start, e))
    }

    /// Applies `ops` in `id` as one transaction; if nft refuses it, each
    /// half in turn, down to the op it refuses: its index and error.
    fn apply_ops(&mut self, id: NsId, ops: &[&Op]) -> std::result::Result<(), (usize, LabError)> {
        match self.transaction(id, ops) {
            Ok(()) => Ok(()),
            Err(e) if ops.len() == 1 => Err((0, e)),
            Err(_) => {
                let mid = ops.len() / 2;
                self.apply_ops(id, &ops[..mid])?;
                self.apply_ops(id, &ops[mid..])
                    .map_err(|(i, e)| (i + mid, e))
            }
        }
    }

    /// One nft transaction in `id`; the first one there creates the lab's
    /// table (refusing to adopt an existing one), its removal recorded
    /// before it runs.
    fn transaction(&mut self, id: NsId, ops: &[&Op]) -> Result<()> {
        let prog = self.nft_program()?;
        let table = self.table_name();
        let first = !self.has_table(id)?;
        let owner = ledger::owner_set(&self.id.header().id);
        let made = if first {
            Vec::new()
        } else {
            self.fw.chains_in(id)
        };
        let mut rules =
            Ruleset::new(&table, first.then_some(owner.as_str())).with_chains_made(made);
        for op in ops {
            rules = rules.op(op);
        }
        let doing = match ops {
            [op] => op.doing(),
            _ => "apply firewall rules",
        };
        let where_ = self.where_(id);
        // nft's own syntax when the rules have that form; JSON is written
        // only for a plan to show (it reads every transaction as JSON) or
        // when they do not.
        let chains: Vec<&'static str> = rules.chains().collect();
        let json_err = |e| LabError::kernel(doing, &where_, e);
        let (body, is_json, json) = match rules.text().map(str::to_owned) {
            Some(text) => {
                let plan = self.watch.plan().is_some();
                let json = plan.then(|| rules.json()).transpose().map_err(json_err)?;
                (text, false, json)
            }
            None => {
                let json = rules.json().map_err(json_err)?;
                (json.clone(), true, Some(json))
            }
        };
        let run = |lab: &mut Lab| {
            let fd = lab
                .sp
                .fd(id)
                .map_err(|e| LabError::kernel(doing, &where_, e))?;
            let sent = if is_json {
                nft::apply_json(fd.as_fd(), &prog, &body)
            } else {
                nft::apply_text(fd.as_fd(), &prog, &body)
            };
            sent.map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) if first => LabError::new(
                    format!("nf_tables table 'inet {table}' already exists in {where_}"),
                    format!(
                        "it is not this lab's: remove it (`nft delete table inet {table}`, or `nslab down --all` if a crashed lab left it), or run with --name"
                    ),
                ),
                Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => LabError::new(
                    format!("cannot {doing} in {where_}: nf_tables refused it ({e})"),
                    format!(
                        "the kernel lacks the nf_tables support for it: load the modules (nf_tables, nft_nat, nft_masq, nft_ct, nft_reject_inet, nft_log), or use a kernel built with them; or something outside nslab changed the lab's table 'inet {table}' (an `nft` command run with exec?)"
                    ),
                ),
                _ => LabError::kernel(doing, &where_, e),
            })
        };
        if first {
            let undo = Undo::DeleteNftTable(DeleteNftTable {
                ns: self.sp.nsref(id).clone(),
                table: table.clone(),
                owner: owner.clone(),
            });
            self.recorded(Some(id), undo, run)?;
            self.fw.table_made(id);
        } else {
            run(self)?;
        }
        self.fw.chains_made(id, chains);
        // Only a plan reads this event (see lab/plan.rs).
        if let Some(json) = &json {
            self.tell(Event::NftApplied {
                ns: id,
                json,
                first,
            });
        }
        Ok(())
    }

    /// `nft list ruleset` in `id`, as text and as rules: the lab's table
    /// only (nothing before the lab's first rule there), or with `all`
    /// every table.
    pub fn firewall(&mut self, id: NsId, all: bool) -> Result<FirewallView> {
        let where_ = self.where_(id);
        let gone = |e| LabError::kernel("read the firewall rules", &where_, e);
        self.sp.fd(id).map_err(gone)?;
        let table = if all {
            None
        } else if self.has_table(id)? {
            Some(self.table_name())
        } else {
            return Ok(FirewallView::default());
        };
        let prog = self.nft_program()?;
        let fd = self.sp.fd(id).map_err(gone)?;
        let text = nft::list(fd.as_fd(), &prog, table.as_deref(), false, false).map_err(gone)?;
        let rules = nft::list(fd.as_fd(), &prog, table.as_deref(), true, false)
            .and_then(|json| nft::fw_rules(&json))
            .map_err(gone)?;
        Ok(FirewallView { text, rules })
    }

    /// `show()`'s firewall part of `id`: the rules of the lab's table as
    /// nft prints them, each after its chain (none where the lab made no
    /// rule).
    pub(super) fn firewall_lines(&mut self, id: NsId) -> Result<Vec<String>> {
        if !self.has_table(id)? {
            return Ok(Vec::new());
        }
        let where_ = self.where_(id);
        let prog = self.nft_program()?;
        let table = self.table_name();
        let fd = self
            .sp
            .fd(id)
            .map_err(|e| LabError::kernel("read the firewall rules", &where_, e))?;
        let text = nft::list(fd.as_fd(), &prog, Some(&table), false, true)
            .map_err(|e| LabError::kernel("read the firewall rules", &where_, e))?;
        Ok(nft::rule_lines(&text)
            .into_iter()
            .map(|(chain, _, rule)| format!("{chain}: {rule}"))
            .collect())
    }

    /// Rules with a counter in the lab's table in `id` (none before the
    /// first rule there), read back from the kernel.
    pub fn counters(&mut self, id: NsId) -> Result<Vec<CounterRow>> {
        let where_ = self.where_(id);
        let gone = |e| LabError::kernel("read the rule counters", &where_, e);
        self.sp.fd(id).map_err(gone)?;
        if !self.has_table(id)? {
            return Ok(Vec::new());
        }
        let prog = self.nft_program()?;
        let table = self.table_name();
        let fd = self.sp.fd(id).map_err(gone)?;
        nft::list_table(fd.as_fd(), &prog, &table)
            .and_then(|json| nft::counters(&json))
            .map_err(gone)
    }
}
