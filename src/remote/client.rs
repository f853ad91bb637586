//! The driver's connection to one agent.

use std::net::IpAddr;
use std::sync::Arc;
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
    client: AgentClient,
    rt: tokio::runtime::Runtime,
    /// Polled while waiting for an answer (`call_or_stop`): the script's
    /// Ctrl-C.
    stop: Option<Box<dyn Fn() -> bool + Send + Sync>>,
}

impl Machine {
    /// Connects and opens the session of lab `lab`.
    pub fn connect(name: &str, addr: &str, token: &[u8], lab: &str) -> Result<Machine, Refusal> {
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
        let unreachable = |e: String| {
            Refusal::new(
                format!("cannot reach the agent of machine '{name}' at {addr}: {e}"),
                format!(
                    "start `nslab agent --listen {addr} --token-file F` on {name}, and check that the way there is open"
                ),
            )
        };
        let (client, local, welcome) = rt.block_on(async {
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| unreachable("no answer".into()))?
                .map_err(|e| unreachable(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            let local = tcp
                .local_addr()
                .map_err(|e| unreachable(e.to_string()))?
                .ip();
            let server = rustls::pki_types::ServerName::try_from(tls::SERVER_NAME)
                .map_err(|e| unreachable(e.to_string()))?;
            let stream = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio_rustls::TlsConnector::from(config).connect(server, tcp),
            )
            .await
            .map_err(|_| unreachable("no TLS answer".into()))?
            .map_err(|e| {
                Refusal::new(
                    format!("the agent of machine '{name}' at {addr} refused this token: {e}"),
                    "start the agent and the script with the same --token-file",
                )
            })?;
            let framed = LengthDelimitedCodec::builder().new_framed(stream);
            let t = transport::new(framed, Bincode::default());
            let client = AgentClient::new(tarpc::client::Config::default(), t).spawn();
            let welcome = client
                .hello(long_context(), tls::proof(token), lab.to_string())
                .await
                .map_err(|e| unreachable(e.to_string()))??;
            Ok::<_, Refusal>((client, local, welcome))
        })?;
        Ok(Machine {
            name: name.to_string(),
            addr: addr.to_string(),
            local,
            welcome,
            client,
            rt,
            stop: None,
        })
    }

    /// Runs `op` on the agent and waits for its answer.
    pub fn call(&self, op: Op) -> Result<Answer, Refusal> {
        self.wait(self.send(op))
    }

    /// A wait for an answer (`call_or_stop`) ends when `stop` says so.
    pub fn stop_when(&mut self, stop: impl Fn() -> bool + Send + Sync + 'static) {
        self.stop = Some(Box::new(stop));
    }

    /// `call`, but when `stop_when`'s test turns true meanwhile (Ctrl-C)
    /// the call is cancelled (tarpc tells the agent, which interrupts the
    /// op: a wait there ends now) and the answer is an error.
    pub fn call_or_stop(&self, op: Op) -> Result<Answer, Refusal> {
        let Some(stop) = &self.stop else {
            return self.call(op);
        };
        let mut p = self.send(op);
        let stopped = self.rt.block_on(async {
            loop {
                tokio::select! {
                    r = &mut p.0 => return Err(r),
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
                p.0.abort();
                Err(Refusal::new(
                    format!("interrupted while machine '{}' worked", self.name),
                    "the lab is being torn down",
                ))
            }
            Err(r) => self.answer(r),
        }
    }

    /// Sends `op` to the agent without waiting: the answer is `wait`ed for
    /// later, so that calls on several machines run at once.
    pub fn send(&self, op: Op) -> Pending {
        let client = self.client.clone();
        Pending(
            self.rt
                .spawn(async move { client.op(long_context(), op).await }),
        )
    }

    /// The answer to an op `send` sent.
    pub fn wait(&self, p: Pending) -> Result<Answer, Refusal> {
        let r = self.rt.block_on(p.0);
        self.answer(r)
    }

    fn answer(&self, r: Joined) -> Result<Answer, Refusal> {
        let r = match r {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let r = r.map_err(|e| {
            Refusal::new(
                format!(
                    "lost the agent of machine '{}' at {}: {e}",
                    self.name, self.addr
                ),
                format!(
                    "is `nslab agent` still running on {}? its part of the lab is torn down once the connection is gone; `nslab down` there removes what is left",
                    self.name
                ),
            )
        })?;
        r.map_err(|mut e| {
            e.message = format!("on machine '{}': {}", self.name, e.message);
            e
        })
    }
}

/// An op's answer as its task ends.
type Joined =
    Result<Result<Result<Answer, Refusal>, tarpc::client::RpcError>, tokio::task::JoinError>;

/// An op sent to an agent, its answer not yet read (`Machine::wait`).
pub struct Pending(
    tokio::task::JoinHandle<Result<Result<Answer, Refusal>, tarpc::client::RpcError>>,
);

/// A lab call may take long (a command, a ping's timeout): tarpc's default
/// deadline of 10 s is not the lab's to set.
fn long_context() -> tarpc::context::Context {
    let mut c = tarpc::context::current();
    c.deadline = Instant::now() + Duration::from_secs(7 * 24 * 3600);
    c
}
