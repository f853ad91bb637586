//! Kernel-wide limits that make a probe fail for no fault of the lab: the
//! neighbour tables (ARP for IPv4, neighbour discovery for IPv6) and each
//! CPU's input backlog are one per kernel, shared by every namespace on the
//! machine, so another lab can use them up. A probe takes a `Snapshot`
//! before it starts and, only when it failed, another after; `delta` names
//! the counters that rose in between. (A snapshot taken for the probe just
//! before, less than `REUSE` ago, serves as this one's "before" too.)
//!
//! The neighbour tables' counters come over netlink (RTM_GETNEIGHTBL, what
//! `ip -s ntable show` prints), not from /proc/net/stat/arp_cache: that file
//! exists only in the machine's initial network namespace, and nslab often
//! runs in another (isolated mode, a container). /proc/net/softnet_stat is
//! there in every namespace, with the same machine-wide counters.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use netlink_packet_route::neighbour_table::{NeighbourTableAttribute, NeighbourTableMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// One neighbour table's limit and how often it refused a new entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighTable {
    pub v6: bool,
    /// gc_thresh3: the most entries the table holds while they are fresh.
    pub thresh3: u32,
    /// New entries refused because the table was full (`table_fulls`).
    pub table_fulls: u64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub neigh: Vec<NeighTable>,
    /// Per CPU: packets dropped because its input backlog was full.
    pub backlog_drops: Vec<u32>,
}

/// A limit that was hit while a probe ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// The IPv4 (`v6` false) or IPv6 neighbour table refused `refused` new
    /// entries: a packet to a neighbour not yet known cannot leave.
    NeighFull {
        v6: bool,
        thresh3: u32,
        refused: u64,
    },
    /// `dropped` packets were thrown away on arrival (netdev_max_backlog).
    Backlog { dropped: u64 },
}

impl Limit {
    /// What happened, in a user's words.
    pub fn why(&self) -> String {
        match self {
            Limit::NeighFull { v6, thresh3, .. } => format!(
                "the kernel's neighbour table is full: {thresh3} {} entries shared by every namespace on this machine; another lab or this one holds them",
                if *v6 { "IPv6 (NDP)" } else { "IPv4 (ARP)" }
            ),
            Limit::Backlog { dropped } => format!(
                "the kernel dropped {dropped} incoming packet{} because a CPU's input backlog (net.core.netdev_max_backlog) was full; it is shared by every namespace on this machine, and a burst from this lab or another overflowed it",
                if *dropped == 1 { "" } else { "s" }
            ),
        }
    }

    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            Limit::NeighFull { v6, .. } => format!(
                "wait for the other lab to end, or raise net.{}.neigh.default.gc_thresh3 on the host",
                if *v6 { "ipv6" } else { "ipv4" }
            ),
            Limit::Backlog { .. } => {
                "the machine is busy (this lab's traffic or another's): probe again when it is quieter, send fewer packets at once, or raise net.core.netdev_max_backlog on the host"
                    .to_string()
            }
        }
    }
}

/// The limits hit between two snapshots; empty when none was.
pub fn delta(before: &Snapshot, after: &Snapshot) -> Vec<Limit> {
    let mut hit = Vec::new();
    for a in &after.neigh {
        // A table missing before (IPv6 not loaded then) counts from zero.
        let was = before
            .neigh
            .iter()
            .find(|b| b.v6 == a.v6)
            .map_or(0, |b| b.table_fulls);
        if a.table_fulls > was {
            hit.push(Limit::NeighFull {
                v6: a.v6,
                thresh3: a.thresh3,
                refused: a.table_fulls - was,
            });
        }
    }
    // The counters are 32 bits and wrap; a CPU that went offline since
    // drops out of the comparison.
    let dropped: u64 = after
        .backlog_drops
        .iter()
        .zip(&before.backlog_drops)
        .map(|(a, b)| u64::from(a.wrapping_sub(*b)))
        .sum();
    if dropped > 0 {
        hit.push(Limit::Backlog { dropped });
    }
    hit
}

/// All the limits' explanations in one sentence; `None` for none.
pub fn why(limits: &[Limit]) -> Option<String> {
    (!limits.is_empty()).then(|| {
        limits
            .iter()
            .map(Limit::why)
            .collect::<Vec<_>>()
            .join("; also, ")
    })
}

/// All the limits' helps in one line; `None` for none.
pub fn help(limits: &[Limit]) -> Option<String> {
    (!limits.is_empty()).then(|| {
        limits
            .iter()
            .map(Limit::help)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Takes snapshots. Its netlink socket and its /proc file are opened on
/// first use, in the calling thread's namespace (any will do: the counters
/// are the kernel's), and kept: a ping between two namespaces takes about
/// 10 us, and opening both anew for every snapshot cost twice that.
#[derive(Default)]
pub struct Watch {
    nl: Option<Socket>,
    softnet: Option<File>,
    seq: u32,
    buf: Vec<u8>,
    /// The last snapshot for IPv4 and for IPv6 probes, and when it was taken.
    last: [Option<(Instant, Snapshot)>; 2],
}

/// How old a snapshot may be and still serve as a probe's "before". Even
/// with both files kept open a snapshot costs about 8 us (a netlink dump,
/// a /proc read), as much as a ping between two namespaces, and probes come
/// back to back (a star's host pings hundreds of neighbours in a loop). A
/// limit hit up to this long before a failed probe started is blamed too:
/// a full neighbour table stays full for seconds, and a backlog that
/// overflowed that recently was part of the same burst.
pub const REUSE: Duration = Duration::from_millis(50);

/// Room for any datagram of a dump: the kernel makes them at most 32 KiB,
/// and a smaller buffer would cut one short.
const DUMP_BUF: usize = 32 * 1024;

impl Watch {
    /// The counters before a probe of one family: the last snapshot when it
    /// is less than `REUSE` old, else a new one.
    pub fn before(&mut self, v6: bool) -> Snapshot {
        match &self.last[usize::from(v6)] {
            Some((at, snap)) if at.elapsed() < REUSE => snap.clone(),
            _ => self.snapshot(v6),
        }
    }

    /// The limits hit since `before`, for a probe that failed.
    pub fn hit_since(&mut self, before: &Snapshot, v6: bool) -> Vec<Limit> {
        delta(before, &self.snapshot(v6))
    }

    /// The counters that matter to a probe of one family (the IPv4 probes
    /// never use the IPv6 table, nor the other way round). Whatever cannot
    /// be read is left out: then nothing is blamed on it.
    fn snapshot(&mut self, v6: bool) -> Snapshot {
        let neigh = self.neigh(v6).unwrap_or_else(|_| {
            // A dump cut short leaves answers in the socket: start afresh.
            self.nl = None;
            Vec::new()
        });
        let snap = Snapshot {
            neigh,
            backlog_drops: self.softnet().unwrap_or_else(|_| {
                self.softnet = None;
                Vec::new()
            }),
        };
        self.last[usize::from(v6)] = Some((Instant::now(), snap.clone()));
        snap
    }

    /// `ip -s ntable show` for one family, on a blocking socket: the lab's
    /// async netlink clients cost more per request than the ping itself.
    fn neigh(&mut self, v6: bool) -> io::Result<Vec<NeighTable>> {
        if self.nl.is_none() {
            let s = Socket::new(NETLINK_ROUTE)?;
            s.connect(&SocketAddr::new(0, 0))?;
            // The kernel always answers a dump; the timeout is only so that
            // a probe can never hang on it.
            let tv = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            // SAFETY: a valid socket, and a timeval of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const tv).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            self.nl = Some(s);
            self.buf = Vec::with_capacity(DUMP_BUF);
        }
        let Some(sock) = &self.nl else {
            return Ok(Vec::new());
        };
        self.seq = self.seq.wrapping_add(1);
        let mut ask = NeighbourTableMessage::default();
        ask.header.family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNeighbourTable(ask));
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut out = vec![0; req.buffer_len()];
        req.serialize(&mut out);
        sock.send(&out, 0)?;
        let mut rows = Vec::new();
        loop {
            self.buf.clear();
            sock.recv(&mut self.buf, 0)?;
            let mut rest = &self.buf[..];
            while !rest.is_empty() {
                let len = NetlinkBuffer::new_checked(rest)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
                    .length() as usize;
                let (msg, tail) = rest.split_at(((len + 3) & !3).min(rest.len()));
                rest = tail;
                let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&msg[..len]) else {
                    continue;
                };
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(rows),
                    NetlinkPayload::Error(e) => {
                        return Err(io::Error::other(format!("neighbour table dump: {e}")));
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbourTable(t)) => {
                        rows.extend(neigh_table(&t))
                    }
                    _ => {}
                }
            }
        }
    }

    fn softnet(&mut self) -> io::Result<Vec<u32>> {
        if self.softnet.is_none() {
            self.softnet = Some(File::open("/proc/net/softnet_stat")?);
        }
        let Some(f) = &self.softnet else {
            return Ok(Vec::new());
        };
        // Read again from the start: the kernel makes the text anew.
        let mut text = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            let n = f.read_at(&mut chunk, text.len() as u64)?;
            if n == 0 {
                break;
            }
            text.extend_from_slice(&chunk[..n]);
        }
        Ok(softnet_drops(&String::from_utf8_lossy(&text)))
    }
}

/// The drops column of /proc/net/softnet_stat: one line per CPU, hex
/// columns, the second counting packets dropped because that CPU's backlog
/// was full. Lines that do not parse are left out.
pub fn softnet_drops(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| u32::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .collect()
}

/// A table's row from one message of an RTM_GETNEIGHTBL dump. The dump
/// also holds a message per device with only its parameters (no
/// statistics), and tables nslab never uses (ATM's clip_arp_cache): those
/// give `None`.
pub fn neigh_table(msg: &NeighbourTableMessage) -> Option<NeighTable> {
    let (mut name, mut thresh3, mut fulls) = (None, None, None);
    for a in &msg.attributes {
        match a {
            NeighbourTableAttribute::Name(n) => name = Some(n.as_str()),
            NeighbourTableAttribute::Threshold3(t) => thresh3 = Some(*t),
            NeighbourTableAttribute::Stats(s) => fulls = Some(s.table_fulls),
            _ => {}
        }
    }
    let v6 = match name? {
        "arp_cache" => false,
        "ndisc_cache" => true,
        _ => return None,
    };
    Some(NeighTable {
        v6,
        thresh3: thresh3?,
        table_fulls: fulls?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::Parseable;

    /// This file as read on a 2-CPU machine (Linux 6.18), the second CPU
    /// with 0x2a drops.
    const SOFTNET: &str = "\
00000017 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0000070f 0000002a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000
";

    #[test]
    fn softnet_drops_reads_the_second_column_in_hex() {
        assert_eq!(softnet_drops(SOFTNET), vec![0, 42]);
        assert_eq!(softnet_drops("garbage\n\n"), Vec::<u32>::new());
    }

    fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(4 + payload.len() as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize((v.len() + 3) & !3, 0);
        v
    }

    /// An RTM_NEWNEIGHTBL payload as the kernel sends it (struct rtgenmsg,
    /// then NDTA_NAME, NDTA_THRESH3 and NDTA_STATS when `fulls` is given).
    fn wire(family: u8, name: &str, thresh3: u32, fulls: Option<u64>) -> NeighbourTableMessage {
        let mut b = vec![family, 0, 0, 0];
        b.extend(nla(1, format!("{name}\0").as_bytes()));
        b.extend(nla(4, &thresh3.to_ne_bytes()));
        if let Some(f) = fulls {
            // struct ndt_stats: eleven u64, table_fulls last.
            let mut stats = vec![0u8; 8 * 10];
            stats[..8].copy_from_slice(&5u64.to_ne_bytes()); // allocs
            stats.extend_from_slice(&f.to_ne_bytes());
            b.extend(nla(7, &stats));
        }
        NeighbourTableMessage::parse(&b).expect("a neighbour table message")
    }

    #[test]
    fn neigh_table_reads_name_limit_and_table_fulls() {
        assert_eq!(
            neigh_table(&wire(2, "arp_cache", 1024, Some(3))),
            Some(NeighTable {
                v6: false,
                thresh3: 1024,
                table_fulls: 3
            })
        );
        assert_eq!(
            neigh_table(&wire(10, "ndisc_cache", 2048, Some(0))).map(|t| (t.v6, t.thresh3)),
            Some((true, 2048))
        );
        // A device's parameters only; a table of no interest.
        assert_eq!(neigh_table(&wire(2, "arp_cache", 1024, None)), None);
        assert_eq!(neigh_table(&wire(2, "clip_arp_cache", 1024, Some(1))), None);
    }

    fn snap(fulls4: u64, fulls6: u64, drops: &[u32]) -> Snapshot {
        Snapshot {
            neigh: vec![
                NeighTable {
                    v6: false,
                    thresh3: 1024,
                    table_fulls: fulls4,
                },
                NeighTable {
                    v6: true,
                    thresh3: 1024,
                    table_fulls: fulls6,
                },
            ],
            backlog_drops: drops.to_vec(),
        }
    }

    #[test]
    fn delta_names_only_what_rose() {
        let before = snap(7, 0, &[1, 2]);
        assert!(delta(&before, &snap(7, 0, &[1, 2])).is_empty());
        assert_eq!(
            delta(&before, &snap(9, 0, &[1, 2])),
            vec![Limit::NeighFull {
                v6: false,
                thresh3: 1024,
                refused: 2
            }]
        );
        assert_eq!(
            delta(&before, &snap(7, 1, &[1, 2])),
            vec![Limit::NeighFull {
                v6: true,
                thresh3: 1024,
                refused: 1
            }]
        );
        // Per CPU, across a wrap of the 32-bit counter.
        let wrapping = Snapshot {
            backlog_drops: vec![u32::MAX, 2],
            ..snap(7, 0, &[])
        };
        assert_eq!(
            delta(&wrapping, &snap(7, 0, &[1, 5])),
            vec![Limit::Backlog { dropped: 5 }]
        );
    }

    #[test]
    fn why_and_help_say_what_is_shared_and_what_to_raise() {
        let hit = delta(&snap(0, 0, &[0]), &snap(1, 0, &[3]));
        let why = why(&hit).expect("a reason");
        assert!(why.contains(
            "neighbour table is full: 1024 IPv4 (ARP) entries shared by every namespace"
        ));
        assert!(why.contains("dropped 3 incoming packets"));
        let help = help(&hit).expect("a help");
        assert!(help.contains("net.ipv4.neigh.default.gc_thresh3"));
        assert!(help.contains("net.core.netdev_max_backlog"));
        assert_eq!(super::why(&[]), None);
    }
}
