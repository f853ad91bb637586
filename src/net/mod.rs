//! Linux backend: namespaces, netlink (link/addr/route), sysctls, ICMP and
//! child processes. Nothing here knows about rhai; every doc line names the
//! iproute2 command it replaces.

pub mod capture;
pub mod exec;
pub mod fdlimit;
pub mod kstat;
pub mod nft;
pub mod nft_text;
pub mod nftlib;
pub mod ns;
pub mod pcap_read;
pub mod pids;
pub mod ping;
pub mod probe;
pub mod rtnl;
pub mod sysctl;
pub mod throughput;
pub mod unit;
pub mod unixsock;

use std::io;

/// An error from the kernel or the file system, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{op}: {source}")]
    Os {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{op}: netlink error: {source}")]
    Netlink {
        op: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("namespace '{0}' was deleted earlier")]
    Gone(String),
    /// `nft` refused a ruleset; its first error line.
    #[error("nft: {0}")]
    Nft(String),
    #[error("{0}")]
    Other(String),
    /// A file nslab keeps for itself (under /run/nslab) that is not as
    /// nslab writes it: what is wrong with it, and what to do.
    #[error("{message}")]
    Untrusted { message: String, help: String },
}

impl NetError {
    pub fn os(op: &'static str, source: io::Error) -> Self {
        NetError::Os { op, source }
    }

    pub fn errno(op: &'static str, e: nix::errno::Errno) -> Self {
        NetError::Os {
            op,
            source: io::Error::from_raw_os_error(e as i32),
        }
    }

    /// The kernel's errno behind this error, when there is one.
    pub fn raw_errno(&self) -> Option<i32> {
        match self {
            NetError::Os { source, .. } => source.raw_os_error(),
            NetError::Netlink {
                source: rtnetlink::Error::NetlinkError(msg),
                ..
            } => Some(msg.raw_code().abs()).filter(|c| *c != 0),
            // nft reports the kernel's errno only as strerror text.
            NetError::Nft(msg) => [
                libc::EPERM,
                libc::ENOENT,
                libc::EEXIST,
                libc::EOPNOTSUPP,
                libc::EINVAL,
            ]
            .into_iter()
            .find(|c| {
                // strerror's words, as nft prints them (nix's own
                // descriptions differ for some, e.g. EOPNOTSUPP).
                let text = std::io::Error::from_raw_os_error(*c).to_string();
                let text = text.split(" (os error").next().unwrap_or_default();
                msg.ends_with(text)
            }),
            _ => None,
        }
    }

    /// True when the object is already gone: teardown treats that as done.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.raw_errno(),
            Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ESRCH) | Some(libc::EADDRNOTAVAIL)
        )
    }
}

pub type Result<T> = std::result::Result<T, NetError>;
