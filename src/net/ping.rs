//! `ping -c N ADDR` with a native ICMP socket: no `ping` program.
//!
//! Raw ICMP sockets need CAP_NET_RAW in the user namespace that owns the
//! network namespace: true for root, and for nslab's own user namespace in
//! isolated mode. (Unprivileged "ping sockets" would need ping_group_range,
//! which only accepts mapped gids.)

use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{NetError, Result};

/// How to ping.
#[derive(Debug, Clone)]
pub struct PingOpts {
    pub count: u32,
    pub interval: Duration,
    /// How long to wait for the last reply.
    pub timeout: Duration,
    /// Bytes of data in each echo (`ping -s`; 56 by default).
    pub size: usize,
    /// Don't fragment (`ping -M do`): the packet leaves whole with DF set
    /// or not at all, and a router whose link is too small for it sends
    /// back "fragmentation needed" instead of passing it on.
    pub df: bool,
    /// The source address the echoes leave from (`ping -I ADDR`); None:
    /// the one the kernel picks.
    pub src: Option<IpAddr>,
    /// The echoes' TTL (IPv6: hop limit; `ping -t`); None: the default.
    pub ttl: Option<u8>,
    /// The link they leave by (`ping -I DEV`, SO_BINDTODEVICE; a VRF
    /// binds to its routes); None: as the routes say.
    pub dev: Option<String>,
}

/// One echo reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub seq: u16,
    pub ttl: Option<u8>,
    pub rtt: Duration,
    pub from: IpAddr,
    pub bytes: usize,
}

/// What a ping run saw.
#[derive(Debug, Clone, Default)]
pub struct PingReport {
    pub sent: u32,
    pub replies: Vec<Reply>,
    /// Why packets could not be sent or were refused, as ping prints it.
    pub error: Option<String>,
    /// A machine-wide limit the kernel hit while packets were lost (see
    /// `kstat`); set by the caller, which took the counters around the run.
    pub why: Option<String>,
    /// Packets were lost while such a limit was hit: the loss may be the
    /// machine's rather than the path's.
    pub busy: bool,
}

impl PingReport {
    /// The error is a router's own words ("From 10.1.0.1: Time to live
    /// exceeded"), which say why an echo came back unanswered.
    pub fn router_said(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.starts_with("From "))
    }

    /// Adds a later run's echoes (sent again after a loss): its replies are
    /// numbered after this run's.
    pub fn absorb(&mut self, later: PingReport) {
        let base = self.sent as u16;
        self.replies.extend(later.replies.into_iter().map(|mut r| {
            r.seq = r.seq.wrapping_add(base);
            r
        }));
        self.sent += later.sent;
        self.error = later.error.or(self.error.take());
        self.why = later.why.or(self.why.take());
        self.busy |= later.busy;
    }
}

/// Bytes of data in an echo, as `ping` sends by default.
pub const PAYLOAD: usize = 56;
/// The most data an echo can carry (an IPv4 packet of 65535 bytes).
pub const MAX_PAYLOAD: usize = 65507;
static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// The low bits of the process id, the base of every echo id (read once:
/// `std::process::id` asks the kernel each time).
fn pid_bits() -> u16 {
    static PID: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PID.get_or_init(|| std::process::id() as u16)
}

/// A raw ICMP socket kept between the probes of one namespace and family
/// (a star pings hundreds of times from one host), with the options the
/// last probe set on it: each probe sets only those that differ (three
/// syscalls fewer per ping), and a sweep (`plain`) never inherits a ping's
/// TTL, DF or device.
pub struct PingSocket {
    sock: Socket,
    v6: bool,
    /// DF as last set; None: unknown (a fresh socket, or a set that failed).
    df: std::cell::Cell<Option<bool>>,
    /// TTL and device as last set; None: unknown.
    ttl_dev: std::cell::RefCell<Option<(Option<u8>, Option<String>)>>,
}

impl PingSocket {
    pub fn new(sock: Socket, v6: bool) -> PingSocket {
        PingSocket {
            sock,
            v6,
            df: std::cell::Cell::new(None),
            ttl_dev: std::cell::RefCell::new(None),
        }
    }

    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    fn set_df(&self, df: bool) -> std::io::Result<()> {
        if self.df.get() == Some(df) {
            return Ok(());
        }
        self.df.set(None);
        set_df(&self.sock, self.v6, df)?;
        self.df.set(Some(df));
        Ok(())
    }

    fn set_ttl_and_dev(&self, ttl: Option<u8>, dev: Option<&str>) -> std::io::Result<()> {
        let same = self
            .ttl_dev
            .borrow()
            .as_ref()
            .is_some_and(|(t, d)| *t == ttl && d.as_deref() == dev);
        if same {
            return Ok(());
        }
        *self.ttl_dev.borrow_mut() = None;
        set_ttl_and_dev(&self.sock, self.v6, ttl, dev)?;
        *self.ttl_dev.borrow_mut() = Some((ttl, dev.map(str::to_string)));
        Ok(())
    }

    /// The kernel's defaults again (no DF, the default TTL, no device),
    /// for a probe that has no options of its own (`sweep`).
    pub fn plain(&self) -> std::io::Result<&Socket> {
        self.set_df(false)?;
        self.set_ttl_and_dev(None, None)?;
        Ok(&self.sock)
    }
}

/// Opens an ICMP socket in the calling thread's namespace.
pub fn open_socket(v6: bool) -> Result<Socket> {
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let sock = Socket::new(domain, Type::RAW, Some(proto))
        .map_err(|e| NetError::os("open ICMP socket", e))?;
    if v6 {
        // A raw ICMPv6 socket gets no IPv6 header: the hop limit of a
        // reply comes as ancillary data, once asked for (ping's ttl=).
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true)
            .map_err(|e| NetError::os("ask for hop limits", e.into()))?;
    }
    hear_only_answers(&sock, v6).map_err(|e| NetError::os("filter ICMP messages", e))?;
    Ok(sock)
}

/// The ICMP types a ping socket is given: echo replies and the errors
/// `error_text` reads. A raw socket is otherwise handed a copy of every
/// ICMP message its namespace receives, the echo requests other hosts
/// send it included: in reach-N each host's socket was handed, and
/// nslab read and dropped, as many requests as replies (as iputils'
/// ping(8), the kernel filters them out before it copies anything).
const V4_ANSWERS: [u8; 4] = [0, 3, 11, 12];
const V6_ANSWERS: [u8; 5] = [129, 1, 2, 3, 4];

/// ICMP_FILTER (IPv4, a mask of the 32 first types) or ICMP6_FILTER (a
/// mask of all 256): a set bit blocks its type.
fn hear_only_answers(sock: &Socket, v6: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // linux/icmp.h and linux/icmpv6.h: ICMP_FILTER at SOL_RAW, and
    // ICMPV6_FILTER at IPPROTO_ICMPV6, both option 1.
    const SOL_RAW: libc::c_int = 255;
    const FILTER: libc::c_int = 1;
    let mut mask = [u32::MAX; 8];
    let answers: &[u8] = if v6 { &V6_ANSWERS } else { &V4_ANSWERS };
    for &t in answers {
        mask[usize::from(t >> 5)] &= !(1u32 << (t & 31));
    }
    let (level, len) = if v6 {
        (libc::IPPROTO_ICMPV6, std::mem::size_of_val(&mask))
    } else {
        (SOL_RAW, std::mem::size_of::<u32>())
    };
    // SAFETY: a valid socket, and `len` bytes of `mask` for the kernel to
    // read (struct icmp_filter is its first word, icmp6_filter all eight).
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            FILTER,
            mask.as_ptr().cast(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// recvmsg on an ICMPv6 socket: the bytes, who sent them and the hop
/// limit they arrived with.
fn recv_v6(sock: &Socket, buf: &mut [u8]) -> std::io::Result<(usize, Option<IpAddr>, Option<u8>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
    use std::os::fd::AsRawFd;
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(libc::c_int);
    let msg = recvmsg::<SockaddrIn6>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .map_err(std::io::Error::from)?;
    let mut hops = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::Ipv6HopLimit(h) = c {
                hops = u8::try_from(h).ok();
            }
        }
    }
    let from = msg.address.map(|a| IpAddr::V6(a.ip()));
    Ok((msg.bytes, from, hops))
}

fn checksum(data: &[u8]) -> u16 {
    // Index loops, not `chunks(2)`: nslab's own code is built for size,
    // where the iterator stayed a call per word (reach-30's 870 echo
    // requests cost 1.85 M instructions, two thirds of them here).
    let mut sum: u32 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        sum += u32::from(u16::from_be_bytes([data[i], data[i + 1]]));
        i += 2;
    }
    if i < data.len() {
        sum += u32::from(data[i]) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(v6: bool, id: u16, seq: u16, size: usize) -> Vec<u8> {
    let mut pkt = vec![0u8; 8 + size];
    pkt[0] = if v6 { 128 } else { 8 };
    let mut i = 0;
    while i < size {
        pkt[8 + i] = i as u8;
        i += 1;
    }
    set_id_seq(&mut pkt, v6, id, seq);
    pkt
}

/// Writes an echo request's id and sequence number (and, for ICMPv4, its
/// checksum: the kernel fills in the ICMPv6 one itself) into `pkt`, an
/// echo request of `echo_request`'s making; a sweep sends one buffer so
/// rewritten instead of building a packet per pair.
fn set_id_seq(pkt: &mut [u8], v6: bool, id: u16, seq: u16) {
    pkt[4..6].copy_from_slice(&id.to_be_bytes());
    pkt[6..8].copy_from_slice(&seq.to_be_bytes());
    if !v6 {
        pkt[2..4].copy_from_slice(&[0, 0]);
        let c = checksum(pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

enum Seen {
    Reply {
        seq: u16,
        ttl: Option<u8>,
        bytes: usize,
    },
    Unreachable(String),
    Other,
}

fn parse(v6: bool, buf: &[u8], id: u16) -> Seen {
    let (icmp, ttl) = if v6 {
        (buf, None)
    } else {
        if buf.len() < 20 {
            return Seen::Other;
        }
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if buf.len() < ihl + 8 {
            return Seen::Other;
        }
        (&buf[ihl..], Some(buf[8]))
    };
    if icmp.len() < 8 {
        return Seen::Other;
    }
    let reply = if v6 { 129 } else { 0 };
    let pid = u16::from_be_bytes([icmp[4], icmp[5]]);
    if icmp[0] == reply && pid == id {
        return Seen::Reply {
            seq: u16::from_be_bytes([icmp[6], icmp[7]]),
            ttl,
            bytes: icmp.len(),
        };
    }
    let Some(msg) = error_text(v6, icmp) else {
        return Seen::Other;
    };
    // The offending packet follows: check it was ours before blaming.
    let inner = &icmp[8..];
    let hdr = if v6 {
        40
    } else {
        inner
            .first()
            .map(|b| usize::from(b & 0x0f) * 4)
            .unwrap_or(20)
    };
    if inner.len() >= hdr + 8 && u16::from_be_bytes([inner[hdr + 4], inner[hdr + 5]]) == id {
        return Seen::Unreachable(msg);
    }
    Seen::Other
}

/// What an ICMP error says, in the words of iputils' ping(8) (so that a
/// lab reads the same either way); None for messages that are not errors. "Fragmentation needed" and IPv6's "packet too big" carry the
/// MTU of the link that was too small.
fn error_text(v6: bool, icmp: &[u8]) -> Option<String> {
    let (ty, code) = (icmp[0], icmp[1]);
    let word = |a: usize| u32::from_be_bytes([icmp[a], icmp[a + 1], icmp[a + 2], icmp[a + 3]]);
    let text = if v6 {
        match (ty, code) {
            (1, 0) => "Destination unreachable: No route".into(),
            (1, 1) => "Destination unreachable: Administratively prohibited".into(),
            (1, 2) => "Destination unreachable: Beyond scope".into(),
            (1, 3) => "Destination unreachable: Address unreachable".into(),
            (1, 4) => "Destination unreachable: Port unreachable".into(),
            (1, 5) => "Destination unreachable: Source address failed policy".into(),
            (1, 6) => "Destination unreachable: Reject route".into(),
            (1, c) => format!("Destination unreachable: Unknown code {c}"),
            (2, _) => format!("Packet too big: mtu={}", word(4)),
            (3, 0) => "Time exceeded: Hop limit".into(),
            (3, 1) => "Time exceeded: Defragmentation failure".into(),
            (3, c) => format!("Time exceeded: Unknown code {c}"),
            (4, 0) => format!("Parameter problem: Wrong header field at {}", word(4)),
            (4, 1) => format!("Parameter problem: Unknown header at {}", word(4)),
            (4, 2) => format!("Parameter problem: Unknown option at {}", word(4)),
            (4, c) => format!("Parameter problem: Unknown code {c} at {}", word(4)),
            _ => return None,
        }
    } else {
        match (ty, code) {
            (3, 0) => "Destination Net Unreachable".into(),
            (3, 1) => "Destination Host Unreachable".into(),
            (3, 2) => "Destination Protocol Unreachable".into(),
            (3, 3) => "Destination Port Unreachable".into(),
            (3, 4) => format!(
                "Frag needed and DF set (mtu = {})",
                u16::from_be_bytes([icmp[6], icmp[7]])
            ),
            (3, 5) => "Source Route Failed".into(),
            (3, 6) => "Destination Net Unknown".into(),
            (3, 7) => "Destination Host Unknown".into(),
            (3, 8) => "Source Host Isolated".into(),
            (3, 9) => "Destination Net Prohibited".into(),
            (3, 10) => "Destination Host Prohibited".into(),
            (3, 11) => "Destination Net Unreachable for Type of Service".into(),
            (3, 12) => "Destination Host Unreachable for Type of Service".into(),
            (3, 13) => "Packet filtered".into(),
            (3, 14) => "Precedence Violation".into(),
            (3, 15) => "Precedence Cutoff".into(),
            (3, c) => format!("Dest Unreachable, Bad Code: {c}"),
            (11, 0) => "Time to live exceeded".into(),
            (11, 1) => "Frag reassembly time exceeded".into(),
            (11, c) => format!("Time exceeded, Bad Code: {c}"),
            (12, _) => format!("Parameter problem: pointer = {}", icmp[4]),
            _ => return None,
        }
    };
    Some(text)
}

/// Throws away what a kept socket received since its last use (every ICMP
/// packet of the namespace reaches a raw socket).
pub fn drain(sock: &Socket) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    while sock.recv_with_flags(&mut buf, libc::MSG_DONTWAIT).is_ok() {}
}

/// Pings `dst` from `sock` (opened in the source namespace). Stops early when
/// `cancel` is set.
pub fn ping(
    kept: &PingSocket,
    dst: IpAddr,
    opts: &PingOpts,
    cancel: &crate::cancel::Cancel,
) -> PingReport {
    let v6 = dst.is_ipv6();
    let sock = kept.socket();
    let id = pid_bits().wrapping_add(NEXT_ID.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919));
    let addr = SockAddr::from(SocketAddr::new(dst, 0));
    let mut report = PingReport::default();
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut got = vec![false; opts.count as usize];
    // A reply is as big as the request (and its IP header).
    let mut buf = vec![MaybeUninit::<u8>::uninit(); (opts.size + 128).max(1500)];
    let mut buf6 = if v6 {
        vec![0u8; (opts.size + 128).max(1500)]
    } else {
        Vec::new()
    };
    // The socket is kept between pings: set (or clear) DF, the TTL and the
    // device where the last probe left them otherwise.
    if let Err(e) = kept.set_df(opts.df) {
        report.error = Some(strip_os(&e));
    }
    if let Err(e) = kept.set_ttl_and_dev(opts.ttl, opts.dev.as_deref()) {
        report.error = Some(strip_os(&e));
        return report;
    }

    for i in 0..opts.count {
        let seq = (i + 1) as u16;
        let pkt = echo_request(v6, id, seq, opts.size);
        let now = Instant::now();
        sent_at.push(now);
        match sock.send_to(&pkt, &addr) {
            Ok(_) => report.sent += 1,
            Err(e) => {
                report.sent += 1;
                // A router's own words ("From 10.0.0.1: Frag needed and DF
                // set (mtu = 1400)") say more than the local error that
                // follows them (the kernel learned the MTU: "Message too
                // long"); ping prints both, the result keeps the first.
                if !report.router_said() {
                    report.error = Some(strip_os(&e));
                }
            }
        }
        let last = i + 1 == opts.count;
        let deadline = now + if last { opts.timeout } else { opts.interval };
        loop {
            if cancel.is_set() {
                return report;
            }
            if last && got.iter().all(|g| *g) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Short slices so Ctrl-C is noticed promptly.
            let _ = sock.set_read_timeout(Some(left.min(Duration::from_millis(50))));
            let (n, from_ip, hops) = if v6 {
                match recv_v6(sock, &mut buf6) {
                    Ok((n, from, hops)) => (n, from.unwrap_or(dst), hops),
                    Err(_) => continue,
                }
            } else {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => (n, from.as_socket().map(|s| s.ip()).unwrap_or(dst), None),
                    Err(_) => continue,
                }
            };
            let data: &[u8] = if v6 {
                &buf6[..n]
            } else {
                // SAFETY: recv_from initialised the first n bytes.
                unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) }
            };
            match parse(v6, data, id) {
                Seen::Reply { seq, ttl, bytes } => {
                    let ttl = ttl.or(hops);
                    let idx = usize::from(seq).wrapping_sub(1);
                    if idx < got.len() && !got[idx] {
                        got[idx] = true;
                        report.replies.push(Reply {
                            seq,
                            ttl,
                            rtt: sent_at[idx].elapsed(),
                            from: from_ip,
                            bytes,
                        });
                    }
                }
                Seen::Unreachable(msg) => report.error = Some(format!("From {from_ip}: {msg}")),
                Seen::Other => {}
            }
        }
    }
    report
}

/// Echo requests from many sockets to many addresses at once, then their
/// replies, all within one `timeout` (what `reach` needs: every pair of a
/// lab at the same time, not one after the other). `plan` pairs each
/// socket (opened in its source namespace) with the addresses it pings, of
/// its family; returns, in the same shape, how many replies came back from
/// each address.
pub fn sweep(
    plan: &[(&Socket, bool, Vec<IpAddr>)],
    count: u32,
    timeout: Duration,
    cancel: &crate::cancel::Cancel,
) -> Vec<Vec<u32>> {
    let pairs: usize = plan.iter().map(|(_, _, d)| d.len()).sum();
    // One echo id per pair: a reply names the pair it answers.
    let base = NEXT_ID.fetch_add(pairs as u16, Ordering::Relaxed);
    let mut got: Vec<Vec<u32>> = plan.iter().map(|(_, _, d)| vec![0; d.len()]).collect();
    // Each (pair, sequence number) heard, at pair * count + seq - 1.
    let mut seen = vec![false; pairs * count as usize];
    let mut heard = 0;
    let pair_id = |k: usize| base.wrapping_add(k as u16);
    let mut pkts = [
        echo_request(false, 0, 0, PAYLOAD),
        echo_request(true, 0, 0, PAYLOAD),
    ];
    for round in 0..count {
        let mut k = 0;
        for (sock, v6, dsts) in plan {
            let pkt = &mut pkts[usize::from(*v6)];
            for dst in dsts {
                set_id_seq(pkt, *v6, pair_id(k), (round + 1) as u16);
                let _ = sock.send_to(pkt, &SockAddr::from(SocketAddr::new(*dst, 0)));
                k += 1;
            }
        }
    }
    // Which (plan entry, destination) a pair number is.
    let mut owner = Vec::with_capacity(pairs);
    for (i, (_, _, dsts)) in plan.iter().enumerate() {
        for j in 0..dsts.len() {
            owner.push((i, j));
        }
    }
    let mut fds: Vec<libc::pollfd> = plan
        .iter()
        .map(|(s, _, _)| libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(*s),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    for (s, _, _) in plan {
        let _ = s.set_nonblocking(true);
    }
    let expected = pairs * count as usize;
    let deadline = Instant::now() + timeout;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    while heard < expected && !cancel.is_set() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ms = left.min(Duration::from_millis(50)).as_millis() as i32;
        // SAFETY: fds is a valid array of pollfd of this length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms.max(1)) };
        if n <= 0 {
            continue;
        }
        for (i, pfd) in fds.iter_mut().enumerate() {
            if pfd.revents & libc::POLLIN == 0 {
                continue;
            }
            let (sock, v6, _) = &plan[i];
            while let Ok(n) = sock.recv(&mut buf) {
                // SAFETY: recv initialised the first n bytes.
                let data: &[u8] =
                    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
                let Some((id, seq)) = echo_reply(*v6, data) else {
                    continue;
                };
                let k = usize::from(id.wrapping_sub(base));
                if k >= pairs || owner[k].0 != i || !(1..=count).contains(&u32::from(seq)) {
                    continue;
                }
                // In range: k < pairs and 1 <= seq <= count.
                let at = k * count as usize + usize::from(seq) - 1;
                if !seen[at] {
                    seen[at] = true;
                    heard += 1;
                    let (a, b) = owner[k];
                    got[a][b] += 1;
                }
            }
        }
    }
    for (s, _, _) in plan {
        let _ = s.set_nonblocking(false);
    }
    got
}

/// (id, seq) of an echo reply, if `buf` holds one.
fn echo_reply(v6: bool, buf: &[u8]) -> Option<(u16, u16)> {
    let icmp = if v6 {
        buf
    } else {
        let ihl = usize::from(*buf.first()? & 0x0f) * 4;
        buf.get(ihl..)?
    };
    let reply = if v6 { 129 } else { 0 };
    if icmp.len() < 8 || icmp[0] != reply {
        return None;
    }
    Some((
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    ))
}

/// "Network is unreachable (os error 101)" -> "Network is unreachable".
/// IP_TTL (IPV6_UNICAST_HOPS) to `ttl`, or -1: the namespace's default;
/// SO_BINDTODEVICE to `dev`, or none.
fn set_ttl_and_dev(
    sock: &Socket,
    v6: bool,
    ttl: Option<u8>,
    dev: Option<&str>,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let val: libc::c_int = ttl.map_or(-1, libc::c_int::from);
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TTL)
    };
    // SAFETY: a plain setsockopt with an int the call reads.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let dev = std::ffi::OsString::from(dev.unwrap_or(""));
    nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::BindToDevice, &dev)
        .map_err(std::io::Error::from)
}

/// IP_MTU_DISCOVER (IPV6_MTU_DISCOVER): DO with `df`, else WANT (the
/// kernel's default: DF while the packet fits the path's known MTU).
fn set_df(sock: &Socket, v6: bool, df: bool) -> std::io::Result<()> {
    let (level, opt, val) = match (v6, df) {
        (false, true) => (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        ),
        (false, false) => (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_WANT,
        ),
        (true, true) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DO,
        ),
        (true, false) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_WANT,
        ),
    };
    // SAFETY: a valid socket, and an int option of its size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(sock),
            level,
            opt,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn strip_os(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ICMP message `parse` makes something of passes the sockets'
    /// filter, and nothing else does.
    #[test]
    fn the_filter_passes_what_parse_reads() {
        for v6 in [false, true] {
            let reply = if v6 { 129 } else { 0 };
            let answers: &[u8] = if v6 { &V6_ANSWERS } else { &V4_ANSWERS };
            for t in 0..=255u8 {
                let read = t == reply || error_text(v6, &[t, 0, 0, 0, 0, 0, 0, 0]).is_some();
                assert_eq!(read, answers.contains(&t), "type {t}, v6 {v6}");
            }
        }
    }

    #[test]
    fn checksum_of_echo_request_verifies() {
        let pkt = echo_request(false, 0x1234, 1, PAYLOAD);
        assert_eq!(checksum(&pkt), 0);
        // Odd lengths: the last byte is the high half of a word.
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234u16 + 0x5600));
        // A reused buffer, rewritten, is the packet made afresh.
        let mut pkt = echo_request(false, 0, 0, PAYLOAD);
        for (id, seq) in [(0xffff, 0xffff), (7, 1), (0, 0), (0x8000, 3)] {
            set_id_seq(&mut pkt, false, id, seq);
            assert_eq!(pkt, echo_request(false, id, seq, PAYLOAD));
            assert_eq!(checksum(&pkt), 0);
        }
    }

    #[test]
    fn parse_ignores_other_ids() {
        let mut pkt = echo_request(true, 7, 1, PAYLOAD);
        pkt[0] = 129;
        assert!(matches!(parse(true, &pkt, 8), Seen::Other));
        assert!(matches!(parse(true, &pkt, 7), Seen::Reply { seq: 1, .. }));
    }
}
