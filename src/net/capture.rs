//! `tcpdump -i LINK -w FILE`, natively: an AF_PACKET socket opened in the
//! link's namespace, read on a thread of its own, writing the classic pcap
//! format that Wireshark, `tcpdump -r` and `tshark -r` read.
//!
//! Native because `tcpdump` cannot run where nslab often does: in isolated
//! and rootless mode it fails to drop to its own user ("Couldn't change to
//! 'tcpdump' uid=…", that uid is not mapped in nslab's user namespace).
//! A packet socket needs only CAP_NET_RAW in the user namespace owning the
//! network namespace, which nslab has in every mode.
//!
//! The pcap format is written by hand: a 24-byte file header and a 16-byte
//! header per packet (see pcap(5) / the IETF draft "PCAP Capture File
//! Format"). Measured against pcap-file 2.0: its PcapWriter owns its
//! writer, so the idle flush and the one-write record below need its
//! lower-level calls plus byteorder_slice; that saved 3 lines of code for
//! seven more crates (syn 1, thiserror 1 among them), the bytes the same.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use super::{NetError, Result};

/// The most a packet is cut to (tcpdump's default and maximum snaplen).
pub const MAX_SNAPLEN: u32 = 262_144;

/// pcap link types (tcpdump.org/linktypes.html).
const LINKTYPE_ETHERNET: u32 = 1;

/// What to capture.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Bytes kept of each packet (1..=MAX_SNAPLEN).
    pub snaplen: u32,
    /// Stop after this many packets.
    pub count: Option<u64>,
}

/// A packet socket bound to one link, not read yet.
pub struct PacketSocket {
    fd: OwnedFd,
    linktype: u32,
    /// The link is the loopback device: each packet is seen twice there
    /// (sent, then received), so the sent copy is skipped, as libpcap does.
    loopback: bool,
}

fn last_os(op: &'static str) -> NetError {
    NetError::os(op, io::Error::last_os_error())
}

fn set_int(fd: RawFd, level: i32, opt: i32, v: i32) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to an int of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens a packet socket on link `ifindex` of the calling thread's
/// namespace. ENODEV: there is no such link (any more).
pub fn open(ifindex: u32) -> Result<PacketSocket> {
    // Protocol 0 until bind: a socket made with ETH_P_ALL would queue the
    // packets of every link of the namespace until it is bound to one.
    // SAFETY: plain syscall; the fd is owned right after.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(last_os("open a packet socket"));
    }
    // SAFETY: `raw` is a new fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // The kernel's receive time of each packet, as pcap wants it.
    set_int(raw, libc::SOL_SOCKET, libc::SO_TIMESTAMP, 1)
        .map_err(|e| NetError::os("ask for packet timestamps", e))?;
    // Room for bursts while the writer is busy; the kernel caps it at
    // net.core.rmem_max (best effort: what is lost is counted as dropped).
    let _ = set_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid start.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: a valid fd and address of the size given.
    let r = unsafe {
        libc::bind(
            raw,
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(last_os("bind a packet socket to the link"));
    }
    // The kernel says what the link's frames start with.
    let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: a valid fd and a buffer of `len` bytes.
    let r =
        unsafe { libc::getsockname(raw, (&mut sll as *mut libc::sockaddr_ll).cast(), &mut len) };
    if r != 0 {
        return Err(last_os("read the packet socket's link type"));
    }
    let linktype = match sll.sll_hatype {
        // Loopback frames carry an Ethernet header too (of zero addresses).
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => LINKTYPE_ETHERNET,
        other => {
            return Err(NetError::Other(format!(
                "nslab captures Ethernet links only, and this link's frames are of another type (ARPHRD {other})"
            )));
        }
    };
    Ok(PacketSocket {
        fd,
        linktype,
        loopback: sll.sll_hatype == libc::ARPHRD_LOOPBACK,
    })
}

/// The classic pcap file header: magic, version 2.4, no time zone
/// correction, snaplen, link type; in this machine's byte order, which the
/// magic tells readers.
fn file_header(snaplen: u32, linktype: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&snaplen.to_ne_bytes());
    h[20..24].copy_from_slice(&linktype.to_ne_bytes());
    h
}

/// A packet's record header: ts_sec, ts_usec, incl_len, orig_len.
fn record_header(sec: u32, usec: u32, incl: u32, orig: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&sec.to_ne_bytes());
    h[4..8].copy_from_slice(&usec.to_ne_bytes());
    h[8..12].copy_from_slice(&incl.to_ne_bytes());
    h[12..16].copy_from_slice(&orig.to_ne_bytes());
    h
}

/// One packet read: its length on the wire, its time, sent or received.
struct Got {
    orig: usize,
    sec: u32,
    usec: u32,
    outgoing: bool,
}

/// Reads one packet into `buf` (cut to its size). Err(WouldBlock): none queued.
fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Got> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: plain data; all-zero is a valid start.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    // Room for one SCM_TIMESTAMP message, aligned for cmsghdr.
    let mut control = [MaybeUninit::<u64>::uninit(); 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>() as _;
    // MSG_TRUNC: the packet's whole length, even when cut to the buffer.
    // SAFETY: every pointer in msg points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut got = Got {
        orig: n as usize,
        sec: 0,
        usec: 0,
        outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
    };
    let mut stamped = false;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMP {
                let tv: libc::timeval = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                got.sec = tv.tv_sec as u32;
                got.usec = tv.tv_usec as u32;
                stamped = true;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if !stamped {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        got.sec = now.as_secs() as u32;
        got.usec = now.subsec_micros();
    }
    Ok(got)
}

/// Packets the kernel dropped for want of room in the socket since the
/// last call (PACKET_STATISTICS resets them).
fn kernel_drops(fd: RawFd) -> u64 {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: a valid fd and a buffer of `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if r == 0 { u64::from(st.tp_drops) } else { 0 }
}

/// Why a capture ended on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It is still running, or was stopped.
    No,
    /// `count` packets were written.
    Count,
    /// The link went away (deleted, moved to another namespace, or its
    /// namespace deleted).
    LinkGone,
}

/// A running capture. Dropping it stops it, the file complete.
pub struct Capture {
    stop: Arc<AtomicBool>,
    /// Written to wake the thread at once (an eventfd).
    wake: OwnedFd,
    packets: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<io::Result<Ended>>>,
    /// How it ended, once joined.
    outcome: Option<std::result::Result<Ended, String>>,
}

struct Shared {
    stop: Arc<AtomicBool>,
    packets: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

/// Starts writing what `sock` sees to `file` (which it truncates and owns).
pub fn start(sock: PacketSocket, file: File, opts: Opts) -> Result<Capture> {
    // SAFETY: plain syscall; the fd is owned right after.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(last_os("make an eventfd"));
    }
    // SAFETY: `raw` is a new fd nobody else owns.
    let wake = unsafe { OwnedFd::from_raw_fd(raw) };
    let wake_raw = wake.as_raw_fd();
    let shared = Shared {
        stop: Arc::new(AtomicBool::new(false)),
        packets: Arc::new(AtomicU64::new(0)),
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let (stop, packets, dropped) = (
        shared.stop.clone(),
        shared.packets.clone(),
        shared.dropped.clone(),
    );
    let thread = thread::Builder::new()
        .name("nslab-capture".into())
        // The eventfd outlives the thread: Capture joins before dropping it.
        .spawn(move || run(sock, file, opts, wake_raw, shared))
        .map_err(|e| NetError::os("start a capture thread", e))?;
    Ok(Capture {
        stop,
        wake,
        packets,
        dropped,
        thread: Some(thread),
        outcome: None,
    })
}

fn run(sock: PacketSocket, file: File, opts: Opts, wake: RawFd, sh: Shared) -> io::Result<Ended> {
    let fd = sock.fd.as_raw_fd();
    // Room for the biggest record, which then always goes to the file in
    // one write: a file cut short (nslab killed with -9) ends with a whole
    // record, and readers take it all.
    let mut out = BufWriter::with_capacity((1 << 16).max(16 + opts.snaplen as usize), file);
    out.write_all(&file_header(opts.snaplen, sock.linktype))?;
    out.flush()?;
    let mut buf = vec![0u8; opts.snaplen as usize];
    let mut written: u64 = 0;
    let mut link_gone = false;
    let ended = 'outer: loop {
        // Asked to stop: what the socket queued until now is still written
        // (a ping that got its reply before stop() has both in the file).
        let stopping = sh.stop.load(Ordering::Acquire);
        loop {
            if opts.count.is_some_and(|c| written >= c) {
                break 'outer Ended::Count;
            }
            match recv(fd, &mut buf) {
                Ok(got) => {
                    if sock.loopback && got.outgoing {
                        continue;
                    }
                    let incl = got.orig.min(buf.len());
                    if out.capacity() - out.buffer().len() < 16 + incl {
                        out.flush()?;
                    }
                    out.write_all(&record_header(
                        got.sec,
                        got.usec,
                        incl as u32,
                        got.orig as u32,
                    ))?;
                    out.write_all(&buf[..incl])?;
                    written += 1;
                    sh.packets.store(written, Ordering::Release);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The link was unregistered: what was queued before still
                // comes, then nothing more can.
                Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => link_gone = true,
                Err(e) => return Err(e),
            }
        }
        // The file is readable as it stands whenever the socket is idle.
        out.flush()?;
        if stopping {
            break Ended::No;
        }
        if link_gone {
            break Ended::LinkGone;
        }
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    };
    sh.dropped.fetch_add(kernel_drops(fd), Ordering::Relaxed);
    out.flush()?;
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .or_else(|e| {
            // Some file systems (pipes, /dev/null) cannot sync: the data is written.
            if e.raw_os_error() == Some(libc::EINVAL) {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    Ok(ended)
}

impl Capture {
    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Acquire)
    }

    /// Packets the kernel dropped because the writer fell behind (known
    /// once stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Is it still writing? (It ends by itself after `count` packets, or
    /// when its link goes away.)
    pub fn running(&self) -> bool {
        self.outcome.is_none() && self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops it: the packets queued until now are written, the file is
    /// flushed and closed. Returns how it ended; Err: writing the file
    /// failed (disk full, …). Stopping twice returns the same.
    pub fn stop(&mut self) -> std::result::Result<Ended, String> {
        if let Some(o) = &self.outcome {
            return o.clone();
        }
        self.stop.store(true, Ordering::Release);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        let outcome = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Ok(e))) => Ok(e),
            Some(Ok(Err(e))) => Err(e.to_string()),
            Some(Err(_)) => Err("the capture thread panicked".into()),
            None => Ok(Ended::No),
        };
        self.outcome = Some(outcome.clone());
        outcome
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_header_is_classic_pcap() {
        let h = file_header(262_144, 1);
        assert_eq!(u32::from_ne_bytes(h[0..4].try_into().unwrap()), 0xa1b2c3d4);
        assert_eq!(u16::from_ne_bytes(h[4..6].try_into().unwrap()), 2);
        assert_eq!(u16::from_ne_bytes(h[6..8].try_into().unwrap()), 4);
        assert_eq!(&h[8..16], &[0u8; 8]);
        assert_eq!(u32::from_ne_bytes(h[16..20].try_into().unwrap()), 262_144);
        assert_eq!(u32::from_ne_bytes(h[20..24].try_into().unwrap()), 1);
        let r = record_header(7, 8, 60, 98);
        let f = |i: usize| u32::from_ne_bytes(r[i..i + 4].try_into().unwrap());
        assert_eq!((f(0), f(4), f(8), f(12)), (7, 8, 60, 98));
    }
}
