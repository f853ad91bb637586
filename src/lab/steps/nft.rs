//! Undoing the lab's firewall and NAT rules: its nf_tables table goes,
//! if it still carries the mark of this run of the lab.

use std::os::fd::AsFd;

use serde::{Deserialize, Serialize};

use super::{Step, Undone, check_ref};
use crate::lab::journal::Header;
use crate::lab::plan::q;
use crate::lab::space::{NsRef, Spaces};
use crate::net::{NetError, Result, nft};

/// The name of the empty set that marks a lab's nf_tables table as made by
/// the run of the lab with this id (made in the same transaction as the
/// table, so a table without it was never this lab's).
pub fn owner_set(id: &str) -> String {
    format!("owner_{id}")
}

/// `nft delete table inet TABLE`, if it holds the set `owner` that the
/// transaction making it put there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteNftTable {
    pub ns: NsRef,
    pub table: String,
    pub owner: String,
}

/// `[ip netns exec NS ]nft delete table inet TABLE`.
pub fn delete_table_shell(ns: &NsRef, table: &str) -> String {
    let ex = match ns {
        NsRef::Host => String::new(),
        NsRef::Named(n) => format!("ip netns exec {} ", q(n)),
    };
    format!("{ex}nft delete table inet {}", q(table))
}

impl Step for DeleteNftTable {
    fn describe(&self) -> String {
        format!(
            "delete nf_tables table inet {} in '{}'",
            self.table,
            self.ns.display()
        )
    }

    fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        let DeleteNftTable { ns, table, owner } = self;
        check_ref(ns)?;
        if *table != format!("nslab-{}", header.lab) || *owner != owner_set(&header.id) {
            return Err(format!(
                "nf_tables table '{table}' (marked '{owner}') is not the table of lab '{}'",
                header.lab
            ));
        }
        Ok(())
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let DeleteNftTable { ns, table, owner } = self;
        let lab = &header.lab;
        let id = sp.resolve(ns)?;
        let prog = nft::program().ok_or_else(|| {
            NetError::Other("nft is not installed (Debian/Ubuntu/Fedora package: nftables)".into())
        })?;
        let fd = sp.fd(id)?.as_fd();
        match nft::apply(fd, &prog, nft::Ruleset::delete_owned(table, owner)) {
            Ok(()) => Ok(Undone::Done),
            // One transaction deletes the marker and the table: it
            // fails whole when either is missing.
            Err(e) if e.raw_errno() == Some(libc::ENOENT) => {
                if nft::has_table(fd, &prog, table)? {
                    Ok(Undone::LeftAlone(format!(
                        "nf_tables table inet {table} in '{}' does not carry lab '{lab}''s mark: left alone",
                        ns.display()
                    )))
                } else {
                    Ok(Undone::Done)
                }
            }
            Err(e) => Err(e),
        }
    }
}
