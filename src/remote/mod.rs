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
