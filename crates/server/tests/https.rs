//! Webhooks over HTTPS: delivered to a receiver whose certificate is trusted, refused by
//! one that is not, and an unreachable `https://` receiver is a recorded connection
//! error like any other.

use breakwater_server::webhooks::{
    certificates_from_pem, signature, SenderError, SenderSettings, WebhookSender,
};
use breakwater_store::{DeliveryState, OrgKind, Store};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed P-256 certificate for 127.0.0.1 and localhost (CA:FALSE, serverAuth,
/// valid for 100 years), made with
/// `openssl req -x509 -key k.pem -days 36500 -subj /CN=localhost -addext …`.
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBwDCCAWWgAwIBAgIUdhAb7a6z5gpr5pkBSWRI0cmU0sQwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTA3NTE1N1oYDzIxMjYxMTAx
MDc1MTU3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT0pVsClZxtZa0PA2ywRxUtq6+zZh9KOKpjX06qJmIomMWmBxyJopTA
1MghRpzKanWmc21lypoBHC8Xgq/0tMKCo4GSMIGPMB0GA1UdDgQWBBSk75hORc3T
kceg+A0ERXLsZRJsijAfBgNVHSMEGDAWgBSk75hORc3Tkceg+A0ERXLsZRJsijAM
BgNVHRMBAf8EAjAAMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAOBgNVHQ8B
Af8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwCgYIKoZIzj0EAwIDSQAwRgIh
AJZ/8ThF3iCT1CE/S2ZQTt1j3Un5Xxz5pDtW1SGJpMQVAiEAg9hCIJjxJRTtWr4P
t+Qa+eVbgA9u64UUBSk2IxaQT+k=
-----END CERTIFICATE-----
";
/// Its private key (PKCS#8).
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghiLMfogcywiS4d9y
YAVOobKj40cz+PmJ+Ex9DbXaTbqhRANCAAT0pVsClZxtZa0PA2ywRxUtq6+zZh9K
OKpjX06qJmIomMWmBxyJopTA1MghRpzKanWmc21lypoBHC8Xgq/0tMKC
-----END PRIVATE KEY-----
";

const SECRET: &str = "a-shared-secret-of-some-length";

/// What the receiver saw: the signature header, the timestamp header and the body.
type Seen = Arc<Mutex<Vec<(String, i64, Vec<u8>)>>>;

/// An HTTPS receiver on loopback that answers every request 200; returns its port.
async fn tls_receiver(seen: Seen) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(CERT_PEM.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Some((head, body)) = read_request(&mut tls).await else {
                    return;
                };
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let timestamp = header("x-breakwater-timestamp").parse().unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push((header("x-breakwater-signature"), timestamp, body));
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// Reads one HTTP/1.1 request with a `content-length` body: (head, body).
async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[head_end..head_end + length].to_vec()))
}

async fn store_with_hook(dir: &tempfile::TempDir, url: &str) -> (Store, i64, i64) {
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let org = store
        .create_organisation("P", OrgKind::Platform)
        .await
        .unwrap();
    store.set_webhook(org.id, url, SECRET).await.unwrap();
    let id = store
        .enqueue_delivery(org.id, &json!({"action": "remove", "item": 7}))
        .await
        .unwrap();
    (store, org.id, id)
}

fn trusting_the_test_certificate() -> SenderSettings {
    SenderSettings {
        extra_roots: certificates_from_pem(CERT_PEM.as_bytes()).unwrap(),
        attempt_timeout: Duration::from_secs(5),
        ..SenderSettings::default()
    }
}

#[tokio::test]
async fn delivers_over_https_to_a_trusted_receiver() {
    let seen: Seen = Arc::default();
    let port = tls_receiver(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, org, id) = store_with_hook(&dir, &format!("https://127.0.0.1:{port}/hook")).await;
    let sender =
        WebhookSender::with_settings(store.clone(), trusting_the_test_certificate()).unwrap();
    let delivered = sender.send_due(breakwater_store::now_ms()).await.unwrap();
    let status = store.delivery_status(org, id).await.unwrap().unwrap();
    assert_eq!(delivered, 1, "{:?}", status.last_error);
    assert_eq!(status.state, DeliveryState::Delivered);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (sig, timestamp, body) = &seen[0];
    assert_eq!(
        *sig,
        format!("sha256={}", signature(SECRET, *timestamp, body))
    );
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["delivery_id"], id);
    assert_eq!(body["event"]["action"], "remove");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_recorded() {
    let seen: Seen = Arc::default();
    let port = tls_receiver(seen.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, org, id) = store_with_hook(&dir, &format!("https://127.0.0.1:{port}/hook")).await;
    // Only the Web PKI roots: the self-signed certificate must not be accepted.
    let sender = WebhookSender::new(store.clone());
    assert_eq!(
        sender.send_due(breakwater_store::now_ms()).await.unwrap(),
        0
    );
    let status = store.delivery_status(org, id).await.unwrap().unwrap();
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 1);
    let error = status.last_error.unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn an_unreachable_https_receiver_is_a_connection_error_until_given_up() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, org, id) = store_with_hook(&dir, &format!("https://127.0.0.1:{port}/hook")).await;
    let settings = SenderSettings {
        max_attempts: 2,
        ..trusting_the_test_certificate()
    };
    let sender = WebhookSender::with_settings(store.clone(), settings).unwrap();
    let now = breakwater_store::now_ms();
    assert_eq!(sender.send_due(now).await.unwrap(), 0);
    let status = store.delivery_status(org, id).await.unwrap().unwrap();
    assert_eq!(status.state, DeliveryState::Pending);
    let error = status.last_error.unwrap();
    assert!(
        error.to_lowercase().contains("connect"),
        "a connection error, not a scheme or URL error: {error}"
    );
    assert!(!error.contains("scheme"), "{error}");
    // The second failure is the last allowed: the delivery is given up.
    assert_eq!(sender.send_due(now + 3_600_000).await.unwrap(), 0);
    let status = store.delivery_status(org, id).await.unwrap().unwrap();
    assert_eq!(status.state, DeliveryState::Dead);
    assert_eq!(status.attempts, 2);
}

#[tokio::test]
async fn a_bad_extra_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let settings = SenderSettings {
        extra_roots: vec![b"not a certificate".to_vec()],
        ..SenderSettings::default()
    };
    match WebhookSender::with_settings(store, settings) {
        Err(SenderError::InvalidRoot { index: 0, .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a garbage root was accepted"),
    }
    assert!(matches!(
        certificates_from_pem(KEY_PEM.as_bytes()),
        Err(SenderError::Pem(_))
    ));
    let bundle = format!("{CERT_PEM}{CERT_PEM}");
    assert_eq!(certificates_from_pem(bundle.as_bytes()).unwrap().len(), 2);
}
