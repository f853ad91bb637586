//! `nslab repl --attach LAB`: a session on a kept lab. It takes the lab's
//! journal (and its lock, so one session at a time), adopts the namespaces
//! the lab made as its own, and appends what it builds to the same journal:
//! `nslab down LAB` then undoes the lab and the session's additions as one.
//! The session ends kept, whatever it built included.
//!
//! Only host-mode labs can be kept (an isolated lab's namespaces end with
//! its process), so only they can be attached: `Journal::attach` refuses
//! the rest.

use super::ledger::Undo;
use super::space::Spaces;
use super::{Lab, LabError, NsId, Result, journal, names, net_err};
use crate::cancel::Cancel;
use crate::lab::steps::links::DeleteLink;
use crate::lab::steps::netns::DeleteNetns;
use crate::lab::steps::nft::DeleteNftTable;
use crate::lab::steps::nodes::RemoveNodeDirs;
use crate::net::ns;

/// A namespace or link of the lab, for `lab()`.
pub struct Part {
    pub ns: NsId,
    pub ns_name: String,
    /// `None` for the namespace itself.
    pub link: Option<String>,
}

impl Lab {
    /// Opens kept lab `name` for an `nslab repl --attach` session. The
    /// session runs as the lab (its name, run id and holder of host
    /// settings): its journal steps then pass the same checks as the lab's.
    pub fn attach_kept(name: &str, cancel: Cancel) -> Result<Lab> {
        let sp = Spaces::new().map_err(net_err("start the session"))?;
        let (journal, rec) = journal::Journal::attach(name)?;
        let mut lab = Lab::with(sp, journal, rec.header.clone(), cancel);
        // From here on an error drops the lab, which lets go of the journal
        // as a kept lab does (and says the session ended).
        lab.id.attached();
        for (seq, step) in rec.seqs.iter().zip(rec.steps) {
            match &step {
                Undo::DeleteNetns(DeleteNetns {
                    name,
                    dev,
                    ino,
                    cookie,
                }) => {
                    lab.sp
                        .adopt(name, *dev, *ino, *cookie)
                        .map_err(|e| LabError::kernel("open a namespace of the lab", name, e))?;
                }
                // Links the lab made outside its namespaces: changes to them
                // need no undo of their own either.
                Undo::DeleteLink(DeleteLink { ns, name, ifindex }) => {
                    if let Ok(id) = lab.sp.resolve(ns)
                        && !lab.sp.is_created(id)
                    {
                        // The journal has the kernel's name (see prefix.rs).
                        let name = lab.sp.script_name(name).unwrap_or(name).to_string();
                        lab.topo.made_outside(id, &name);
                        if *ifindex != 0 {
                            lab.topo.set_index(id, &name, *ifindex);
                        }
                    }
                }
                Undo::DeleteNftTable(DeleteNftTable { ns, .. }) => {
                    if let Ok(id) = lab.sp.resolve(ns) {
                        lab.fw.table_made(id);
                    }
                }
                // Its nodes' programs get their private directories and
                // host names in this session too.
                Undo::RemoveNodeFiles(_) => lab.nodes.adopt_files(),
                Undo::RemoveNodeDirs(RemoveNodeDirs { ns, dirs, hostname }) => {
                    if let Some(id) = lab.sp.created_named(ns) {
                        lab.nodes.adopt(id, dirs.clone(), hostname.clone());
                    }
                }
                _ => {}
            }
            lab.ledger.adopt(*seq, step);
        }
        Ok(lab)
    }

    pub fn is_attached(&self) -> bool {
        self.id.is_attached()
    }

    /// `ns("a")`: namespace `name` of this lab (made by it, or by the kept
    /// lab a session is attached to).
    pub fn lab_netns(&self, name: &str) -> Result<NsId> {
        names::check_nsname(name)?;
        if let Some(id) = self.sp.created_named(name) {
            return Ok(id);
        }
        let have: Vec<&str> = self
            .sp
            .created()
            .into_iter()
            .map(|id| self.sp.name(id))
            .collect();
        let listed = if have.is_empty() {
            format!("lab '{}' has no namespaces yet", self.id.name())
        } else {
            format!("lab '{}' has {}", self.id.name(), have.join(", "))
        };
        let other = if ns::named_path(&self.sp.kernel_name(name)).exists() {
            format!(" ('{name}' on this machine is not the lab's)")
        } else {
            String::new()
        };
        Err(LabError::new(
            format!(
                "namespace '{name}' is not part of lab '{}'{other}",
                self.id.name()
            ),
            format!("{listed}; netns(\"{name}\") makes a new one, lab() lists what the lab has"),
        ))
    }

    /// `lab()`: the lab's namespaces, each followed by its links (`lo`
    /// left out), then the links it made outside its namespaces.
    pub fn parts(&mut self) -> Result<Vec<Part>> {
        let mut out = Vec::new();
        for id in self.sp.created() {
            let ns_name = self.sp.name(id).to_string();
            out.push(Part {
                ns: id,
                ns_name: ns_name.clone(),
                link: None,
            });
            for l in self.links(id)? {
                if l.name != "lo" {
                    out.push(Part {
                        ns: id,
                        ns_name: ns_name.clone(),
                        link: Some(l.name),
                    });
                }
            }
        }
        out.extend(self.placed_parts()?);
        let mut outside: Vec<(NsId, String)> = self.topo.made_outside_all().cloned().collect();
        outside.sort();
        for (id, link) in outside {
            if self.exists(id, &link)? {
                out.push(Part {
                    ns: id,
                    ns_name: self.sp.name(id).to_string(),
                    link: Some(link),
                });
            }
        }
        Ok(out)
    }
}
