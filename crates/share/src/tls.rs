//! The HTTPS connector every outgoing client uses (partner exchange, webhooks): rustls on
//! ring with the Mozilla roots plus any extra roots (a private certificate authority).

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use std::sync::Arc;

/// Why the connector could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    #[error("extra root certificate {index} is not usable: {reason}")]
    InvalidRoot { index: usize, reason: String },
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// An `http://` and `https://` connector trusting the Mozilla roots and `extra_roots`
/// (DER certificates).
pub fn https_connector(
    extra_roots: &[Vec<u8>],
) -> Result<HttpsConnector<HttpConnector>, TlsSetupError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, der) in extra_roots.iter().enumerate() {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| TlsSetupError::InvalidRoot {
                index,
                reason: e.to_string(),
            })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build())
}
