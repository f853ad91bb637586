//! NAT and firewall rules in the lab's own nf_tables table.

use super::*;

impl Lab {
    /// The lab's own nf_tables table (family inet), one per namespace used.
    pub fn table_name(&self) -> String {
        format!("nslab-{}", self.name)
    }

    /// Applies one nft transaction in `ns`; the first one there creates the
    /// lab's table (refusing to adopt an existing one) and records its removal.
    pub(super) fn nft(
        &mut self,
        id: NsId,
        doing: &str,
        build: impl FnOnce(Ruleset, &str) -> Ruleset,
    ) -> Result<()> {
        let prog = nft::program().ok_or_else(|| {
            LabError::new(
                "`nft` is not installed; nslab needs it for NAT and firewall rules",
                "install the nftables package (apt install nftables, dnf install nftables), or point NSLAB_NFT at an nft binary",
            )
        })?;
        let table = self.table_name();
        let first = !self.nft_tables.contains(&id);
        let owner = ledger::owner_set(&self.header.id);
        let rules = build(
            Ruleset::new(&table, first.then_some(owner.as_str())),
            &table,
        );
        let where_ = self.where_(id);
        let run = |lab: &mut Lab| {
            let fd = lab.sp.fd(id).map_err(net_err("open namespace"))?;
            nft::apply(fd.as_fd(), &prog, rules).map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) if first => LabError::new(
                    format!("nf_tables table 'inet {table}' already exists in {where_}"),
                    format!(
                        "it is not this lab's: remove it (`nft delete table inet {table}`, or `nslab down --all` if a crashed lab left it), or run with --name"
                    ),
                ),
                Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => LabError::new(
                    format!("cannot {doing} in {where_}: the kernel lacks the nf_tables support for it ({e})"),
                    "load the nf_tables modules (nf_tables, nft_nat, nft_masq, nft_ct), or use a kernel built with them",
                ),
                _ => LabError::kernel(doing, &where_, e),
            })
        };
        if first {
            let undo = Undo::DeleteNftTable {
                ns: self.sp.nsref(id).clone(),
                table: table.clone(),
                owner: owner.clone(),
            };
            self.recorded(Some(id), undo, run)?;
            self.nft_tables.insert(id);
            Ok(())
        } else {
            run(self)
        }
    }

    /// `iptables -A CHAIN … -j ACCEPT|DROP` in `ns`, in the lab's table.
    pub fn filter(&mut self, id: NsId, rule: &FilterRule) -> Result<()> {
        self.nft(id, "add a firewall rule", |rs, t| rs.filter(t, rule))
    }

    /// `iptables -P CHAIN ACCEPT|DROP` in `ns`, for the lab's chain.
    pub fn policy(&mut self, id: NsId, hook: Hook, verdict: Verdict) -> Result<()> {
        self.nft(id, "set a chain policy", |rs, t| {
            rs.policy(t, hook, verdict)
        })
    }

    /// `iptables -t nat -A POSTROUTING -s SRC -o OIF -j MASQUERADE` and the
    /// FORWARD accepts (out, and established/related back), in `ns`.
    pub fn masquerade(&mut self, id: NsId, src: IpNet, oif: &str) -> Result<()> {
        names::check_ifname(oif)?;
        // nft matches the device by name and takes any name: a typo would
        // make a rule that never applies, silently.
        self.link(id, oif)?;
        self.nft(id, "add masquerading", |rs, t| rs.masquerade(t, src, oif))
    }
}
