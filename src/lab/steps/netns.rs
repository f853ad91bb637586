//! Undoing `netns(name)`: the namespace goes, if it is still the lab's.

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::Header;
use crate::lab::names;
use crate::lab::plan::q;
use crate::lab::space::{NsRef, Spaces};
use crate::net::{Result, ns};

/// `ip netns del NAME`, if NAME is still the namespace with inode `ino`
/// on nsfs device `dev` and, where the kernel has them, `cookie` (inodes
/// are reused; see `ns::cookie_here`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteNetns {
    pub name: String,
    pub dev: u64,
    pub ino: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
}

/// `ip netns del NAME`.
pub fn delete_netns_shell(name: &str) -> String {
    format!("ip netns del {}", q(name))
}

impl Step for DeleteNetns {
    fn describe(&self) -> String {
        format!("delete namespace '{}'", self.name)
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        names::check_nsname(&self.name).map_err(|e| e.message)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        let DeleteNetns {
            name,
            dev,
            ino,
            cookie,
        } = self;
        match ns::name_state(name)? {
            ns::NameState::Missing => Ok(Undone::Done),
            // While this process holds the namespace it made open, its
            // inode cannot go to another one: the cookie (a thread that
            // enters the namespace) is only needed by `nslab down`.
            ns::NameState::Namespace(d, i)
                if (d, i) == (*dev, *ino)
                    && (sp.created_kernel_named(name).is_some()
                        || ns::named_is_recorded(name, *dev, *ino, *cookie)?) =>
            {
                // Drop our socket and fd first, or the namespace (and the
                // veths in it) would outlive its name.
                if let Ok(id) = sp.resolve(&NsRef::Named(name.clone())) {
                    sp.close(id);
                }
                ns::delete_named(name).map(|_| Undone::Done)
            }
            // The name's file, made by this lab just before it died,
            // before the namespace was mounted on it.
            ns::NameState::Unmounted => ns::delete_named(name).map(|_| Undone::Done),
            ns::NameState::Namespace(..) | ns::NameState::Other => Ok(Undone::LeftAlone(format!(
                "namespace '{name}' is not the one lab '{}' made: left alone",
                header.lab
            ))),
        }
    }
}
