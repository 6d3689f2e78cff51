//! The TAXII 2.1 HTTP server: routes, authentication, content negotiation, errors.

use super::{
    BackendError, CollectionInfo, Credentials, ObjectQuery, Page, TaxiiBackend, VersionSelector,
    STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE,
};
use crate::stix::objects_of;
use crate::timestamp::Timestamp;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::Arc;

/// How the TAXII server presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiConfig {
    /// Discovery `title`.
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    /// The API root's path segment: the root is served at `/taxii2/{api_root}/`.
    /// Default `api`.
    pub api_root: String,
    /// The API root's `title`.
    pub api_root_title: String,
    /// Largest request body accepted, advertised as `max_content_length`. Default 10 MiB.
    pub max_content_length: usize,
    /// Most objects in one page, whatever `limit` asks. Default 1,000.
    pub max_page_size: usize,
    /// Scheme, host and port that clients reach the server at (`https://share.example`),
    /// used for the absolute URLs in discovery. `None`: `http://` and the request's
    /// `Host` header.
    pub base_url: Option<String>,
}

impl Default for TaxiiConfig {
    fn default() -> Self {
        TaxiiConfig {
            title: "Breakwater TAXII server".to_string(),
            description: Some("Signals of organised-immigration-crime content".to_string()),
            contact: None,
            api_root: "api".to_string(),
            api_root_title: "Breakwater signals".to_string(),
            max_content_length: 10 * 1024 * 1024,
            max_page_size: 1000,
            base_url: None,
        }
    }
}

struct Shared<B> {
    backend: B,
    config: TaxiiConfig,
}

type AppState<B> = State<Arc<Shared<B>>>;

/// The TAXII 2.1 routes: discovery at `/taxii2/` and the API root at
/// `/taxii2/{api_root}/`. Every route answers with and without its trailing slash.
pub fn router<B: TaxiiBackend>(backend: B, config: TaxiiConfig) -> Router {
    let root = format!("/taxii2/{}", config.api_root.trim_matches('/'));
    let shared = Arc::new(Shared { backend, config });
    let routes: Vec<(String, MethodRouter<Arc<Shared<B>>>)> = vec![
        ("/taxii2".to_string(), get(discovery::<B>)),
        (root.clone(), get(api_root::<B>)),
        (format!("{root}/collections"), get(collections::<B>)),
        (
            format!("{root}/collections/{{collection}}"),
            get(collection::<B>),
        ),
        (
            format!("{root}/collections/{{collection}}/objects"),
            get(get_objects::<B>).post(add_objects::<B>),
        ),
        (
            format!("{root}/collections/{{collection}}/objects/{{object}}"),
            get(get_object::<B>),
        ),
        (
            format!("{root}/collections/{{collection}}/objects/{{object}}/versions"),
            get(versions::<B>),
        ),
        (
            format!("{root}/collections/{{collection}}/manifest"),
            get(manifest::<B>),
        ),
        (format!("{root}/status/{{status}}"), get(status::<B>)),
    ];
    let mut r = Router::new();
    for (path, method) in routes {
        // taxii2-client polls status without the slash the specification writes; other
        // clients trim or add it elsewhere. Registering both is simpler than rewriting.
        r = r
            .route(&format!("{path}/"), method.clone())
            .route(&path, method);
    }
    r.with_state(shared)
}

/// An error as TAXII renders it: `{title, description, http_status, error_code}`.
#[derive(Debug)]
struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
}

impl TaxiiError {
    fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title,
            description: description.into(),
        }
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send HTTP Basic credentials, `Authorization: Bearer <key>` or `X-Api-Key`",
        )
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", description)
    }

    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("{what} not found"),
        )
    }
}

impl From<BackendError> for TaxiiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::InvalidCursor | BackendError::BadRequest(_) => {
                TaxiiError::bad_request(e.to_string())
            }
            BackendError::NotFound => TaxiiError::not_found("resource"),
            BackendError::Internal(detail) => {
                // The detail goes to the log, never to the partner.
                eprintln!(
                    "{}",
                    json!({"level": "error", "component": "taxii", "error": detail})
                );
                TaxiiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "the server could not complete the request",
                )
            }
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let code = self.title.to_ascii_lowercase().replace(' ', "_");
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_str(),
            "error_code": code,
        });
        let mut res = taxii_response(self.status, &body, None);
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"TAXII\", Bearer"),
            );
        }
        res
    }
}

type Result<T> = std::result::Result<T, TaxiiError>;

/// A TAXII JSON response, with the date-added headers of a page of objects.
fn taxii_response(status: StatusCode, body: &Value, page: Option<&Page>) -> Response {
    let mut res = (status, body.to_string()).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TAXII_MEDIA_TYPE),
    );
    if let Some(page) = page {
        let added = page.objects.iter().map(|o| o.date_added);
        if let (Some(first), Some(last)) = (added.clone().min(), added.max()) {
            for (name, t) in [
                ("x-taxii-date-added-first", first),
                ("x-taxii-date-added-last", last),
            ] {
                if let Ok(v) = HeaderValue::from_str(&t.to_string()) {
                    headers.insert(name, v);
                }
            }
        }
    }
    res
}

/// The credentials in a request: Basic or Bearer in `Authorization`, or `X-Api-Key`.
fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, value) = auth.trim().split_once(' ')?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = String::from_utf8(STANDARD.decode(value).ok()?).ok()?;
            let (user, password) = decoded.split_once(':')?;
            return Some(Credentials::Basic {
                user: user.to_string(),
                password: password.to_string(),
            });
        }
        if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            return Some(Credentials::ApiKey(value.to_string()));
        }
        return None;
    }
    let key = headers.get("x-api-key")?.to_str().ok()?.trim();
    (!key.is_empty()).then(|| Credentials::ApiKey(key.to_string()))
}

async fn authenticate<B: TaxiiBackend>(s: &Shared<B>, headers: &HeaderMap) -> Result<B::Principal> {
    let creds = credentials(headers).ok_or_else(TaxiiError::unauthorized)?;
    s.backend
        .authenticate(&creds)
        .await?
        .ok_or_else(TaxiiError::unauthorized)
}

/// A media type and its parameters, lower-cased: `application/taxii+json;version=2.1`.
fn media_type(s: &str) -> (String, Option<String>) {
    let mut parts = s.split(';');
    let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let version = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("version")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    (ty, version)
}

/// 406 unless `Accept` allows TAXII 2.1 JSON (an absent header allows anything).
fn check_accept(headers: &HeaderMap) -> Result<()> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("");
    let ok = accept.split(',').any(|range| {
        let (ty, version) = media_type(range);
        matches!(
            ty.as_str(),
            "*/*" | "application/*" | "application/taxii+json"
        ) && version.as_deref().is_none_or(|v| v == "2.1")
    });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!(
                "this server answers with {TAXII_MEDIA_TYPE}, which `Accept: {accept}` refuses"
            ),
        ))
    }
}

/// 415 unless the body is a TAXII envelope or a STIX bundle, version 2.1.
fn check_content_type(headers: &HeaderMap) -> Result<()> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (ty, version) = media_type(ct);
    let ok = matches!(
        ty.as_str(),
        "application/taxii+json" | "application/stix+json"
    ) && version.as_deref().is_none_or(|v| v == "2.1");
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("send {TAXII_MEDIA_TYPE} or {STIX_MEDIA_TYPE}, not `{ct}`"),
        ))
    }
}

/// Authentication first, so that nothing (not even a 406) is said to a stranger.
async fn begin<B: TaxiiBackend>(s: &Shared<B>, headers: &HeaderMap) -> Result<B::Principal> {
    let who = authenticate(s, headers).await?;
    check_accept(headers)?;
    Ok(who)
}

async fn find_collection<B: TaxiiBackend>(
    s: &Shared<B>,
    who: &B::Principal,
    id: &str,
) -> Result<CollectionInfo> {
    s.backend
        .collections(who)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| TaxiiError::not_found(&format!("collection `{id}`")))
}

fn forbidden(what: &str) -> TaxiiError {
    TaxiiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!("these credentials may not {what} this collection"),
    )
}

async fn readable<B: TaxiiBackend>(
    s: &Shared<B>,
    who: &B::Principal,
    id: &str,
) -> Result<CollectionInfo> {
    let c = find_collection(s, who, id).await?;
    if c.can_read {
        Ok(c)
    } else {
        Err(forbidden("read"))
    }
}

fn api_root_url<B>(s: &Shared<B>, headers: &HeaderMap) -> String {
    let path = format!("/taxii2/{}/", s.config.api_root.trim_matches('/'));
    let base = match &s.config.base_url {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => format!("http://{host}"),
            // No host to name: a relative URL still resolves against the discovery URL.
            None => String::new(),
        },
    };
    format!("{base}{path}")
}

async fn discovery<B: TaxiiBackend>(State(s): AppState<B>, headers: HeaderMap) -> Result<Response> {
    begin(&s, &headers).await?;
    let root = api_root_url(&s, &headers);
    let mut body = json!({
        "title": s.config.title,
        "default": root,
        "api_roots": [root],
    });
    if let Some(d) = &s.config.description {
        body["description"] = d.clone().into();
    }
    if let Some(c) = &s.config.contact {
        body["contact"] = c.clone().into();
    }
    Ok(taxii_response(StatusCode::OK, &body, None))
}

async fn api_root<B: TaxiiBackend>(State(s): AppState<B>, headers: HeaderMap) -> Result<Response> {
    begin(&s, &headers).await?;
    let body = json!({
        "title": s.config.api_root_title,
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": s.config.max_content_length,
    });
    Ok(taxii_response(StatusCode::OK, &body, None))
}

async fn collections<B: TaxiiBackend>(
    State(s): AppState<B>,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    let list = s.backend.collections(&who).await?;
    Ok(taxii_response(
        StatusCode::OK,
        &json!({ "collections": list }),
        None,
    ))
}

async fn collection<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    let c = find_collection(&s, &who, &id).await?;
    Ok(taxii_response(StatusCode::OK, &json!(c), None))
}

/// Reads TAXII's query parameters; which filters an endpoint allows is `allowed`.
fn parse_query(raw: Option<&str>, max_page_size: usize, allowed: &[&str]) -> Result<ObjectQuery> {
    let mut q = ObjectQuery {
        limit: max_page_size,
        ..Default::default()
    };
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let stamp = |name: &str, v: &str| {
        Timestamp::parse(v).map_err(|e| TaxiiError::bad_request(format!("`{name}`: {e}")))
    };
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let name = k.as_ref();
        if name.starts_with("match[") && !allowed.contains(&name) {
            // Ignoring a filter would answer with more than was asked for.
            return Err(TaxiiError::bad_request(format!(
                "filter `{name}` is not supported here"
            )));
        }
        match name {
            "added_after" => q.added_after = Some(stamp(name, &v)?),
            "limit" => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| TaxiiError::bad_request("`limit` must be a whole number"))?;
                // 0 is what some clients send for "the server's default".
                if n > 0 {
                    q.limit = n.min(max_page_size);
                }
            }
            "next" if !v.is_empty() => q.next = Some(v.into_owned()),
            "match[id]" => q.ids = list(&v),
            "match[type]" => q.types = list(&v),
            "match[spec_version]" => q.spec_versions = list(&v),
            "match[version]" => {
                q.versions = list(&v)
                    .iter()
                    .map(|s| match s.as_str() {
                        "first" => Ok(VersionSelector::First),
                        "last" => Ok(VersionSelector::Last),
                        "all" => Ok(VersionSelector::All),
                        t => stamp(name, t).map(VersionSelector::At),
                    })
                    .collect::<Result<_>>()?;
            }
            // Unknown parameters are not filters; TAXII lets servers ignore them.
            _ => {}
        }
    }
    Ok(q)
}

const OBJECT_FILTERS: &[&str] = &[
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
];

fn envelope(page: &Page) -> Value {
    let mut body = json!({
        "more": page.more,
        "objects": page.objects.iter().map(|o| &o.object).collect::<Vec<_>>(),
    });
    if let Some(n) = &page.next {
        body["next"] = n.clone().into();
    }
    body
}

async fn get_objects<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    readable(&s, &who, &collection).await?;
    let q = parse_query(raw.as_deref(), s.config.max_page_size, OBJECT_FILTERS)?;
    let page = s.backend.get_objects(&who, &collection, &q).await?;
    Ok(taxii_response(
        StatusCode::OK,
        &envelope(&page),
        Some(&page),
    ))
}

async fn get_object<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path((collection, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    readable(&s, &who, &collection).await?;
    let mut q = parse_query(
        raw.as_deref(),
        s.config.max_page_size,
        &["match[version]", "match[spec_version]"],
    )?;
    q.ids = vec![object.clone()];
    let page = s.backend.get_objects(&who, &collection, &q).await?;
    if page.objects.is_empty() && q.next.is_none() {
        return Err(TaxiiError::not_found(&format!("object `{object}`")));
    }
    Ok(taxii_response(
        StatusCode::OK,
        &envelope(&page),
        Some(&page),
    ))
}

async fn versions<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path((collection, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    readable(&s, &who, &collection).await?;
    let mut q = parse_query(
        raw.as_deref(),
        s.config.max_page_size,
        &["match[spec_version]"],
    )?;
    q.ids = vec![object.clone()];
    q.versions = vec![VersionSelector::All];
    let page = s.backend.get_objects(&who, &collection, &q).await?;
    if page.objects.is_empty() && q.next.is_none() {
        return Err(TaxiiError::not_found(&format!("object `{object}`")));
    }
    let mut body = json!({
        "more": page.more,
        "versions": page.objects.iter().map(|o| o.version.to_string()).collect::<Vec<_>>(),
    });
    if let Some(n) = &page.next {
        body["next"] = n.clone().into();
    }
    Ok(taxii_response(StatusCode::OK, &body, Some(&page)))
}

async fn manifest<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    readable(&s, &who, &collection).await?;
    let q = parse_query(raw.as_deref(), s.config.max_page_size, OBJECT_FILTERS)?;
    let page = s.backend.get_objects(&who, &collection, &q).await?;
    let entries: Vec<Value> = page
        .objects
        .iter()
        .map(|o| {
            json!({
                "id": o.id,
                "date_added": o.date_added,
                "version": o.version,
                "media_type": STIX_MEDIA_TYPE,
            })
        })
        .collect();
    let mut body = json!({ "more": page.more, "objects": entries });
    if let Some(n) = &page.next {
        body["next"] = n.clone().into();
    }
    Ok(taxii_response(StatusCode::OK, &body, Some(&page)))
}

async fn add_objects<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    check_content_type(&headers)?;
    let c = find_collection(&s, &who, &collection).await?;
    if !c.can_write {
        return Err(forbidden("write to"));
    }
    let max = s.config.max_content_length;
    let too_large = || {
        TaxiiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload too large",
            format!("the body is larger than max_content_length ({max} bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    // A chunked body has no declared length; the limit applies while it is read.
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TaxiiError::bad_request(format!("the body is not JSON: {e}")))?;
    let objects = objects_of(&doc)
        .map_err(|e| TaxiiError::bad_request(e.to_string()))?
        .to_vec();
    let status = s.backend.add_objects(&who, &collection, objects).await?;
    Ok(taxii_response(StatusCode::ACCEPTED, &json!(status), None))
}

async fn status<B: TaxiiBackend>(
    State(s): AppState<B>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let who = begin(&s, &headers).await?;
    let status = s
        .backend
        .status(&who, &id)
        .await?
        .ok_or_else(|| TaxiiError::not_found(&format!("status `{id}`")))?;
    Ok(taxii_response(StatusCode::OK, &json!(status), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_filters_and_cap_the_limit() {
        let q = parse_query(
            Some("match%5Bid%5D=a,b&match[version]=first,2020-01-01T00:00:00Z&limit=5000&added_after=2021-01-01T00:00:00.5Z&next=abc"),
            100,
            OBJECT_FILTERS,
        )
        .unwrap();
        assert_eq!(q.ids, ["a", "b"]);
        assert_eq!(q.limit, 100);
        assert_eq!(q.next.as_deref(), Some("abc"));
        assert_eq!(q.versions.len(), 2);
        assert!(q.added_after.is_some());
        assert!(parse_query(Some("limit=x"), 10, OBJECT_FILTERS).is_err());
        assert!(parse_query(Some("added_after=yesterday"), 10, OBJECT_FILTERS).is_err());
        assert!(parse_query(Some("match[version]=newest"), 10, OBJECT_FILTERS).is_err());
        assert!(parse_query(Some("match[type]=indicator"), 10, &["match[spec_version]"]).is_err());
    }

    #[test]
    fn credentials_come_from_basic_bearer_or_api_key_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46UGFzc3dvcmQw"),
        );
        assert_eq!(
            credentials(&h),
            Some(Credentials::Basic {
                user: "admin".into(),
                password: "Password0".into()
            })
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k1"));
        assert_eq!(credentials(&h), Some(Credentials::ApiKey("k1".into())));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(credentials(&h), Some(Credentials::ApiKey("k2".into())));
        assert_eq!(credentials(&HeaderMap::new()), None);
    }
}
