//! The floor for bench/: star-N with raw netlink, as directly as possible.
//!
//!   floor N [PINGS [IPV6]]
//!
//! Same topology as bench/star.rhai and bench/star.sh: namespace "sw" with
//! bridge "br0"; namespaces h1..hN, each with "eth0" (10.0.X.Y/16, from i)
//! joined by a veth to "pI" in sw, attached to br0; lo up everywhere; then h1
//! pings h2..h(PINGS+1) once (PINGS defaults to N-1); then teardown. Prints
//! `phase build S`, `phase pings S` and `ping failures K` like the others.
//! Past 1000 hosts, every further 1000 go on a bridge of their own (br1,
//! br2, …, in sw), joined to br0 by a veth (upK on br0, dnK on brK), as
//! nslab's topo::star does: a Linux bridge takes at most 1023 ports.
//!
//! IPV6: `on` (the default) is what nslab does: the hosts' links have IPv6
//! as the kernel gives it, the bridge ports none (`disable_ipv6` written
//! before they come up, so they never get a link-local address, run DAD or
//! send MLD reports, nor get a multicast route); `kernel` leaves every
//! link at the kernel's default (the ports too: what nslab did before);
//! `off` disables IPv6 in every namespace before its links exist; `none`
//! is `on` with the hosts' eth0 and the bridges' IPv6 address generation
//! set to none before they come up (over netlink: /proc/sys in every
//! namespace would cost O(N) per write, see bench/README.md): IPv6 stays
//! on, but no link gets a link-local address, so no link sends any IPv6 at
//! all (no DAD, MLD or router solicitations). It is what
//! the kernel costs for this star without IPv6's start-up chatter: the
//! lower bound of every mode, and not what a lab does (nslab has no such
//! mode: a host's link keeps its IPv6).
//!
//! What makes it the floor (the least work user space can ask of the kernel):
//! - named namespaces without forking: unshare(CLONE_NEWNET) on this thread
//!   and a bind mount of /proc/thread-self/ns/net (what `ip netns add` does),
//!   one after the other without going home in between;
//! - one netlink socket per namespace, opened while inside it;
//! - each veth created in its host namespace, already up and with a chosen
//!   ifindex, its peer created directly in sw: no moves, no lookups;
//! - each veth end made with one queue each way (`numtxqueues 1 numrxqueues
//!   1`): by default the kernel gives it one per possible CPU and then cuts
//!   that to the one it uses, which waits for an expedited RCU grace period
//!   (twice per veth) while holding the rtnl lock;
//! - every request pipelined (sent before the previous answer arrives);
//! - the pings all sent at once from one raw ICMP socket in h1;
//! - teardown = unmount the names and close the fds: the kernel deletes the
//!   namespaces, and the veths with them.

use std::fs;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoVeth, LinkAttribute, LinkFlags,
    LinkMessage, State,
};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

type Error = Box<dyn std::error::Error>;

/// The ifindex asked for eth0 in each host namespace (lo is 1; fallback
/// tunnel devices, if their modules are loaded, take the next few).
const ETH0_INDEX: u32 = 100;
/// Hosts per bridge (a Linux bridge takes at most 1023 ports).
const PER_BRIDGE: usize = 1000;
/// Requests in flight at once on the sw socket: enough to keep the kernel
/// busy, few enough that the answers never overflow the socket's buffer.
const WINDOW: usize = 64;

struct Ns {
    path: PathBuf,
    fd: OwnedFd,
    handle: Handle,
}

fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (i / 256) as u8, (i % 256) as u8)
}

fn open_ns(path: &str) -> Result<OwnedFd, Error> {
    Ok(fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?
        .into())
}

/// `ip netns add NAME` on the calling thread, which stays inside the new
/// namespace. Opens its netlink socket there (the caller spawns the task).
fn new_named_ns(
    name: &str,
    ipv6: bool,
) -> Result<
    (
        Ns,
        rtnetlink::proto::Connection<netlink_packet_route::RouteNetlinkMessage>,
    ),
    Error,
> {
    let path = PathBuf::from("/run/netns").join(name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)?;
    unshare(CloneFlags::CLONE_NEWNET)?;
    mount(
        Some("/proc/thread-self/ns/net"),
        &path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    let fd = open_ns("/proc/thread-self/ns/net")?;
    if !ipv6 {
        // /proc/sys/net shows the namespace of whoever opens it: this thread.
        fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")?;
    }
    let (conn, handle, _) = rtnetlink::new_connection()?;
    Ok((Ns { path, fd, handle }, conn))
}

/// Is eth0 ready to send? Its carrier came on when its peer in sw came up,
/// after it was opened itself, so the kernel swaps its noop qdisc (which drops
/// everything) for the real one later, asynchronously, in the linkwatch work
/// that also sets its operstate to UP: a ping sent before that is lost.
fn eth0_ready(m: &LinkMessage) -> bool {
    m.attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
}

/// Is a port in sw ready? It came up with its carrier already on, so its
/// qdisc was set at once; the kernel may leave its operstate UNKNOWN for up
/// to a second (the bridge treats UNKNOWN as up, and so do we).
fn port_ready(m: &LinkMessage) -> bool {
    m.header.flags.contains(LinkFlags::LowerUp)
        && m.attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::OperState(State::Up | State::Unknown)))
}

/// Is every link ready to carry the pings? (One dump in sw, one get per host,
/// pipelined.)
async fn all_ready(sw: &Handle, bridges: &[u32], hosts: &[Ns]) -> Result<bool, Error> {
    let links: Vec<LinkMessage> = sw.link().get().execute().try_collect().await?;
    // lo and the bridges aside: no packet is sent through a bridge itself.
    let sw_ready = links
        .iter()
        .filter(|m| m.header.index != 1 && !bridges.contains(&m.header.index))
        .all(port_ready);
    if !sw_ready {
        return Ok(false);
    }
    let ready: Vec<bool> = stream::iter(hosts)
        .map(|h| async move {
            let m = h
                .handle
                .link()
                .get()
                .match_index(ETH0_INDEX)
                .execute()
                .try_next()
                .await?
                .ok_or("eth0 vanished")?;
            Ok::<bool, Error>(eth0_ready(&m))
        })
        .buffer_unordered(WINDOW)
        .try_collect()
        .await?;
    Ok(ready.into_iter().all(|r| r))
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16, seq: u16) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[0] = 8;
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// The echo reply's sequence number, if `buf` (IPv4 header + ICMP) is one of ours.
fn reply_seq(buf: &[u8], id: u16) -> Option<u16> {
    let ihl = usize::from(*buf.first()? & 0x0f) * 4;
    let icmp = buf.get(ihl..ihl + 8)?;
    (icmp[0] == 0 && u16::from_be_bytes([icmp[4], icmp[5]]) == id)
        .then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// h1 pings hosts 2..=pings+1 once each: all echoes sent at once, then the
/// replies collected; 1 s for the last one. Returns the hosts that did not answer.
fn pings(sock: &Socket, pings: usize) -> Result<Vec<usize>, Error> {
    let id = std::process::id() as u16;
    let mut got = vec![false; pings + 2];
    let mut left = pings;
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    let take = |buf: &[MaybeUninit<u8>], n: usize, got: &mut Vec<bool>, left: &mut usize| {
        // SAFETY: recv initialised the first n bytes.
        let data = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        if let Some(seq) = reply_seq(data, id) {
            let i = usize::from(seq);
            if i < got.len() && !got[i] {
                got[i] = true;
                *left -= 1;
            }
        }
    };
    for i in 2..=pings + 1 {
        let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(host_ip(i), 0)));
        sock.send_to(&echo_request(id, i as u16), &to)?;
        // Drain what has come back already, so the buffer never overflows.
        while let Ok(n) = sock.recv_with_flags(&mut buf, libc::MSG_DONTWAIT) {
            take(&buf, n, &mut got, &mut left);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while left > 0 {
        let rest = deadline.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(rest))?;
        if let Ok(n) = sock.recv(&mut buf) {
            take(&buf, n, &mut got, &mut left);
        }
    }
    Ok((2..=pings + 1).filter(|i| !got[*i]).collect())
}

/// Every host pings every other once, all at once: host i's socket sends
/// to each other host (echo id i, sequence j), then the replies of all
/// sockets are collected; 1 s for the last one. Returns the (i, j) pairs
/// that got no answer.
fn all_pings(socks: &[Socket]) -> Result<Vec<(usize, usize)>, Error> {
    let n = socks.len();
    let mut got = vec![vec![false; n + 1]; n + 1];
    let mut left = n * (n - 1);
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    let mut drain = |i: usize, got: &mut Vec<Vec<bool>>, left: &mut usize| {
        while let Ok(k) = socks[i - 1].recv_with_flags(&mut buf, libc::MSG_DONTWAIT) {
            // SAFETY: recv initialised the first k bytes.
            let data = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), k) };
            if let Some(j) = reply_seq(data, i as u16).map(usize::from)
                && j <= n
                && !got[i][j]
            {
                got[i][j] = true;
                *left -= 1;
            }
        }
    };
    for i in 1..=n {
        for j in (1..=n).filter(|j| *j != i) {
            let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(host_ip(j), 0)));
            socks[i - 1].send_to(&echo_request(i as u16, j as u16), &to)?;
        }
        drain(i, &mut got, &mut left);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while left > 0 {
        let rest = deadline.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            break;
        }
        // SAFETY: fds is a valid array of pollfd of this length.
        let r = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                rest.as_millis().max(1) as i32,
            )
        };
        if r <= 0 {
            continue;
        }
        for i in 1..=n {
            if fds[i - 1].revents & libc::POLLIN != 0 {
                drain(i, &mut got, &mut left);
            }
        }
    }
    Ok((1..=n)
        .flat_map(|i| (1..=n).map(move |j| (i, j)))
        .filter(|&(i, j)| i != j && !got[i][j])
        .collect())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("floor: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .first()
        .ok_or("usage: floor N [PINGS [IPV6 [all]]] (IPV6: on, kernel, off or none)")?
        .parse()?;
    let npings: usize = match args.get(1) {
        Some(p) => p.parse()?,
        None => n.saturating_sub(1),
    };
    // (IPv6 in the namespaces, IPv6 on the bridge ports)
    // (IPv6 in the namespaces, IPv6 on the bridge ports, link-local
    // addresses on the hosts' links and the bridges)
    let (ipv6, port_ipv6, link_local) = match args.get(2).map(String::as_str) {
        None | Some("on") => (true, false, true),
        Some("kernel") => (true, true, true),
        Some("off") => (false, false, true),
        Some("none") => (true, false, false),
        Some(x) => return Err(format!("IPV6 is on, kernel, off or none, not {x}").into()),
    };
    // "all": every host pings every other, all at once (reach-N's floor).
    let all_pairs = match args.get(3).map(String::as_str) {
        None => false,
        Some("all") => true,
        Some(x) => return Err(format!("the fourth argument is `all`, not {x}").into()),
    };
    if n == 0 || n >= 65535 || npings >= n {
        return Err("need 1 <= N < 65535 and PINGS < N".into());
    }
    // Two descriptors per namespace (its fd and its netlink socket).
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let _ctx = rt.enter();

    // ---- build ----
    let t = Instant::now();
    let home = open_ns("/proc/thread-self/ns/net")?;
    let (sw, conn) = new_named_ns("sw", ipv6)?;
    rt.spawn(conn);
    let sw_fd = sw.fd.as_raw_fd();
    let mut hosts = Vec::with_capacity(n);
    // ICMP sockets, opened inside their host: h1's, or every host's.
    let mut socks = Vec::new();
    for i in 1..=n {
        let (h, conn) = new_named_ns(&format!("h{i}"), ipv6)?;
        rt.spawn(conn);
        if i == 1 || all_pairs {
            socks.push(Socket::new(
                Domain::IPV4,
                Type::RAW,
                Some(Protocol::ICMPV4),
            )?);
        }
        hosts.push(h);
    }
    // The build runs in sw (the sockets keep their own namespaces): its
    // ports' sysctls are this thread's to write.
    setns(&sw.fd, CloneFlags::CLONE_NEWNET)?;

    rt.block_on(async {
        let lo_up = |h: &Handle| h.link().change(LinkUnspec::new_with_index(1).up().build());
        let swh = &sw.handle;
        // A link's IPv6 address generation set to none while it is still
        // down: it never gets a link-local address (`none`: the hosts'
        // links and the bridges).
        let gen_none = |h: &Handle, link: LinkMessageBuilder<LinkUnspec>| {
            h.link().change(
                link.append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![
                    AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)]),
                ]))
                .build(),
            )
        };
        let gen_none = &gen_none;
        let no_ipv6 = |name: &str| gen_none(swh, LinkUnspec::new_with_name(name));
        let no_ipv6 = &no_ipv6;
        // Into bridge `br` and up, its IPv6 off first unless it is to keep
        // it (nslab's default: the same sysctl, which nslab can only write
        // once the port is up; off before it comes up, the port never gets
        // a link-local address, nor a multicast route: every port's
        // ff00::/8 route in one table makes each new one O(N) to insert).
        // This thread is in sw: /proc/sys shows the opener's namespace.
        let attach = |name: String, br: u32| async move {
            if !port_ipv6 {
                fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")?;
            }
            swh.link()
                .change(LinkUnspec::new_with_name(&name).controller(br).up().build())
                .execute()
                .await?;
            Ok::<(), Error>(())
        };
        // sw: lo up and the bridges (up), then their indexes; bridges past
        // br0 hang on br0 by a veth upK (on br0) <-> dnK (on brK).
        lo_up(swh).execute().await?;
        let nbr = n.div_ceil(PER_BRIDGE);
        let mut bridges = Vec::with_capacity(nbr);
        for k in 0..nbr {
            let name = format!("br{k}");
            let bridge = LinkBridge::new(&name);
            let bridge = if link_local { bridge.up() } else { bridge };
            swh.link().add(bridge.build()).execute().await?;
            if !link_local {
                no_ipv6(&name).execute().await?;
                swh.link()
                    .change(LinkUnspec::new_with_name(&name).up().build())
                    .execute()
                    .await?;
            }
            bridges.push(
                swh.link()
                    .get()
                    .match_name(name)
                    .execute()
                    .try_next()
                    .await?
                    .ok_or("a bridge vanished")?
                    .header
                    .index,
            );
        }
        for k in 1..nbr {
            let (up, dn) = (format!("up{k}"), format!("dn{k}"));
            swh.link()
                .add(LinkVeth::new(&up, &dn).build())
                .execute()
                .await?;
            attach(up, bridges[0]).await?;
            attach(dn, bridges[k]).await?;
        }
        let (bridges, attach) = (&bridges, &attach);
        // Each host: lo up, veth (eth0 up here, pI in sw), address: three
        // requests sent back to back; then pI into its bridge and up, in sw.
        stream::iter(hosts.iter().enumerate())
            .map(|(k, h)| async move {
                let i = k + 1;
                let port = format!("p{i}");
                // One queue each way from the start (see the module doc).
                let peer = LinkMessageBuilder::<LinkUnspec>::new()
                    .name(port.clone())
                    .setns_by_fd(sw_fd)
                    .append_extra_attribute(LinkAttribute::NumTxQueues(1))
                    .append_extra_attribute(LinkAttribute::NumRxQueues(1))
                    .build();
                let veth = LinkVeth::new("eth0", &port).index(ETH0_INDEX);
                // `none`: up only once its address generation is set.
                let veth = if link_local { veth.up() } else { veth };
                let veth = veth
                    .append_extra_attribute(LinkAttribute::NumTxQueues(1))
                    .append_extra_attribute(LinkAttribute::NumRxQueues(1))
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                    .build();
                let eth0 = || LinkUnspec::new_with_index(ETH0_INDEX);
                let (a, b, c, d) = futures::join!(
                    lo_up(&h.handle).execute(),
                    h.handle.link().add(veth).execute(),
                    h.handle
                        .address()
                        .add(ETH0_INDEX, host_ip(i).into(), 16)
                        .execute(),
                    async {
                        if link_local {
                            return Ok(());
                        }
                        gen_none(&h.handle, eth0()).execute().await?;
                        h.handle.link().change(eth0().up().build()).execute().await
                    }
                );
                a?;
                b?;
                c?;
                d?;
                attach(port, bridges[k / PER_BRIDGE]).await
            })
            .buffer_unordered(WINDOW)
            .try_collect::<Vec<()>>()
            .await?;
        // Wait until the kernel has really finished (see eth0_ready).
        while !all_ready(swh, bridges, &hosts).await? {
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok::<(), Error>(())
    })?;
    println!("phase build {}", t.elapsed().as_secs_f64());
    setns(&home, CloneFlags::CLONE_NEWNET)?;

    // ---- pings ----
    let t = Instant::now();
    let (failed, asked) = if all_pairs {
        let lost = all_pings(&socks)?;
        for (i, j) in &lost {
            println!("ping h{i} -> h{j} ({}) failed", host_ip(*j));
        }
        (lost.len(), n * (n - 1))
    } else {
        let lost = pings(&socks[0], npings)?;
        for i in &lost {
            println!("ping h1 -> h{i} ({}) failed", host_ip(*i));
        }
        (lost.len(), npings)
    };
    println!("phase pings {}", t.elapsed().as_secs_f64());
    println!("ping failures {failed}");

    // ---- teardown ----
    drop(socks);
    drop(rt); // closes every netlink socket
    for ns in std::iter::once(sw).chain(hosts) {
        umount2(&ns.path, MntFlags::MNT_DETACH)?;
        fs::remove_file(&ns.path)?;
    }
    if failed > 0 {
        return Err(format!("{failed} of {asked} pings failed").into());
    }
    Ok(())
}
