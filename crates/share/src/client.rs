//! A TAXII 2.1 client: discovery, collections, pulling objects page by page, pushing an
//! envelope and waiting for its status.
//!
//! Every response is checked before it is believed: the status code, the TAXII content
//! type, that the body is JSON, and that the JSON has the shape of the resource asked for.
//! A partner that is slow, down or speaks something else yields a [`ClientError`] that
//! says which, with the URL. `https://` partners are reached with rustls and the Mozilla
//! roots (plus any roots in [`ClientConfig::extra_roots`]), as the webhook sender does.

use crate::taxii::{CollectionInfo, Status, StatusState, TAXII_MEDIA_TYPE};
use crate::timestamp::Timestamp;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How the client authenticates to a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Basic {
        user: String,
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `X-Api-Key: <key>`.
    ApiKey(String),
}

/// Limits and timings. Each setter-free field says its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Longest wait for one request, connecting and reading the body included. 30 s.
    pub request_timeout: Duration,
    /// Pause between two polls of a pending status. 1 s.
    pub poll_interval: Duration,
    /// Longest wait for an add request to complete. 60 s.
    pub poll_timeout: Duration,
    /// Largest response body read. 64 MiB.
    pub max_response_bytes: usize,
    /// DER certificates trusted besides the Mozilla roots: a partner's private CA. None.
    pub extra_roots: Vec<Vec<u8>>,
    /// Most pages followed in one pull, against a partner that never says `more: false`.
    /// 10,000.
    pub max_pages: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            request_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            poll_timeout: Duration::from_secs(60),
            max_response_bytes: 64 * 1024 * 1024,
            extra_roots: Vec::new(),
            max_pages: 10_000,
        }
    }
}

/// Why a TAXII exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{0}` is not a valid http(s) URL")]
    InvalidUrl(String),
    #[error("extra root certificate {index} is not usable: {reason}")]
    InvalidRoot { index: usize, reason: String },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("{url}: could not connect or send the request: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: no complete answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url}: the partner refused these credentials (HTTP 401)")]
    Unauthorized { url: String },
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: expected Content-Type {TAXII_MEDIA_TYPE}, got `{content_type}`")]
    WrongContentType { url: String, content_type: String },
    #[error("{url}: the response is not JSON: {message}")]
    NotJson { url: String, message: String },
    #[error("{url}: the response is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: malformed TAXII response: {reason}")]
    Malformed { url: String, reason: String },
    #[error("status `{id}` is still pending after {after:?}")]
    StillPending {
        id: String,
        after: Duration,
        /// The last status read.
        status: Box<Status>,
    },
}

/// A discovery resource, with API root URLs made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub default: Option<String>,
    pub api_roots: Vec<String>,
}

/// An API root resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiRootInfo {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub versions: Vec<String>,
    pub max_content_length: u64,
}

/// Everything a pull brought back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pull {
    /// The objects of every page, in the order served.
    pub objects: Vec<Value>,
    /// The latest `X-TAXII-Date-Added-Last` seen: pass it as `added_after` next time to
    /// get only what was added since.
    pub date_added_last: Option<Timestamp>,
    /// How many requests it took.
    pub pages: usize,
}

/// A TAXII 2.1 client for one partner's credentials. Cheap to clone.
#[derive(Clone)]
pub struct TaxiiClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    auth: Option<Auth>,
    config: ClientConfig,
}

impl std::fmt::Debug for TaxiiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out of logs.
        f.debug_struct("TaxiiClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct DiscoveryWire {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    api_roots: Vec<String>,
}

#[derive(Deserialize)]
struct CollectionsWire {
    #[serde(default)]
    collections: Vec<CollectionInfo>,
}

#[derive(Deserialize)]
struct EnvelopeWire {
    #[serde(default)]
    more: bool,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    objects: Vec<serde_json::Map<String, Value>>,
}

/// `base` with exactly one trailing slash, so paths can be appended.
fn dir(base: &str) -> String {
    format!("{}/", base.trim_end_matches('/'))
}

/// Resolves a URL from a discovery document against the discovery URL.
fn resolve(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        return url.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split('/').next().unwrap_or("");
    if url.starts_with('/') {
        format!("{scheme}://{authority}{url}")
    } else {
        format!("{}{url}", dir(base))
    }
}

impl TaxiiClient {
    /// A client with the default [`ClientConfig`].
    pub fn new(auth: Option<Auth>) -> Self {
        Self::with_config(auth, ClientConfig::default())
            .expect("the default configuration adds no roots that could be invalid")
    }

    pub fn with_config(auth: Option<Auth>, config: ClientConfig) -> Result<Self, ClientError> {
        let connector = crate::tls::https_connector(&config.extra_roots).map_err(|e| match e {
            crate::tls::TlsSetupError::InvalidRoot { index, reason } => {
                ClientError::InvalidRoot { index, reason }
            }
            crate::tls::TlsSetupError::Tls(m) => ClientError::Tls(m),
        })?;
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(TaxiiClient { http, auth, config })
    }

    /// Sends one request and returns the response headers and JSON body, checked.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(HeaderMap, Value), ClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| ClientError::InvalidUrl(url.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ClientError::InvalidUrl(url.to_string()));
        }
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, TAXII_MEDIA_TYPE);
        match &self.auth {
            Some(Auth::Basic { user, password }) => {
                let token = STANDARD.encode(format!("{user}:{password}"));
                req = req.header(header::AUTHORIZATION, format!("Basic {token}"));
            }
            Some(Auth::Bearer(t)) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Some(Auth::ApiKey(k)) => req = req.header("x-api-key", k.as_str()),
            None => {}
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, TAXII_MEDIA_TYPE);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::InvalidUrl(format!("{url}: {e}")))?;

        let limit = self.config.max_response_bytes;
        let work = async {
            let res = self
                .http
                .request(req)
                .await
                .map_err(|e| ClientError::Transport {
                    url: url.to_string(),
                    message: error_chain(&e),
                })?;
            let (parts, body) = res.into_parts();
            let bytes = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ClientError::TooLarge {
                            url: url.to_string(),
                            limit,
                        }
                    } else {
                        ClientError::Transport {
                            url: url.to_string(),
                            message: e.to_string(),
                        }
                    }
                })?
                .to_bytes();
            Ok::<_, ClientError>((parts, bytes))
        };
        let (parts, bytes) = tokio::time::timeout(self.config.request_timeout, work)
            .await
            .map_err(|_| ClientError::Timeout {
                url: url.to_string(),
                after: self.config.request_timeout,
            })??;

        if parts.status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized {
                url: url.to_string(),
            });
        }
        if !parts.status.is_success() {
            // A TAXII error body says why; anything else is shown as a short excerpt.
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| {
                    let title = v.get("title")?.as_str()?.to_string();
                    Some(match v.get("description").and_then(Value::as_str) {
                        Some(d) => format!("{title}: {d}"),
                        None => title,
                    })
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            return Err(ClientError::Http {
                url: url.to_string(),
                status: parts.status.as_u16(),
                message,
            });
        }
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !is_taxii_21(&content_type) {
            return Err(ClientError::WrongContentType {
                url: url.to_string(),
                content_type,
            });
        }
        let json = serde_json::from_slice(&bytes).map_err(|e| ClientError::NotJson {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        Ok((parts.headers, json))
    }

    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
    ) -> Result<(HeaderMap, T), ClientError> {
        let (headers, json) = self.exchange(Method::GET, url, None).await?;
        Ok((headers, shape(url, json)?))
    }

    /// The discovery resource at `url` (usually `https://host/taxii2/`).
    pub async fn discovery(&self, url: &str) -> Result<Discovery, ClientError> {
        let (_, d): (_, DiscoveryWire) = self.get(url).await?;
        Ok(Discovery {
            title: d.title,
            description: d.description,
            contact: d.contact,
            default: d.default.map(|u| resolve(url, &u)),
            api_roots: d.api_roots.iter().map(|u| resolve(url, u)).collect(),
        })
    }

    /// The API root resource.
    pub async fn api_root(&self, api_root: &str) -> Result<ApiRootInfo, ClientError> {
        Ok(self.get(&dir(api_root)).await?.1)
    }

    /// The collections these credentials see under an API root.
    pub async fn collections(&self, api_root: &str) -> Result<Vec<CollectionInfo>, ClientError> {
        let url = format!("{}collections/", dir(api_root));
        let (_, c): (_, CollectionsWire) = self.get(&url).await?;
        Ok(c.collections)
    }

    /// Every object of a collection added after `added_after`, following `next` (or, for
    /// servers that page without it, `X-TAXII-Date-Added-Last`) until `more` is false.
    /// `limit` is the page size asked for; the server may give fewer.
    pub async fn get_objects(
        &self,
        api_root: &str,
        collection_id: &str,
        added_after: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Result<Pull, ClientError> {
        let base = format!("{}collections/{collection_id}/objects/", dir(api_root));
        let mut pull = Pull::default();
        let mut after = added_after;
        let mut next: Option<String> = None;
        let mut tokens = HashSet::new();
        loop {
            // Built in a block: the serializer is not `Send` and must not live across an await.
            let q = {
                let mut q = form_urlencoded::Serializer::new(String::new());
                if let Some(t) = after {
                    q.append_pair("added_after", &t.to_string());
                }
                if let Some(l) = limit {
                    q.append_pair("limit", &l.to_string());
                }
                if let Some(n) = &next {
                    q.append_pair("next", n);
                }
                q.finish()
            };
            let url = if q.is_empty() {
                base.clone()
            } else {
                format!("{base}?{q}")
            };
            let (headers, env): (_, EnvelopeWire) = self.get(&url).await?;
            let malformed = |reason: &str| ClientError::Malformed {
                url: url.clone(),
                reason: reason.to_string(),
            };
            pull.pages += 1;
            let page_last = date_header(&url, &headers, "x-taxii-date-added-last")?;
            if page_last > pull.date_added_last {
                pull.date_added_last = page_last;
            }
            let page_objects = env.objects.len();
            pull.objects
                .extend(env.objects.into_iter().map(Value::Object));
            if !env.more {
                return Ok(pull);
            }
            if pull.pages >= self.config.max_pages {
                return Err(malformed("more pages than the client's max_pages"));
            }
            match env.next {
                Some(n) => {
                    // Servers may reuse one token for a whole paging session (medallion
                    // does); only an empty page that repeats it is a server going nowhere.
                    if !tokens.insert(n.clone()) && page_objects == 0 {
                        return Err(malformed("an empty page repeats an earlier `next` token"));
                    }
                    next = Some(n);
                }
                None => {
                    // TAXII 2.0-style paging: continue after the last object's date.
                    let Some(last) = page_last else {
                        return Err(malformed(
                            "`more` is true but there is neither `next` nor X-TAXII-Date-Added-Last",
                        ));
                    };
                    if after.is_some_and(|a| a >= last) {
                        return Err(malformed("paging by date makes no progress"));
                    }
                    after = Some(last);
                }
            }
        }
    }

    /// Posts an envelope (`{"objects": [...]}`) or bundle to a collection, then polls its
    /// status until it is complete. Per-object failures are in the returned status.
    pub async fn add_objects(
        &self,
        api_root: &str,
        collection_id: &str,
        envelope: &Value,
    ) -> Result<Status, ClientError> {
        let url = format!("{}collections/{collection_id}/objects/", dir(api_root));
        let body = serde_json::to_vec(envelope).map_err(|e| ClientError::Malformed {
            url: url.clone(),
            reason: format!("the envelope cannot be written: {e}"),
        })?;
        let (_, json) = self.exchange(Method::POST, &url, Some(body)).await?;
        let mut status: Status = shape(&url, json)?;
        let start = Instant::now();
        while status.status == StatusState::Pending {
            if start.elapsed() >= self.config.poll_timeout {
                return Err(ClientError::StillPending {
                    id: status.id.clone(),
                    after: self.config.poll_timeout,
                    status: Box::new(status),
                });
            }
            tokio::time::sleep(self.config.poll_interval).await;
            status = self.status(api_root, &status.id).await?;
        }
        Ok(status)
    }

    /// One read of a status resource.
    pub async fn status(&self, api_root: &str, status_id: &str) -> Result<Status, ClientError> {
        let url = format!("{}status/{status_id}/", dir(api_root));
        Ok(self.get(&url).await?.1)
    }
}

/// Whether a Content-Type is TAXII JSON of version 2.1 (a missing version is read as 2.1).
fn is_taxii_21(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let ty = parts.next().unwrap_or("").trim();
    ty.eq_ignore_ascii_case("application/taxii+json")
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("version") => {
                v.trim().trim_matches('"') == "2.1"
            }
            _ => true,
        })
}

fn shape<T: for<'de> Deserialize<'de>>(url: &str, json: Value) -> Result<T, ClientError> {
    serde_json::from_value(json).map_err(|e| ClientError::Malformed {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

fn date_header(
    url: &str,
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<Timestamp>, ClientError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    Timestamp::parse(text)
        .map(Some)
        .map_err(|e| ClientError::Malformed {
            url: url.to_string(),
            reason: format!("{name}: {e}"),
        })
}

/// An error and its causes on one line: hyper's own message alone ("client error
/// (Connect)") does not say that the connection was refused.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Some layers repeat their cause's message in their own.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_urls_resolve_against_the_discovery_url() {
        let base = "http://127.0.0.1:5000/taxii2/";
        assert_eq!(resolve(base, "/api1/"), "http://127.0.0.1:5000/api1/");
        assert_eq!(resolve(base, "api1/"), "http://127.0.0.1:5000/taxii2/api1/");
        assert_eq!(resolve(base, "http://other:1/r/"), "http://other:1/r/");
    }

    #[test]
    fn only_taxii_21_json_is_accepted() {
        assert!(is_taxii_21("application/taxii+json;version=2.1"));
        assert!(is_taxii_21(
            "application/taxii+json; version=2.1; charset=utf-8"
        ));
        assert!(is_taxii_21("application/taxii+json"));
        assert!(!is_taxii_21("application/taxii+json;version=2.0"));
        assert!(!is_taxii_21("application/json"));
        assert!(!is_taxii_21("text/html"));
    }
}
