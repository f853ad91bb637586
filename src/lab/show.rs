//! `show()`: the lab as it stands, read back from the kernel, as a table
//! (see view.rs, which reads it).

use super::{HOST, Lab, NsId, Result};

impl Lab {
    /// Namespaces the lab knows and whose contents it shows: every one it
    /// made or opened, and the host when the lab put links there.
    pub(super) fn shown_namespaces(&self) -> Vec<NsId> {
        self.sp
            .alive()
            .into_iter()
            .filter(|id| *id != HOST || self.topo.made_outside_all().any(|(ns, _)| *ns == HOST))
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
    /// the lab's own links and the routes through them; then its firewall
    /// rules (those of the lab's nf_tables table).
    pub fn show(&mut self) -> Result<String> {
        let mut v = self.view()?;
        for (n, id) in v.namespaces.iter_mut().zip(self.shown_namespaces()) {
            // The rest of the lab is worth showing when nft fails here.
            n.firewall = self
                .firewall_lines(id)
                .unwrap_or_else(|e| vec![format!("(not read: {e})")]);
        }
        Ok(v.text())
    }
}
