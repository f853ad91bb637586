//! TLS with trust from the shared token alone, no CA, no files to copy.
//!
//! The agent's key pair is an ed25519 key whose seed is a hash of the token;
//! its certificate is self-signed with fixed fields, so it is the same bytes
//! wherever it is made (ed25519 signatures are deterministic). The driver
//! makes the same certificate from its token and accepts only that one,
//! then checks the handshake signature with it: an agent that answers holds
//! the token. The driver proves the same to the agent in `hello` with an
//! HMAC of the token (sent inside the TLS session already authenticated,
//! so nobody without the token sees or replays it). A wrong token fails
//! the handshake on the driver's side ("not the agent of this token") and
//! `hello` on the agent's.

use std::sync::Arc;

use ring::{digest, hmac};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring as provider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::Refusal;

/// The name in the certificate (there is no DNS name to check: the pin is
/// the certificate itself).
pub const SERVER_NAME: &str = "nslab-agent";

/// An ed25519 PKCS#8 v1 private key is this prefix then the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The agent's certificate and private key, from the token.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Identity {
    pub fn from_token(token: &[u8]) -> Result<Identity, Refusal> {
        let seed = digest::digest(&digest::SHA256, &[b"nslab agent key v1\0", token].concat());
        let key = [&PKCS8_ED25519_PREFIX[..], seed.as_ref()].concat();
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(key.clone()),
            &rcgen::PKCS_ED25519,
        )
        .map_err(tls_err)?;
        let mut params =
            rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()]).map_err(tls_err)?;
        // Fixed fields: the driver makes the same bytes.
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(4000, 1, 1);
        params.serial_number = Some(rcgen::SerialNumber::from(1u64));
        let cert = params.self_signed(&pair).map_err(tls_err)?;
        Ok(Identity {
            cert: cert.der().clone(),
            key,
        })
    }

    pub fn server_config(&self) -> Result<rustls::ServerConfig, Refusal> {
        rustls::ServerConfig::builder_with_provider(crypto())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone().into()),
            )
            .map_err(tls_err)
    }

    /// The driver's side: only this identity's certificate is accepted.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, Refusal> {
        let prov = crypto();
        let pin = Pinned {
            cert: self.cert.clone(),
            provider: prov.clone(),
        };
        Ok(rustls::ClientConfig::builder_with_provider(prov)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pin))
            .with_no_client_auth())
    }
}

/// What the driver sends in `hello`: proof that it holds the token.
pub fn proof(token: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token);
    hmac::sign(&key, b"nslab driver hello v1").as_ref().to_vec()
}

/// Checks a driver's proof (in constant time).
pub fn check_proof(token: &[u8], proof: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token);
    hmac::verify(&key, b"nslab driver hello v1", proof).is_ok()
}

/// ring, not aws-lc-rs: it builds without cmake. Its provider is marked
/// deprecated for lacking post-quantum key exchange, which a lab's link
/// between machines does without.
#[allow(deprecated)]
fn crypto() -> Arc<CryptoProvider> {
    Arc::new(provider::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        format!("cannot set up TLS: {e}"),
        "this is a bug in nslab's TLS setup; please report it",
    )
}

#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the agent's certificate is not the one of this token: the agent was started with another token".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered.
        Err(rustls::Error::General("TLS 1.2 is not used".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_token_makes_the_same_certificate() {
        let a = Identity::from_token(b"0123456789abcdef").unwrap();
        let b = Identity::from_token(b"0123456789abcdef").unwrap();
        let c = Identity::from_token(b"0123456789abcdeX").unwrap();
        assert_eq!(a.cert, b.cert);
        assert_ne!(a.cert, c.cert);
        assert!(check_proof(
            b"0123456789abcdef",
            &proof(b"0123456789abcdef")
        ));
        assert!(!check_proof(
            b"0123456789abcdef",
            &proof(b"0123456789abcdeX")
        ));
    }
}
