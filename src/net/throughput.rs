//! What iperf3 measures, without iperf3: a receiver socket opened in one
//! namespace, a sender socket in another, each driven by a thread of its
//! own for a few seconds; the receiver counts what arrived.

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::probe::{self, Proto, Reach};
use super::{NetError, Result};
use crate::cancel::Cancel;

/// Bytes in one UDP datagram: its sequence number and padding, small
/// enough for any lab link's MTU of 1500.
const DATAGRAM: usize = 1400;
/// How long the receiver keeps reading UDP after the sender stopped,
/// while datagrams still come (a shaped link's queue drains).
const UDP_DRAIN: Duration = Duration::from_millis(1000);
/// Silence that ends the drain early.
const UDP_QUIET: Duration = Duration::from_millis(200);
const SLICE: Duration = Duration::from_millis(50);

/// The receiving end, opened in its namespace: a dual-stack socket on
/// [::]:port (listening, for TCP).
pub struct Receiver {
    proto: Proto,
    sock: Socket,
}

impl Receiver {
    /// A copy of the socket (the same socket, a second descriptor): kept
    /// while a failure is explained, so the path check still sees
    /// something listen on the port.
    pub fn hold(&self) -> Option<Socket> {
        self.sock.try_clone().ok()
    }
}

/// Opens the receiver on `port` in the calling thread's namespace.
pub fn receiver(proto: Proto, port: u16) -> Result<Receiver> {
    let (ty, p) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let s = Socket::new(Domain::IPV6, ty, Some(p)).map_err(|e| NetError::os("open socket", e))?;
    s.set_only_v6(false)
        .map_err(|e| NetError::os("make socket dual-stack", e))?;
    s.set_reuse_address(true)
        .map_err(|e| NetError::os("set SO_REUSEADDR", e))?;
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    s.bind(&addr.into()).map_err(|e| NetError::os("bind", e))?;
    if proto == Proto::Tcp {
        s.listen(1).map_err(|e| NetError::os("listen", e))?;
    }
    Ok(Receiver { proto, sock: s })
}

/// What one run measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    /// Bytes the receiver got (TCP: the stream; UDP: datagrams' payload).
    pub received: u64,
    /// From the first byte received to the last.
    pub span: Duration,
    /// Bytes the sender handed to the kernel.
    pub sent: u64,
    /// UDP: datagrams sent and received.
    pub sent_packets: u64,
    pub received_packets: u64,
}

impl Measured {
    /// Receiver-side goodput in bits/s (0 when less than two reads came).
    pub fn bits_per_s(&self) -> f64 {
        let s = self.span.as_secs_f64();
        if s <= 0.0 {
            0.0
        } else {
            self.received as f64 * 8.0 / s
        }
    }
}

/// How a run ended.
pub enum Outcome {
    Done(Measured),
    /// The sender never got through (TCP connect failed; UDP: nothing
    /// arrived): how, as `probe::try_reach` says it.
    Unreached(Reach),
}

/// What the receiver thread saw.
#[derive(Default)]
struct Seen {
    bytes: u64,
    packets: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Seen {
    fn got(&mut self, n: usize) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.bytes += n as u64;
        self.packets += 1;
    }
}

fn quiet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// Sends from `sender` (opened, and bound to a source if wanted, in its
/// namespace) to `dst` for `secs`, while `rx` receives on a thread of its
/// own. UDP datagrams go out as fast as the kernel takes them, or at
/// `rate` bits/s. Ctrl-C (`cancel`) ends the run early.
pub fn run(
    sender: Socket,
    rx: Receiver,
    dst: SocketAddr,
    secs: Duration,
    rate: Option<u64>,
    cancel: &Cancel,
) -> Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let proto = rx.proto;
    let reader = thread::Builder::new()
        .name("nslab-rx".into())
        .spawn(move || match proto {
            Proto::Tcp => receive_tcp(rx.sock.into(), &st),
            Proto::Udp => receive_udp(rx.sock.into(), &st),
        })
        .map_err(|e| NetError::os("start the receiver", e))?;
    let sent = match proto {
        Proto::Tcp => send_tcp(&sender, dst, secs, cancel),
        Proto::Udp => send_udp(&sender, dst, secs, rate, cancel),
    };
    // The sender's end goes first: a TCP receiver then sees the end of
    // the stream.
    drop(sender);
    stop.store(true, Ordering::Relaxed);
    let seen = reader
        .join()
        .map_err(|_| NetError::Other("the receiver thread failed".into()))?;
    let (sent, sent_packets) = match sent {
        Ok(s) => s,
        Err(r) => return Ok(Outcome::Unreached(r)),
    };
    if proto == Proto::Udp && seen.packets == 0 {
        return Ok(Outcome::Unreached(Reach::Silent));
    }
    let span = match (seen.first, seen.last) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    };
    Ok(Outcome::Done(Measured {
        received: seen.bytes,
        span,
        sent,
        sent_packets,
        received_packets: seen.packets,
    }))
}

/// Connects, then writes for `secs`: (bytes written, 0).
fn send_tcp(
    s: &Socket,
    dst: SocketAddr,
    secs: Duration,
    cancel: &Cancel,
) -> std::result::Result<(u64, u64), Reach> {
    probe::connect_until(s, dst, Instant::now() + Duration::from_secs(3), cancel)?;
    let _ = s.set_write_timeout(Some(SLICE));
    let buf = vec![0x6eu8; 128 * 1024];
    let end = Instant::now() + secs;
    let mut sent = 0u64;
    while Instant::now() < end && !cancel.is_set() {
        match s.send(&buf) {
            Ok(n) => sent += n as u64,
            Err(e) if quiet(&e) => {}
            Err(e) => {
                return match e.raw_os_error() {
                    Some(libc::ECONNREFUSED) => Err(Reach::Refused),
                    Some(c) if sent == 0 => Err(Reach::Failed(c)),
                    // Cut off midway: what arrived so far still counts.
                    _ => Ok((sent, 0)),
                };
            }
        }
    }
    Ok((sent, 0))
}

/// Sends numbered datagrams for `secs`, paced to `rate` when given:
/// (bytes, datagrams).
fn send_udp(
    s: &Socket,
    dst: SocketAddr,
    secs: Duration,
    rate: Option<u64>,
    cancel: &Cancel,
) -> std::result::Result<(u64, u64), Reach> {
    if let Err(e) = s.connect(&dst.into()) {
        return Err(e.raw_os_error().map_or(Reach::Silent, Reach::Failed));
    }
    let _ = s.set_write_timeout(Some(SLICE));
    let mut buf = vec![0x6eu8; DATAGRAM];
    let start = Instant::now();
    let end = start + secs;
    let (mut bytes, mut n) = (0u64, 0u64);
    while !cancel.is_set() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if let Some(r) = rate {
            // Where this datagram is due, at `rate`.
            let due = start + Duration::from_secs_f64((bytes * 8) as f64 / r as f64);
            if due > now {
                thread::sleep((due - now).min(SLICE));
                continue;
            }
        }
        buf[..8].copy_from_slice(&n.to_be_bytes());
        match s.send(&buf) {
            Ok(k) => {
                bytes += k as u64;
                n += 1;
            }
            // An ICMP error for an earlier datagram comes back on a
            // later send; a full buffer (ENOBUFS) is a lost datagram.
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) && n == 0 => {
                return Err(Reach::Refused);
            }
            Err(e) if quiet(&e) || e.raw_os_error() == Some(libc::ENOBUFS) => {
                n += 1;
            }
            Err(e) if n == 0 => {
                return Err(e.raw_os_error().map_or(Reach::Silent, Reach::Failed));
            }
            Err(_) => {}
        }
    }
    Ok((bytes, n))
}

fn receive_tcp(l: TcpListener, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    if l.set_nonblocking(true).is_err() {
        return seen;
    }
    let mut conn: TcpStream = loop {
        if stop.load(Ordering::Relaxed) {
            return seen;
        }
        match l.accept() {
            Ok((c, _)) => break c,
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    };
    if conn.set_nonblocking(false).is_err() || conn.set_read_timeout(Some(SLICE)).is_err() {
        return seen;
    }
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.got(n),
            Err(e) if quiet(&e) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(_) => break,
        }
        // Past the sender's end, only what is already here is read.
        if stop.load(Ordering::Relaxed) && seen.last.is_some_and(|t| t.elapsed() > SLICE) {
            break;
        }
    }
    seen
}

fn receive_udp(u: UdpSocket, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    if u.set_read_timeout(Some(SLICE)).is_err() {
        return seen;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut stopped: Option<Instant> = None;
    loop {
        match u.recv(&mut buf) {
            Ok(n) => seen.got(n),
            Err(e) if quiet(&e) => {}
            Err(_) => {}
        }
        if stopped.is_none() && stop.load(Ordering::Relaxed) {
            stopped = Some(Instant::now());
        }
        if let Some(at) = stopped {
            let silent = seen.last.is_none_or(|t| t.elapsed() >= UDP_QUIET);
            if silent || at.elapsed() >= UDP_DRAIN {
                break;
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_is_bytes_over_the_span() {
        let m = Measured {
            received: 1_250_000,
            span: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(m.bits_per_s(), 10_000_000.0);
        assert_eq!(Measured::default().bits_per_s(), 0.0);
    }
}
