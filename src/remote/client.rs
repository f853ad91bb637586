//! The driver's connection to one agent.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tarpc::serde_transport as transport;
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::length_delimited::LengthDelimitedCodec;

use super::proto::{AgentClient, Welcome};
use super::tls::{self, Identity};
use super::{Answer, Op, Refusal};

/// How long connecting to an agent may take (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One machine of the lab, reached through its agent.
pub struct Machine {
    pub name: String,
    /// As `--machines` gives it: ADDR:PORT or NAME:PORT.
    pub addr: String,
    /// This machine's address on the way to the agent (the local end of
    /// the connection): the far end of VXLAN links from there.
    pub local: IpAddr,
    pub welcome: Welcome,
    token: Vec<u8>,
    config: Arc<rustls::ClientConfig>,
    /// Replaced when the connection broke and was made again.
    client: Mutex<AgentClient>,
    /// The number of the last op sent.
    seq: AtomicU64,
    rt: tokio::runtime::Runtime,
    /// Polled while waiting for an answer (`call_or_stop`): the script's
    /// Ctrl-C.
    stop: Option<Box<dyn Fn() -> bool + Send + Sync>>,
}

/// Why a connection could not be made: `again` when trying once more may
/// help (no answer, no route yet), not when the agent said no or nothing
/// listens there.
struct NoConnection {
    refusal: Refusal,
    again: bool,
}

impl Machine {
    /// Connects and opens the session of lab `lab` (its namespaces there
    /// under `prefix` in the kernel, as here).
    pub fn connect(
        name: &str,
        addr: &str,
        token: &[u8],
        lab: &str,
        prefix: Option<String>,
    ) -> Result<Machine, Refusal> {
        // A worker of its own drives the connection between calls (tarpc's
        // dispatch answers the agent's keepalives even while the script
        // computes).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nslab-remote")
            .enable_all()
            .build()
            .map_err(|e| Refusal::new(format!("cannot start a runtime: {e}"), "see the error"))?;
        let id = Identity::from_token(token)?;
        let config = Arc::new(id.client_config()?);
        let (client, local, welcome) = rt
            .block_on(async {
                let (client, local) = open(name, addr, config.clone(), CONNECT_TIMEOUT).await?;
                let welcome = client
                    .hello(long_context(), tls::proof(token), lab.to_string(), prefix)
                    .await
                    .map_err(|e| NoConnection {
                        refusal: unreachable(name, addr, &e.to_string()),
                        again: false,
                    })?
                    .map_err(|refusal| NoConnection {
                        refusal,
                        again: false,
                    })?;
                Ok::<_, NoConnection>((client, local, welcome))
            })
            .map_err(|e| e.refusal)?;
        Ok(Machine {
            name: name.to_string(),
            addr: addr.to_string(),
            local,
            welcome,
            token: token.to_vec(),
            config,
            client: Mutex::new(client),
            seq: AtomicU64::new(0),
            rt,
            stop: None,
        })
    }

    /// Runs `op` on the agent and waits for its answer. A connection that
    /// broke (a network drop, a connection reset) is made again and the op
    /// sent once more, under the same number (the agent does not do it
    /// twice), as long as the agent still holds the lab: its grace period.
    pub fn call(&self, op: Op) -> Result<Answer, Refusal> {
        self.wait(self.send(op))
    }

    /// A wait for an answer (`call_or_stop`) ends when `stop` says so.
    pub fn stop_when(&mut self, stop: impl Fn() -> bool + Send + Sync + 'static) {
        self.stop = Some(Box::new(stop));
    }

    /// `call`, but when `stop_when`'s test turns true meanwhile (Ctrl-C)
    /// the call is given up and the agent told to interrupt the op (a wait
    /// there ends now); the answer is an error.
    pub fn call_or_stop(&self, op: Op) -> Result<Answer, Refusal> {
        let Some(stop) = &self.stop else {
            return self.call(op);
        };
        let mut p = self.send(op);
        let stopped = self.rt.block_on(async {
            loop {
                tokio::select! {
                    r = &mut p.task => return Err(r),
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                        if stop() {
                            return Ok(());
                        }
                    }
                }
            }
        });
        match stopped {
            Ok(()) => {
                p.task.abort();
                // The agent interrupts the op (a wait there ends now); its
                // answer is not waited for.
                let client = self
                    .client
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let _ = self.rt.block_on(async {
                    tokio::time::timeout(
                        Duration::from_secs(2),
                        client.interrupt(tarpc::context::current()),
                    )
                    .await
                });
                Err(Refusal::new(
                    format!("interrupted while machine '{}' worked", self.name),
                    "the lab is being torn down",
                ))
            }
            Err(r) => self.finish(p.seq, p.op, r),
        }
    }

    /// Sends `op` to the agent without waiting: the answer is `wait`ed for
    /// later, so that calls on several machines run at once.
    pub fn send(&self, op: Op) -> Pending {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let client = self
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sent = op.clone();
        Pending {
            seq,
            op,
            task: self
                .rt
                .spawn(async move { client.op(long_context(), seq, sent).await }),
        }
    }

    /// The answer to an op `send` sent.
    pub fn wait(&self, mut p: Pending) -> Result<Answer, Refusal> {
        let r = self.rt.block_on(&mut p.task);
        self.finish(p.seq, p.op, r)
    }

    /// The answer of op `seq` as its task ended. A connection that broke
    /// (a network drop, a connection reset) is made again and the op sent
    /// once more, under the same number (the agent does not do it twice),
    /// as long as the agent still holds the lab: its grace period.
    fn finish(&self, seq: u64, op: Op, r: Joined) -> Result<Answer, Refusal> {
        use tarpc::client::RpcError;
        let r = match r {
            Ok(Ok(r)) => r,
            Ok(Err(broke @ (RpcError::Shutdown | RpcError::Send(_) | RpcError::Channel(_)))) => {
                self.reconnect(&broke.to_string())?;
                self.resend(seq, op)
                    .map_err(|e| self.lost(&e.to_string(), None))?
            }
            Ok(Err(e)) => return Err(self.lost(&e.to_string(), None)),
            Err(e) => return Err(self.lost(&e.to_string(), None)),
        };
        r.map_err(|mut e| {
            e.message = format!("on machine '{}': {}", self.name, e.message);
            e
        })
    }

    fn resend(&self, seq: u64, op: Op) -> Result<Result<Answer, Refusal>, tarpc::client::RpcError> {
        let client = self
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.rt.block_on(client.op(long_context(), seq, op))
    }

    /// Connects again and takes the lab's session back; tries for as long
    /// as the agent keeps the lab, while trying may help.
    fn reconnect(&self, broke: &str) -> Result<(), Refusal> {
        let grace = Duration::from_millis(self.welcome.grace_ms);
        let start = Instant::now();
        loop {
            let left = grace.saturating_sub(start.elapsed());
            let wait = CONNECT_TIMEOUT.min(left + Duration::from_secs(1));
            let r = self.rt.block_on(async {
                let (client, _) = open(&self.name, &self.addr, self.config.clone(), wait).await?;
                client
                    .resume(
                        long_context(),
                        tls::proof(&self.token),
                        self.welcome.session.clone(),
                    )
                    .await
                    .map_err(|e| NoConnection {
                        refusal: unreachable(&self.name, &self.addr, &e.to_string()),
                        again: true,
                    })?
                    .map_err(|refusal| NoConnection {
                        refusal,
                        again: false,
                    })?;
                Ok::<_, NoConnection>(client)
            });
            match r {
                Ok(client) => {
                    *self.client.lock().unwrap_or_else(|p| p.into_inner()) = client;
                    return Ok(());
                }
                Err(e) if e.again && start.elapsed() < grace => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(self.lost(broke, Some(e.refusal))),
            }
        }
    }

    fn lost(&self, e: &str, again: Option<Refusal>) -> Refusal {
        let again = again
            .map(|r| format!("; connecting again: {}", r.message))
            .unwrap_or_default();
        Refusal::new(
            format!(
                "lost the agent of machine '{}' at {}: {e}{again}",
                self.name, self.addr
            ),
            format!(
                "is `nslab agent` still running on {}, and the way there open? it keeps its part of the lab {} ms after the connection is gone, then tears it down; `nslab down` there removes what is left",
                self.name, self.welcome.grace_ms
            ),
        )
    }
}

fn unreachable(name: &str, addr: &str, e: &str) -> Refusal {
    Refusal::new(
        format!("cannot reach the agent of machine '{name}' at {addr}: {e}"),
        format!(
            "start `nslab agent --listen {addr} --token-file F` on {name}, and check that the way there is open"
        ),
    )
}

/// A TLS connection to the agent at `addr`, pinned to the token's
/// certificate, and the local address it left from.
async fn open(
    name: &str,
    addr: &str,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<(AgentClient, IpAddr), NoConnection> {
    let fail = |e: String, again: bool| NoConnection {
        refusal: unreachable(name, addr, &e),
        again,
    };
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| fail("no answer".into(), true))?
        // Nothing listening there (refused): the agent is gone, and its
        // labs with it.
        .map_err(|e| {
            fail(
                e.to_string(),
                e.kind() != std::io::ErrorKind::ConnectionRefused,
            )
        })?;
    let _ = tcp.set_nodelay(true);
    // A network gone quiet ends the connection here too (as on the
    // agent's side), so a call waiting for its answer notices.
    super::end_when_quiet(&tcp);
    let local = tcp
        .local_addr()
        .map_err(|e| fail(e.to_string(), true))?
        .ip();
    let server = rustls::pki_types::ServerName::try_from(tls::SERVER_NAME)
        .map_err(|e| fail(e.to_string(), false))?;
    let stream = tokio::time::timeout(
        timeout,
        tokio_rustls::TlsConnector::from(config).connect(server, tcp),
    )
    .await
    .map_err(|_| fail("no TLS answer".into(), true))?
    .map_err(|e| NoConnection {
        refusal: Refusal::new(
            format!("the agent of machine '{name}' at {addr} refused this token: {e}"),
            "start the agent and the script with the same --token-file",
        ),
        again: false,
    })?;
    let framed = LengthDelimitedCodec::builder().new_framed(stream);
    let t = transport::new(framed, Bincode::default());
    Ok((
        AgentClient::new(tarpc::client::Config::default(), t).spawn(),
        local,
    ))
}

/// An op's answer as its task ends.
type Joined =
    Result<Result<Result<Answer, Refusal>, tarpc::client::RpcError>, tokio::task::JoinError>;

/// An op sent to an agent, its answer not yet read (`Machine::wait`).
pub struct Pending {
    seq: u64,
    op: Op,
    task: tokio::task::JoinHandle<Result<Result<Answer, Refusal>, tarpc::client::RpcError>>,
}

/// A lab call may take long (a command, a ping's timeout): tarpc's default
/// deadline of 10 s is not the lab's to set.
fn long_context() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + Duration::from_secs(7 * 24 * 3600);
    c
}
