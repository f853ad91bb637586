//! One lab across machines: the protocol between a driving `nslab run`
//! and the `nslab agent`s that hold the lab's namespaces placed on other
//! machines (`netns("r3", #{on: "m2"})`).
//!
//! RPC is tarpc (serde, tokio) over TLS (rustls). tarpc rather than tonic:
//! the ops are Rust enums already serde-able, with no .proto file and no
//! protoc/prost code generation in the build; its serde transport runs
//! over any AsyncRead + AsyncWrite, here a tokio-rustls stream.
//!
//! Trust comes from the shared token alone, with no CA (see `tls.rs`): the
//! agent's ed25519 key is derived from the token, so the driver pins the
//! certificate it derives itself; the driver then proves it holds the token
//! with an HMAC in `hello`, which every other request waits for.
//!
//! This module knows no `Lab`: the driver's lab (lab/remote.rs) turns its
//! calls into `Op`s, the agent (cmd/agent.rs) turns them back into Lab calls.

pub mod across;
pub mod client;
pub mod node;
pub mod proto;
pub mod tls;

pub use client::Machine;
pub use proto::{Answer, Op, PingAnswer, Refusal};

/// The UDP port of VXLAN links between machines (containerlab's: 4789 is
/// often blocked in clouds).
pub const VXLAN_PORT: u16 = 14789;

/// A network gone quiet ends a connection between driver and agent within
/// about 8 s, on both sides, whether it was idle (keepalive probes after 5 s
/// of silence, 3 of them a second apart) or had data on the way
/// (TCP_USER_TIMEOUT: unacknowledged data would otherwise be sent again for
/// a quarter of an hour). Best effort: a socket that refuses keeps the
/// kernel's defaults.
pub fn end_when_quiet(tcp: &tokio::net::TcpStream) {
    let ka = socket2::TcpKeepalive::new()
        .with_time(std::time::Duration::from_secs(5))
        .with_interval(std::time::Duration::from_secs(1))
        .with_retries(3);
    let _ = socket2::SockRef::from(tcp).set_tcp_keepalive(&ka);
    let ms: libc::c_uint = 8_000;
    // SAFETY: a valid socket of ours, an option of the size the kernel reads.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(tcp),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&ms as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        );
    }
}

/// Reads and checks a token file: its text, trimmed.
pub fn read_token(path: &std::path::Path) -> Result<Vec<u8>, Refusal> {
    let text = std::fs::read(path).map_err(|e| {
        Refusal::new(
            format!("cannot read token file {}: {e}", path.display()),
            "give --token-file a file holding the shared secret, e.g. `head -c 32 /dev/urandom | base64 > token`",
        )
    })?;
    let token = text.trim_ascii().to_vec();
    if token.len() < 16 {
        return Err(Refusal::new(
            format!(
                "the token in {} is {} bytes: too short to be a secret",
                path.display(),
                token.len()
            ),
            "use at least 16 random bytes, e.g. `head -c 32 /dev/urandom | base64 > token`",
        ));
    }
    Ok(token)
}
