//! The firewall queue: rules queued until the script's next probe or its
//! end (see firewall.rs), the namespaces where the lab's nf_tables table
//! exists, and the `nft` binary once looked up.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::firewall::Pending;
use super::space::NsId;

#[derive(Default)]
pub struct FwQueue {
    /// Namespaces where this lab's nf_tables table exists.
    tables: HashSet<NsId>,
    /// Firewall and NAT rules not applied yet.
    pending: Vec<Pending>,
    /// The `nft` binary, once looked up.
    prog: Option<PathBuf>,
    /// The chains made in the lab's table, by namespace.
    chains: HashMap<NsId, HashSet<&'static str>>,
}

impl FwQueue {
    pub fn has_table(&self, id: NsId) -> bool {
        self.tables.contains(&id)
    }

    pub fn table_made(&mut self, id: NsId) {
        self.tables.insert(id);
    }

    /// The chains made in the lab's table in `id`.
    pub fn chains_in(&self, id: NsId) -> Vec<&'static str> {
        self.chains
            .get(&id)
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn chains_made(&mut self, id: NsId, chains: impl IntoIterator<Item = &'static str>) {
        self.chains.entry(id).or_default().extend(chains);
    }

    pub fn prog(&self) -> Option<&PathBuf> {
        self.prog.as_ref()
    }

    pub fn found_prog(&mut self, p: PathBuf) {
        self.prog = Some(p);
    }

    pub fn queue(&mut self, p: Pending) {
        self.pending.push(p);
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The queued rules, in order; the queue is empty after.
    pub fn take(&mut self) -> Vec<Pending> {
        std::mem::take(&mut self.pending)
    }

    /// Namespace `id` is gone, and its table with it.
    pub fn forget_ns(&mut self, id: NsId) {
        self.tables.remove(&id);
        self.chains.remove(&id);
    }
}
