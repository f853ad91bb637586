//! Lab errors: what went wrong in the user's terms, and what to do about it.

use crate::net::NetError;

/// An error a user can act on: a message and a `help:` line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LabError {
    pub message: String,
    pub help: Option<String>,
    #[source]
    pub source: Option<Box<NetError>>,
}

impl LabError {
    pub fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        LabError {
            message: message.into(),
            help: Some(help.into()),
            source: None,
        }
    }

    /// A kernel error about `what` (e.g. "link 'veth0' in namespace 'ns1'"),
    /// with errno translated into words. Callers match the errno values that
    /// mean something special for their operation before falling back here.
    pub fn kernel(doing: &str, what: &str, e: NetError) -> Self {
        if let NetError::Gone(ns) = &e {
            return LabError::new(
                format!("cannot {doing}: namespace '{ns}' was deleted earlier in this script"),
                "make a new one with netns(\"…\") and use that",
            );
        }
        if let NetError::Untrusted { message, help } = &e {
            return LabError::new(format!("cannot {doing} ({what}): {message}"), help.clone());
        }
        let (message, help) = match e.raw_errno() {
            Some(libc::EEXIST) => (
                format!("{what} already exists"),
                "pick another name, or remove the existing one first".to_string(),
            ),
            Some(libc::EPERM) | Some(libc::EACCES) => (
                format!("permission denied while trying to {doing} ({what})"),
                "run nslab as root (sudo nslab run …), or run it with --isolated to build the lab in private namespaces"
                    .to_string(),
            ),
            Some(libc::ENODEV) => (
                format!("{what} does not exist"),
                "check the name: ns.links() lists the links of a namespace".to_string(),
            ),
            Some(libc::ENETUNREACH) => (
                format!("cannot {doing}: the gateway is not on any connected subnet ({what})"),
                "give the namespace an address in the gateway's subnet first (ns.addr or link.addr)".to_string(),
            ),
            Some(libc::EMFILE) | Some(libc::ENFILE) => (
                format!("cannot {doing} ({what}): too many open files"),
                "a lab holds two open files per namespace (the namespace and its netlink socket): raise the limit on open files (ulimit -n; nslab raises its soft limit to the hard one itself), or build fewer namespaces".to_string(),
            ),
            Some(libc::EBUSY) => (
                format!("cannot {doing}: {what} is busy"),
                "it is in use by something else; free it first".to_string(),
            ),
            Some(libc::EOPNOTSUPP) => (
                format!("cannot {doing}: not supported by this kernel ({what})"),
                "load the kernel module for it, or use another kind of link".to_string(),
            ),
            Some(libc::ERANGE) | Some(libc::EINVAL) => (
                format!("cannot {doing}: the kernel rejected the value ({what})"),
                "check the value against what this kind of link accepts".to_string(),
            ),
            Some(code) => (
                format!(
                    "cannot {doing} ({what}): {}",
                    nix::errno::Errno::from_raw(code).desc()
                ),
                "see the kernel's message above; nslab undoes what it built so far".to_string(),
            ),
            None => (
                format!("cannot {doing} ({what}): {e}"),
                "this is unexpected; please report it with the script".to_string(),
            ),
        };
        LabError {
            message,
            help: Some(help),
            source: Some(Box::new(e)),
        }
    }
}

pub type Result<T> = std::result::Result<T, LabError>;
