//! Native TCP/UDP probes: what `nc -l` and `nc -z` do in firewall labs,
//! without any program on the machine. Sockets are opened inside the
//! namespace (on its thread) and used from anywhere afterwards.

use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::{NetError, Result};
use crate::cancel::Cancel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// As `ss` and nft write it: "tcp" or "udp".
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A listener's sockets, opened in its namespace, not yet serving.
pub struct Bound {
    proto: Proto,
    tcp: Option<TcpListener>,
    udp: Option<UdpSocket>,
}

/// Opens a dual-stack socket on [::]:port in the calling thread's namespace.
pub fn bind(proto: Proto, port: u16) -> Result<Bound> {
    let ty = if proto == Proto::Tcp {
        Type::STREAM
    } else {
        Type::DGRAM
    };
    let p = if proto == Proto::Tcp {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let s = Socket::new(Domain::IPV6, ty, Some(p)).map_err(|e| NetError::os("open socket", e))?;
    s.set_only_v6(false)
        .map_err(|e| NetError::os("make socket dual-stack", e))?;
    s.set_reuse_address(true)
        .map_err(|e| NetError::os("set SO_REUSEADDR", e))?;
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    s.bind(&addr.into()).map_err(|e| NetError::os("bind", e))?;
    s.set_nonblocking(true)
        .map_err(|e| NetError::os("set non-blocking", e))?;
    Ok(match proto {
        Proto::Tcp => {
            s.listen(128).map_err(|e| NetError::os("listen", e))?;
            Bound {
                proto,
                tcp: Some(s.into()),
                udp: None,
            }
        }
        Proto::Udp => Bound {
            proto,
            tcp: None,
            udp: Some(s.into()),
        },
    })
}

/// A running listener: answers every peer and remembers where they came from.
pub struct Listener {
    stop: Arc<AtomicBool>,
    peers: Arc<Mutex<Vec<IpAddr>>>,
    thread: Option<thread::JoinHandle<()>>,
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// What a listener sends back to a peer it recorded.
enum Answer<'a> {
    /// TCP: the line "nslab\n" on the accepted connection.
    Greet(std::net::TcpStream),
    /// UDP: the datagram's first `n` bytes, back to where it came from.
    Echo(&'a std::net::UdpSocket, usize, std::net::SocketAddr),
}

impl Bound {
    /// Serves on a thread of its own: TCP peers get a line "nslab\n", UDP
    /// datagrams are echoed back.
    pub fn serve(self) -> Result<Listener> {
        let stop = Arc::new(AtomicBool::new(false));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (st, pe) = (stop.clone(), peers.clone());
        let thread = thread::Builder::new()
            .name("nslab-listen".into())
            .spawn(move || {
                let mut buf = [0u8; 2048];
                while !st.load(Ordering::Relaxed) {
                    // The peer is recorded before the answer: a client that
                    // got its answer knows its address is in the list (for
                    // UDP, answered first, a busy machine could run the
                    // client's next read before the push).
                    let peer = match (self.proto, &self.tcp, &self.udp) {
                        (Proto::Tcp, Some(l), _) => l
                            .accept()
                            .ok()
                            .map(|(c, from)| (from.ip(), Answer::Greet(c))),
                        (Proto::Udp, _, Some(u)) => u
                            .recv_from(&mut buf)
                            .ok()
                            .map(|(n, from)| (from.ip(), Answer::Echo(u, n, from))),
                        _ => None,
                    };
                    // Nothing came (a timeout) or accept failed.
                    let Some((ip, answer)) = peer else {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    if let Ok(mut p) = pe.lock() {
                        p.push(unmapped(ip));
                    }
                    match answer {
                        Answer::Greet(mut c) => {
                            let _ = c.write_all(b"nslab\n");
                        }
                        Answer::Echo(u, n, to) => {
                            let _ = u.send_to(&buf[..n], to);
                        }
                    }
                }
            })
            .map_err(|e| NetError::os("start listener", e))?;
        Ok(Listener {
            stop,
            peers,
            thread: Some(thread),
        })
    }
}

impl Listener {
    /// Source addresses of every peer so far, oldest first.
    pub fn peers(&self) -> Vec<IpAddr> {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Stops serving and closes the socket (so it no longer pins the namespace).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An unconnected socket for `connect`, opened in the source namespace.
pub fn client_socket(proto: Proto, v6: bool) -> Result<Socket> {
    let d = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let (ty, p) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    Socket::new(d, ty, Some(p)).map_err(|e| NetError::os("open socket", e))
}

/// Binds `s` to `src` (port chosen by the kernel), so what it sends
/// leaves from that address and the answers come back to it
/// (`nc -s SRC`, `ping -I SRC`).
pub fn bind_src(s: &Socket, src: IpAddr) -> Result<()> {
    s.bind(&SocketAddr::new(src, 0).into())
        .map_err(|e| NetError::os("bind to the source address", e))
}

/// How long one wait lasts before Ctrl-C is looked at again (a signal may
/// wake another thread, not the one waiting).
const SLICE: Duration = Duration::from_millis(50);

/// How a TCP connect or a UDP exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Connected (TCP) or answered (UDP).
    Open,
    /// The other end said no: a TCP reset, an ICMP port unreachable.
    Refused,
    /// An error came back on the way (an ICMP error, or none from the
    /// kernel itself): its errno.
    Failed(i32),
    /// Nothing came back before the timeout (or Ctrl-C).
    Silent,
}

fn ended(e: &std::io::Error) -> Reach {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => Reach::Refused,
        Some(code) => Reach::Failed(code),
        None => Reach::Silent,
    }
}

/// Can `s` reach `dst`, and how did it end? TCP: the handshake completes.
/// UDP: an answer comes back (an ICMP port-unreachable ends the wait at
/// once). Gives up, `Silent`, at `timeout` or as soon as `cancel` is set
/// (a timeout may be a minute).
pub fn try_reach(
    s: &Socket,
    proto: Proto,
    dst: SocketAddr,
    timeout: Duration,
    cancel: &Cancel,
) -> Reach {
    let deadline = Instant::now() + timeout;
    match proto {
        Proto::Tcp => {
            if let Err(r) = connect_until(s, dst, deadline, cancel) {
                return r;
            }
            // An nslab listener greets at once; waiting briefly for that makes
            // its peer list include this connection when connect() returns.
            // Never past the deadline: the connection is made either way.
            let greet = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            if !greet.is_zero() && s.set_read_timeout(Some(greet)).is_ok() {
                let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8];
                let _ = s.recv(&mut buf);
            }
            Reach::Open
        }
        Proto::Udp => {
            if let Err(e) = s.connect(&dst.into()) {
                return ended(&e);
            }
            if let Err(e) = s.send(b"nslab probe") {
                return ended(&e);
            }
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            while !cancel.is_set() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || s.set_read_timeout(Some(left.min(SLICE))).is_err() {
                    return Reach::Silent;
                }
                match s.recv(&mut buf) {
                    Ok(n) if n > 0 => return Reach::Open,
                    Ok(_) => return Reach::Silent,
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return ended(&e),
                }
            }
            Reach::Silent
        }
    }
}

/// A TCP connect that gives up at `deadline` or when `cancel` is set
/// (socket2's connect_timeout sleeps through signals until its timeout).
pub(crate) fn connect_until(
    s: &Socket,
    dst: SocketAddr,
    deadline: Instant,
    cancel: &Cancel,
) -> std::result::Result<(), Reach> {
    if let Err(e) = s.set_nonblocking(true) {
        return Err(ended(&e));
    }
    match s.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => loop {
            if cancel.is_set() {
                return Err(Reach::Silent);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Reach::Silent);
            }
            let mut fd = libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = left.min(SLICE).as_millis().max(1) as libc::c_int;
            // SAFETY: one pollfd, valid for the call, for a socket we own.
            let n = unsafe { libc::poll(&mut fd, 1, ms) };
            if n > 0 {
                match s.take_error() {
                    Ok(None) => break,
                    Ok(Some(e)) | Err(e) => return Err(ended(&e)),
                }
            }
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(ended(&e));
                }
            }
        },
        Err(e) => return Err(ended(&e)),
    }
    s.set_nonblocking(false).map_err(|e| ended(&e))
}
/// Is something listening on `port` (TCP: a socket in LISTEN; UDP: a socket
/// bound to it) in the calling thread's namespace, on `addr` or on every
/// address? What `ss -ltn` / `ss -lun` show, read from
/// /proc/thread-self/net/{tcp,tcp6,udp,udp6} (the thread's namespace, not
/// the process's).
pub fn listening(proto: Proto, port: u16, addr: Option<IpAddr>) -> Result<bool> {
    let (name, listen_state) = match proto {
        Proto::Tcp => ("tcp", Some("0A")),
        Proto::Udp => ("udp", None),
    };
    for file in [name.to_string(), format!("{name}6")] {
        let text = match std::fs::read_to_string(format!("/proc/thread-self/net/{file}")) {
            Ok(t) => t,
            // No IPv6 in this kernel or namespace: nothing listens there.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(NetError::os("read the namespace's sockets", e)),
        };
        if sockets_on(&text, port, listen_state, addr) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Does a /proc/net/{tcp,udp}[6] table hold a socket on `port` (in state
/// `state`, when given) whose local address is `addr` or unspecified?
fn sockets_on(table: &str, port: u16, state: Option<&str>, addr: Option<IpAddr>) -> bool {
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(st)) = (f.get(1), f.get(3)) else {
            return false;
        };
        let Some((ip_hex, port_hex)) = local.split_once(':') else {
            return false;
        };
        if u16::from_str_radix(port_hex, 16) != Ok(port) || state.is_some_and(|s| s != *st) {
            return false;
        }
        match (addr, proc_ip(ip_hex)) {
            (None, _) => true,
            (Some(want), Some(have)) => {
                have.is_unspecified()
                    || have == want
                    || matches!(have, IpAddr::V6(v6) if v6.to_ipv4_mapped() == Some(match want {
                        IpAddr::V4(w) => w,
                        IpAddr::V6(_) => return false,
                    }))
            }
            (Some(_), None) => false,
        }
    })
}

/// An address as /proc/net/tcp prints it: 32-bit words in hex, each in the
/// machine's byte order.
fn proc_ip(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| {
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::to_ne_bytes)
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_proc_tables() {
        // Words in this machine's byte order, as the kernel prints them.
        let w = |a: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(a));
        let v4 = format!(
            "  sl  local_address rem_address   st tx_queue\n   0: {}:1F90 00000000:0000 0A 0\n   1: {}:0050 00000000:0000 0A 0\n   2: {}:1F91 {}:D431 01 0\n",
            w([127, 0, 0, 1]),
            w([0, 0, 0, 0]),
            w([127, 0, 0, 1]),
            w([10, 0, 0, 2]),
        );
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(sockets_on(&v4, 8080, Some("0A"), None));
        assert!(sockets_on(&v4, 8080, Some("0A"), Some(lo)));
        assert!(!sockets_on(&v4, 8080, Some("0A"), Some(other)));
        assert!(
            sockets_on(&v4, 80, Some("0A"), Some(other)),
            "0.0.0.0 is every address"
        );
        assert!(
            !sockets_on(&v4, 8081, Some("0A"), None),
            "a connection is not a listener"
        );
        let v6 = format!(
            "  sl  local_address remote_address st\n   0: {}:1F90 {}:0000 0A 0\n",
            "0".repeat(32),
            "0".repeat(32)
        );
        assert!(sockets_on(&v6, 8080, Some("0A"), Some(other)));
    }
}
