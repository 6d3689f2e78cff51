//! The TAXII client against our own server on a loopback port, and against partners
//! that misbehave in each way the client must name.

use breakwater_core::{Signal, SignalKind};
use breakwater_share::client::{Auth, ClientConfig, ClientError, TaxiiClient};
use breakwater_share::stix::{import_document, indicator_object, to_objects};
use breakwater_share::taxii::{
    router, BackendError, CollectionInfo, Credentials, MemoryBackend, ObjectQuery, Page, Status,
    StatusState, TaxiiBackend, TaxiiConfig,
};
use breakwater_share::{ImportOptions, SharedSignal, Timestamp, Tlp};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

fn signal(i: usize) -> SharedSignal {
    SharedSignal::new(
        Signal::parse(SignalKind::Domain, &format!("boats-{i}.example")).unwrap(),
        "NGO",
        Tlp::Green,
        Timestamp::parse("2024-05-01T10:00:00Z").unwrap(),
    )
}

fn backend() -> MemoryBackend {
    let b = MemoryBackend::new();
    b.add_user("admin", "Password0");
    b.add_api_key("k", "admin");
    b.add_collection(COLLECTION, "Signals", None);
    b.grant(COLLECTION, "admin", true, true);
    b
}

/// Serves a router on a free loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn admin() -> Option<Auth> {
    Some(Auth::Basic {
        user: "admin".into(),
        password: "Password0".into(),
    })
}

fn quick() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(500),
        poll_interval: Duration::from_millis(10),
        poll_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn pulls_in_pages_pushes_and_resumes_from_the_checkpoint() {
    let b = backend();
    let signals: Vec<SharedSignal> = (0..4).map(signal).collect();
    b.insert(COLLECTION, to_objects(&signals)).unwrap();
    let base = serve(router(b.clone(), TaxiiConfig::default())).await;
    let client = TaxiiClient::with_config(admin(), quick()).unwrap();

    let d = client.discovery(&format!("{base}/taxii2/")).await.unwrap();
    let root = d.api_roots[0].clone();
    assert_eq!(root, format!("{base}/taxii2/api/"));
    assert_eq!(d.default.as_deref(), Some(root.as_str()));
    let info = client.api_root(&root).await.unwrap();
    assert_eq!(info.versions, ["application/taxii+json;version=2.1"]);
    let cols = client.collections(&root).await.unwrap();
    assert_eq!(cols.len(), 1);
    assert!(cols[0].can_write);

    // 4 indicators + 1 marking + 1 identity = 6 objects.
    let pull = client
        .get_objects(&root, COLLECTION, None, Some(4))
        .await
        .unwrap();
    assert_eq!(pull.objects.len(), 6);
    assert_eq!(pull.pages, 2);
    let checkpoint = pull.date_added_last.expect("a checkpoint");
    let mut import = import_document(
        &json!({ "objects": pull.objects }),
        &ImportOptions::default(),
    )
    .unwrap();
    // Objects added in one request share a date_added and come back in id order.
    import.signals.sort_by(|a, b| a.signal.cmp(&b.signal));
    assert_eq!(import.signals, signals);

    let status = client
        .add_objects(
            &root,
            COLLECTION,
            &json!({"objects": [indicator_object(&signal(9))]}),
        )
        .await
        .unwrap();
    assert_eq!(status.status, StatusState::Complete);
    assert_eq!(status.success_count, 1);
    assert_eq!(client.status(&root, &status.id).await.unwrap(), status);

    let since = client
        .get_objects(&root, COLLECTION, Some(checkpoint), Some(3))
        .await
        .unwrap();
    assert_eq!(since.objects.len(), 1);
    assert_eq!(since.objects[0]["id"], signal(9).stix_id());
    assert!(since.date_added_last.unwrap() > checkpoint);

    // API keys work as well as passwords.
    let by_key = TaxiiClient::with_config(Some(Auth::ApiKey("k".into())), quick()).unwrap();
    assert_eq!(by_key.collections(&root).await.unwrap().len(), 1);
    let by_bearer = TaxiiClient::with_config(Some(Auth::Bearer("k".into())), quick()).unwrap();
    assert_eq!(by_bearer.collections(&root).await.unwrap().len(), 1);
}

/// A backend whose add requests stay pending for two status reads.
#[derive(Clone)]
struct SlowBackend {
    inner: MemoryBackend,
    reads: Arc<AtomicUsize>,
}

impl TaxiiBackend for SlowBackend {
    type Principal = String;

    async fn authenticate(&self, c: &Credentials) -> Result<Option<String>, BackendError> {
        self.inner.authenticate(c).await
    }
    async fn collections(&self, p: &String) -> Result<Vec<CollectionInfo>, BackendError> {
        self.inner.collections(p).await
    }
    async fn get_objects(
        &self,
        p: &String,
        c: &str,
        q: &ObjectQuery,
    ) -> Result<Page, BackendError> {
        self.inner.get_objects(p, c, q).await
    }
    async fn add_objects(
        &self,
        p: &String,
        c: &str,
        o: Vec<Value>,
    ) -> Result<Status, BackendError> {
        let mut s = self.inner.add_objects(p, c, o).await?;
        s.status = StatusState::Pending;
        Ok(s)
    }
    async fn status(&self, p: &String, id: &str) -> Result<Option<Status>, BackendError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        let mut s = self.inner.status(p, id).await?;
        if let Some(s) = s.as_mut() {
            if n < 2 {
                s.status = StatusState::Pending;
            }
        }
        Ok(s)
    }
}

#[tokio::test]
async fn a_pending_status_is_polled_until_complete_or_the_deadline() {
    let slow = SlowBackend {
        inner: backend(),
        reads: Arc::new(AtomicUsize::new(0)),
    };
    let reads = slow.reads.clone();
    let base = serve(router(slow, TaxiiConfig::default())).await;
    let root = format!("{base}/taxii2/api/");
    let envelope = json!({"objects": [indicator_object(&signal(1))]});

    let status = TaxiiClient::with_config(admin(), quick())
        .unwrap()
        .add_objects(&root, COLLECTION, &envelope)
        .await
        .unwrap();
    assert_eq!(status.status, StatusState::Complete);
    assert_eq!(reads.load(Ordering::SeqCst), 3);

    reads.store(0, Ordering::SeqCst);
    let impatient = ClientConfig {
        poll_timeout: Duration::ZERO,
        ..quick()
    };
    let err = TaxiiClient::with_config(admin(), impatient)
        .unwrap()
        .add_objects(&root, COLLECTION, &envelope)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::StillPending { .. }), "{err}");
}

/// A partner that answers every request with `response` (or, if `None`, never answers).
async fn fake_partner(response: Option<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                match response {
                    Some(r) => {
                        let _ = sock.write_all(r.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    format!("http://{addr}/taxii2/api/")
}

fn http(status: &str, content_type: &str, body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

#[tokio::test]
async fn misbehaving_partners_yield_errors_that_say_what_went_wrong() {
    let client = TaxiiClient::with_config(admin(), quick()).unwrap();
    let taxii = "application/taxii+json;version=2.1";

    let root = fake_partner(None).await;
    let err = client.collections(&root).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");

    let root = fake_partner(http("200 OK", taxii, "<html>hello</html>")).await;
    let err = client.collections(&root).await.unwrap_err();
    assert!(matches!(err, ClientError::NotJson { .. }), "{err}");

    let root = fake_partner(http("200 OK", "application/json", r#"{"collections": []}"#)).await;
    let err = client.collections(&root).await.unwrap_err();
    assert!(
        matches!(err, ClientError::WrongContentType { ref content_type, .. } if content_type == "application/json"),
        "{err}"
    );

    let root = fake_partner(http("200 OK", taxii, r#"{"more": false, "objects": 5}"#)).await;
    let err = client
        .get_objects(&root, COLLECTION, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Malformed { .. }), "{err}");

    // `more` forever, empty pages, the same `next`: stopped, not looped.
    let root = fake_partner(http(
        "200 OK",
        taxii,
        r#"{"more": true, "next": "same", "objects": []}"#,
    ))
    .await;
    let err = client
        .get_objects(&root, COLLECTION, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Malformed { ref reason, .. } if reason.contains("repeats an earlier")),
        "{err}"
    );

    let root = fake_partner(http(
        "500 Internal Server Error",
        taxii,
        r#"{"title": "Backend down", "http_status": "500"}"#,
    ))
    .await;
    let err = client.collections(&root).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Http { status: 500, ref message, .. } if message.contains("Backend down")),
        "{err}"
    );

    let root = fake_partner(http("401 Unauthorized", taxii, "{}")).await;
    let err = client.collections(&root).await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err}");

    // Nothing listens on a port just freed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client
        .collections(&format!("http://127.0.0.1:{port}/taxii2/api/"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");

    let err = client
        .collections("ftp://partner.example/api/")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidUrl(_)), "{err}");
    let err = client.collections("not a url").await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidUrl(_)), "{err}");
}

/// A self-signed P-256 certificate for 127.0.0.1 and localhost (CA:FALSE, serverAuth,
/// valid for 100 years), made with `openssl req -x509 -days 36500 -subj /CN=localhost
/// -addext subjectAltName=IP:127.0.0.1,DNS:localhost …`.
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBwDCCAWWgAwIBAgIUJats6tJ1c8yGW8fqzWdg9ghxWSwwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNTA4MDc0NVoYDzIxMjYxMTAx
MDgwNzQ1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASLsWilp97YyBIfBAscRUzrO3Nm4uBg0AHO5SnXQqx0UgYv8SXpwQzH
AF8YJO0nx0R2Nrhg4EC2snaifpLqurqwo4GSMIGPMB0GA1UdDgQWBBRtoqd/gud2
N+bSH12HZsGa8LMFVDAfBgNVHSMEGDAWgBRtoqd/gud2N+bSH12HZsGa8LMFVDAa
BgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwDAYDVR0TAQH/BAIwADAOBgNVHQ8B
Af8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwCgYIKoZIzj0EAwIDSQAwRgIh
ANnoTloulF6rzAsaiLp6aAL30iFZce6aQSwqWqoIvmKbAiEA/qgD7Zlsjn1Nrn7/
bnSP7Hgaks92mS2JZ3uaEzpnMVE=
-----END CERTIFICATE-----
";
/// Its private key (PKCS#8).
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGamhby84o9vCV7BA
Ct+03T+dpEcAD477d9M5ZuEQU6uhRANCAASLsWilp97YyBIfBAscRUzrO3Nm4uBg
0AHO5SnXQqx0UgYv8SXpwQzHAF8YJO0nx0R2Nrhg4EC2snaifpLqurqw
-----END PRIVATE KEY-----
";

/// An HTTPS partner on loopback that answers every request with one empty collection list.
async fn tls_partner() -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = http(
        "200 OK",
        "application/taxii+json;version=2.1",
        r#"{"collections": []}"#,
    )
    .unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, response) = (acceptor.clone(), response.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 16 * 1024];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://{addr}/taxii2/api/")
}

#[tokio::test]
async fn https_partners_are_trusted_through_the_roots_given() {
    use rustls::pki_types::pem::PemObject;
    let root = tls_partner().await;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(CERT_PEM.as_bytes())
        .unwrap()
        .to_vec();
    let trusting = TaxiiClient::with_config(
        admin(),
        ClientConfig {
            extra_roots: vec![der],
            ..quick()
        },
    )
    .unwrap();
    assert_eq!(trusting.collections(&root).await.unwrap(), []);

    // Mozilla's roots alone do not vouch for a self-signed certificate.
    let err = TaxiiClient::with_config(admin(), quick())
        .unwrap()
        .collections(&root)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    let err = TaxiiClient::with_config(
        admin(),
        ClientConfig {
            extra_roots: vec![b"not DER".to_vec()],
            ..quick()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidRoot { index: 0, .. }),
        "{err}"
    );
}
