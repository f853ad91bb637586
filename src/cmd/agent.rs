//! `nslab agent --listen ADDR:PORT --token-file F`: holds this machine's
//! part of labs driven from another machine (see `crate::remote`).
//!
//! Each driver's connection gets a `Lab` of its own, the same as `nslab
//! run`'s (ledger, journal under /run/nslab, so `nslab ls`/`down` here see
//! it), on a thread of its own: a Lab is not Send, and its calls block.
//! The connection's requests are ops sent to that thread. When the
//! connection ends, for whatever reason (the script ended, failed, was
//! killed; the network went: TCP keepalive notices), the lab is torn down
//! after the grace period, unless the driver kept it or came back first:
//! a driver whose connection broke connects again and `resume`s its
//! session (named in `hello`'s answer), and the lab's thread, kept in
//! `Shared::sessions` until then, takes its ops from the new connection.

mod calls;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tarpc::context::Context;
use tarpc::serde_transport as transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::length_delimited::LengthDelimitedCodec;
use tokio::sync::oneshot;

use crate::cancel::Cancel;
use crate::lab::{self, Lab, LabConfig, LabError, NsId, PingOpts, RouteReq, RunOpts};
use crate::remote::proto::{Agent, Welcome};
use crate::remote::tls::{self, Identity};
use crate::remote::{Answer, Op, PingAnswer, Refusal};
use crate::session::{self, CmdResult, Failure};

mod across;
mod node;

pub struct Args {
    pub listen: SocketAddr,
    pub token_file: PathBuf,
    pub isolated: bool,
    pub grace: Duration,
    pub vxlan_port: u16,
}

type Reply = oneshot::Sender<Result<Answer, Refusal>>;

/// What a lab's thread is sent.
enum Msg {
    /// An op and its number: the same number again (sent once more over a
    /// new connection) gets the answer given before.
    Op(u64, Box<Op>, Reply),
    /// Connection `n` drives the lab from now on (a `resume`).
    Attach(u64),
    /// Connection `n` ended: unless another took over, the grace period
    /// starts.
    Detach(u64),
}

/// A connection's session (its id) and its lab thread's queue, once
/// `hello` or `resume` gave it one.
/// A connection's lab: its session, its thread's queue and its cancel flag.
type Queue = Arc<Mutex<Option<(String, mpsc::Sender<Msg>, Cancel)>>>;

/// What every connection shares.
struct Shared {
    token: Vec<u8>,
    grace: Duration,
    vxlan_port: u16,
    /// VNIs this machine's labs use, with the lab that has each: a driver
    /// asking for one another lab has is told to take the next.
    vnis: Mutex<HashMap<u32, String>>,
    /// Set on SIGINT/SIGTERM/SIGHUP: every lab ends now.
    quit: AtomicBool,
    labs: Mutex<Vec<JoinHandle<()>>>,
    /// The labs held here, by session: what `resume` looks up. A lab's
    /// thread takes its entry out when it ends.
    sessions: Mutex<HashMap<String, (mpsc::Sender<Msg>, Cancel)>>,
    /// Numbers connections.
    conns: AtomicU64,
}

pub fn run(a: Args) -> CmdResult {
    let token = crate::remote::read_token(&a.token_file).map_err(usage)?;
    let cancel = session::install_cancel()?;
    // The listening socket before isolation: an isolated agent's network
    // is private, its socket stays on the machine's (no thread needed).
    let listener = std::net::TcpListener::bind(a.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            usage(Refusal::new(
                format!("cannot listen on {}: {e}", a.listen),
                "give --listen an address of this machine and a free port, e.g. --listen 0.0.0.0:7600",
            ))
        })?;
    // Before any thread, as `nslab run` does.
    let isolated = session::isolate(a.isolated, false)?;
    let id = Identity::from_token(&token).map_err(usage)?;
    let config = Arc::new(id.server_config().map_err(usage)?);
    let shared = Arc::new(Shared {
        token,
        grace: a.grace,
        vxlan_port: a.vxlan_port,
        vnis: Mutex::new(HashMap::new()),
        quit: AtomicBool::new(false),
        labs: Mutex::new(Vec::new()),
        sessions: Mutex::new(HashMap::new()),
        conns: AtomicU64::new(0),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::from(LabError::new(
                format!("cannot start a runtime: {e}"),
                "see the error",
            ))
        })?;
    let listener = rt
        .block_on(async { tokio::net::TcpListener::from_std(listener) })
        .map_err(|e| {
            usage(Refusal::new(
                format!("cannot listen on {}: {e}", a.listen),
                "see the error",
            ))
        })?;
    session::say!(
        "nslab agent: listening on {} ({})",
        a.listen,
        if isolated { "isolated" } else { "host mode" }
    );
    let sh = shared.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let sh = sh.clone();
            let config = config.clone();
            tokio::spawn(async move { serve(tcp, peer, config, sh, isolated).await });
        }
    });
    while !cancel.is_set() {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every lab ends now, then the process.
    shared.quit.store(true, Ordering::SeqCst);
    let labs = std::mem::take(&mut *shared.labs.lock().unwrap_or_else(|p| p.into_inner()));
    for l in labs {
        let _ = l.join();
    }
    rt.shutdown_timeout(Duration::from_millis(100));
    session::exit(cancel.signal().map_or(0, |s| 128 + s as u8))
}

fn usage(r: Refusal) -> Failure {
    Failure::usage(LabError::new(r.message, r.help))
}

async fn serve(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    sh: Arc<Shared>,
    isolated: bool,
) {
    // A network gone quiet ends the connection too.
    crate::remote::end_when_quiet(&tcp);
    let _ = tcp.set_nodelay(true);
    let Ok(local) = tcp.local_addr() else {
        return;
    };
    // A wrong token fails here already, on the driver's side (it pins the
    // certificate of its token).
    let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else {
        return;
    };
    let framed = LengthDelimitedCodec::builder().new_framed(stream);
    let t = transport::new(framed, Bincode::default());
    let conn = Conn {
        n: sh.conns.fetch_add(1, Ordering::SeqCst) + 1,
        sh,
        peer,
        underlay: local.ip(),
        isolated,
        lab: Arc::new(Mutex::new(None)),
    };
    let (lab, n) = (conn.lab.clone(), conn.n);
    BaseChannel::with_defaults(t)
        .execute(conn.serve())
        // The channel is read while a request runs, so that a driver's
        // cancellation (Ctrl-C during a wait here) reaches it; the ops
        // stay in order, as the lab's thread runs them one at a time in
        // the order they came (and a driver waits for each answer).
        .for_each_concurrent(None, |r| r)
        .await;
    // The connection is over: its lab's grace period starts.
    if let Some((_, tx, _)) = lab.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = tx.send(Msg::Detach(n));
    }
}

#[derive(Clone)]
struct Conn {
    /// This connection's number.
    n: u64,
    sh: Arc<Shared>,
    peer: SocketAddr,
    underlay: IpAddr,
    isolated: bool,
    lab: Queue,
}

impl Agent for Conn {
    async fn hello(
        self,
        _: Context,
        proof: Vec<u8>,
        name: String,
        prefix: Option<String>,
    ) -> Result<Welcome, Refusal> {
        if !tls::check_proof(&self.sh.token, &proof) {
            return Err(Refusal::new(
                "this agent was started with another token",
                "start the agent and the script with the same --token-file",
            ));
        }
        if self.lab.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Err(Refusal::new(
                "this connection has its lab already",
                "one lab per connection: connect again for another",
            ));
        }
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready) = oneshot::channel();
        let sh = self.sh.clone();
        let session = session_id();
        // The lab's cancel flag: set when the driver stops waiting for an
        // op (its request dropped: tarpc cancels it here), so a wait ends.
        let stop = Cancel::default();
        let start = Start {
            name,
            prefix,
            session: session.clone(),
            driver: self.n,
            peer: self.peer,
            underlay: self.underlay,
            isolated: self.isolated,
            stop: stop.clone(),
        };
        let h = std::thread::Builder::new()
            .name("nslab-agent-lab".into())
            .spawn(move || lab_thread(start, sh, rx, ready_tx))
            .map_err(|e| Refusal::new(format!("cannot start a thread: {e}"), "see the error"))?;
        self.sh
            .labs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(h);
        ready
            .await
            .map_err(|_| Refusal::new("the lab did not start", "see the agent's output"))??;
        self.sh
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(session.clone(), (tx.clone(), stop.clone()));
        *self.lab.lock().unwrap_or_else(|p| p.into_inner()) = Some((session.clone(), tx, stop));
        Ok(self.welcome(session))
    }

    async fn resume(self, _: Context, proof: Vec<u8>, session: String) -> Result<Welcome, Refusal> {
        if !tls::check_proof(&self.sh.token, &proof) {
            return Err(Refusal::new(
                "this agent was started with another token",
                "start the agent and the script with the same --token-file",
            ));
        }
        if self.lab.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Err(Refusal::new(
                "this connection has its lab already",
                "one lab per connection: connect again for another",
            ));
        }
        // Under the lock a lab's thread takes to end: the lab either gets
        // this connection or is gone already.
        let sessions = self.sh.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let (tx, stop) = sessions
            .get(&session)
            .filter(|(tx, _)| tx.send(Msg::Attach(self.n)).is_ok())
            .cloned()
            .ok_or_else(|| {
                Refusal::new(
                    format!(
                        "this agent holds the lab no longer: it was torn down {} ms after the connection broke (--grace-ms), or the agent was started again",
                        self.sh.grace.as_millis()
                    ),
                    "run the script again",
                )
            })?;
        drop(sessions);
        *self.lab.lock().unwrap_or_else(|p| p.into_inner()) = Some((session.clone(), tx, stop));
        Ok(self.welcome(session))
    }

    async fn op(self, _: Context, seq: u64, op: Op) -> Result<Answer, Refusal> {
        let (_, tx, _) = self
            .lab
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                Refusal::new(
                    "no lab: the driver did not say hello with the token",
                    "connect with `nslab run --machines … --token-file F`",
                )
            })?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Op(seq, Box::new(op), reply))
            .map_err(|_| Refusal::new("this lab has ended here", "run the script again"))?;
        answer
            .await
            .map_err(|_| Refusal::new("this lab has ended here", "run the script again"))?
    }

    async fn interrupt(self, _: Context) {
        if let Some((_, _, stop)) = &*self.lab.lock().unwrap_or_else(|p| p.into_inner()) {
            stop.interrupt();
        }
    }
}

impl Conn {
    fn welcome(&self, session: String) -> Welcome {
        Welcome {
            vxlan_port: self.sh.vxlan_port,
            underlay: self.underlay,
            session,
            grace_ms: self.sh.grace.as_millis() as u64,
        }
    }
}

/// A session's name: 16 random bytes, as hex (it names a lab to anyone
/// holding the token, who could have any lab anyway).
fn session_id() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom fills the buffer it is given.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 16 {
        // No randomness: the time and a count still make it unique here.
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t ^ u128::from(COUNT.fetch_add(1, Ordering::SeqCst)) << 64).to_ne_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a lab's thread starts from.
struct Start {
    name: String,
    /// The driver's `--prefix`: this machine's namespaces get it too.
    prefix: Option<String>,
    session: String,
    /// The connection that said hello.
    driver: u64,
    peer: SocketAddr,
    underlay: IpAddr,
    /// The lab's cancel flag (see `Conn::hello`).
    stop: Cancel,
    isolated: bool,
}

/// One driver's lab, from hello until it is torn down: at the driver's
/// word, or when its connection has been gone for the grace period.
fn lab_thread(
    start: Start,
    sh: Arc<Shared>,
    rx: mpsc::Receiver<Msg>,
    ready: oneshot::Sender<Result<(), Refusal>>,
) {
    let Start {
        name,
        prefix,
        session,
        driver,
        peer,
        underlay,
        isolated,
        stop,
    } = start;
    let lab = Lab::new(LabConfig {
        name: name.clone(),
        script: format!("driven from {peer}"),
        isolated,
        prefix,
        cancel: stop.clone(),
    });
    let mut lab = match lab {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(refusal(e)));
            return;
        }
    };
    if isolated {
        let _ = lab.set_up(lab::HOST, "lo", true);
    }
    if ready.send(Ok(())).is_err() {
        return;
    }
    let mut part = Part {
        lab: Some(lab),
        isolated,
        name,
        mine: HashSet::new(),
        underlay,
        vnis: Vec::new(),
        calls: calls::Calls::default(),
    };
    // The connection driving the lab; since when none does.
    let mut driver = Some(driver);
    let mut gone: Option<Instant> = None;
    // The last op's number and answer, for the driver sending it again.
    let mut last: Option<(u64, Result<Answer, Refusal>)> = None;
    loop {
        if sh.quit.load(Ordering::SeqCst) {
            break;
        }
        let msg = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if gone.is_none_or(|t| t.elapsed() < sh.grace) {
                    continue;
                }
                // The grace period is over: the lab ends, unless a driver
                // came back just now (a resume sends under this lock).
                let mut sessions = sh.sessions.lock().unwrap_or_else(|p| p.into_inner());
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => {
                        sessions.remove(&session);
                        break;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Msg::Op(seq, op, reply) => {
                if let Some((n, answer)) = &last
                    && *n == seq
                {
                    let _ = reply.send(answer.clone());
                    continue;
                }
                // An op the driver stopped waiting for has ended: this
                // one runs.
                stop.clear_interrupt();
                // The driver is done with this part: it ends now.
                let ends = matches!(*op, Op::Teardown | Op::Keep);
                let answer = part.run(*op, &sh);
                last = Some((seq, answer.clone()));
                let _ = reply.send(answer);
                if ends {
                    break;
                }
            }
            Msg::Attach(n) => {
                driver = Some(n);
                gone = None;
            }
            Msg::Detach(n) => {
                if driver == Some(n) {
                    driver = None;
                    gone = Some(Instant::now());
                }
            }
        }
    }
    sh.sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&session);
    part.end(&sh);
}

/// The agent's part of one lab.
struct Part {
    lab: Option<Lab>,
    /// In private namespaces (`--isolated`): no way to the underlay.
    isolated: bool,
    name: String,
    /// The namespaces this lab made here: the only ones a driver may name.
    mine: HashSet<NsId>,
    underlay: IpAddr,
    vnis: Vec<u32>,
    calls: calls::Calls,
}

fn refusal(e: LabError) -> Refusal {
    Refusal::new(e.message, e.help.unwrap_or_default())
}

impl Part {
    fn end(&mut self, sh: &Shared) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(mut lab) = self.lab.take() {
            let report = lab.teardown();
            errors.extend(report.errors.into_iter().map(|e| e.to_string()));
        }
        self.calls.end();
        let mut vnis = sh.vnis.lock().unwrap_or_else(|p| p.into_inner());
        for v in self.vnis.drain(..) {
            vnis.remove(&v);
        }
        errors
    }

    fn ns(&self, ns: u64) -> Result<NsId, Refusal> {
        let id = NsId::try_from(ns).unwrap_or(usize::MAX);
        if self.mine.contains(&id) {
            Ok(id)
        } else {
            Err(Refusal::new(
                format!("namespace #{ns} is not one this lab made on this machine"),
                "run the same nslab on every machine",
            ))
        }
    }

    fn run(&mut self, op: Op, sh: &Shared) -> Result<Answer, Refusal> {
        match op {
            Op::Teardown => {
                let errors = self.end(sh);
                return Ok(Answer::TornDown { errors });
            }
            Op::Keep => {
                if let Some(l) = self.lab.as_mut() {
                    l.keep();
                }
                return Ok(Answer::Done);
            }
            Op::Node(n) => return self.node(n),
            Op::Across(r) => return self.across(r),
            _ => {}
        }
        let ns = match &op {
            Op::Netns { .. } | Op::Teardown | Op::Keep | Op::Node(_) | Op::Across(_) => None,
            Op::Addr { ns, .. }
            | Op::Up { ns, .. }
            | Op::Route { ns, .. }
            | Op::Exec { ns, .. }
            | Op::Ping { ns, .. }
            | Op::Sysctl { ns, .. }
            | Op::Forwarding { ns, .. }
            | Op::VxlanEnd { ns, .. } => Some(self.ns(*ns)?),
            Op::Walk { ns, .. } | Op::Probe { ns, .. } => Some(self.ns(*ns)?),
            Op::Veth { a, b, .. } => {
                self.ns(*b)?;
                Some(self.ns(*a)?)
            }
            Op::Call { ns, call, args } => {
                if let Some(other) = calls::other_ns(call, args) {
                    self.ns(other)?;
                }
                if calls::names_ns(call) {
                    Some(self.ns(*ns)?)
                } else {
                    None
                }
            }
        };
        if matches!(op, Op::VxlanEnd { .. }) && self.isolated {
            return Err(Refusal::new(
                "this machine's agent is isolated: its network is private, so a link between machines cannot reach the machine's own",
                "start the agent there as root without --isolated for links between machines; an isolated agent serves links between its own namespaces",
            ));
        }
        if let Op::VxlanEnd { vni, .. } = &op {
            let mut vnis = sh.vnis.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = vnis.get(vni)
                && *other != self.name
            {
                let mut r = Refusal::new(
                    format!("VNI {vni} is used by lab '{other}' on this machine"),
                    "the driver takes the next VNI",
                );
                r.vni_taken = true;
                return Err(r);
            }
            vnis.insert(*vni, self.name.clone());
            self.vnis.push(*vni);
        }
        let underlay = self.underlay;
        let port = sh.vxlan_port;
        let Some(lab) = self.lab.as_mut() else {
            return Err(Refusal::new(
                "this lab was torn down here already",
                "run the script again",
            ));
        };
        let id = ns.unwrap_or(lab::HOST);
        let done = |r: lab::Result<()>| r.map(|_| Answer::Done).map_err(refusal);
        match op {
            Op::Netns { name } => {
                let id = lab.netns(&name).map_err(refusal)?;
                self.mine.insert(id);
                Ok(Answer::Ns(id as u64))
            }
            Op::Addr { dev, addr, .. } => done(lab.add_addr(id, &dev, addr)),
            Op::Up { dev, up, .. } => done(lab.set_up(id, &dev, up)),
            Op::Sysctl { key, value, .. } => lab
                .sysctl(id, &key, &value)
                .map(Answer::Text)
                .map_err(refusal),
            Op::Forwarding { on, .. } => done(lab.forwarding(id, on)),
            Op::Route {
                dst,
                via,
                dev,
                metric,
                ..
            } => {
                let mut req = match via {
                    Some(v) => RouteReq::via(dst, v),
                    None => RouteReq::via(dst, dst.addr()),
                };
                req.via = via;
                req.dev = dev;
                req.metric = metric;
                done(lab.add_route(id, req))
            }
            Op::Exec {
                argv,
                timeout_ms,
                stdin,
                env,
                ..
            } => {
                let opts = RunOpts {
                    timeout: timeout_ms.map(Duration::from_millis),
                    stdin,
                    env,
                };
                let out = lab.exec(id, &argv, &opts).map_err(refusal)?;
                Ok(Answer::Exec {
                    code: out.code,
                    stdout: out.stdout,
                    stderr: out.stderr,
                    timed_out: out.timed_out,
                })
            }
            Op::Ping {
                dst,
                count,
                interval_ms,
                timeout_ms,
                size,
                df,
                src,
                ttl,
                dev,
                ..
            } => {
                let o = PingOpts {
                    count,
                    interval: Duration::from_millis(interval_ms),
                    timeout: Duration::from_millis(timeout_ms),
                    size,
                    df,
                    src,
                    ttl,
                    dev,
                };
                let (rep, _) = lab.ping_traced(id, dst, &o).map_err(refusal)?;
                Ok(Answer::Ping(PingAnswer {
                    sent: rep.sent,
                    replies: rep
                        .replies
                        .iter()
                        .map(|r| (r.seq, r.ttl, r.rtt.as_micros() as u64, r.from, r.bytes))
                        .collect(),
                    error: rep.error,
                    why: rep.why,
                    busy: rep.busy,
                }))
            }
            Op::Veth { b, an, bn, .. } => {
                let b = NsId::try_from(b).unwrap_or(usize::MAX);
                done(lab.veth(id, &an, b, &bn))
            }
            Op::VxlanEnd {
                name, vni, remote, ..
            } => done(lab.vxlan_underlay(id, &name, vni, remote, underlay, port)),
            Op::Call { call, args, .. } => self.calls.run(lab, id, &call, &args),
            Op::Teardown | Op::Keep | Op::Node(_) | Op::Across(_) => Ok(Answer::Done),
            // Probes and explanations across machines (lab/remote/walk.rs).
            op @ (Op::Walk { .. } | Op::Probe { .. }) => {
                lab.agent_explain_op(id, op).map_err(refusal)
            }
        }
    }
}
