//! TAXII 2.1: the resources both sides speak, the backend a server needs, and the server.
//!
//! [`router`] serves discovery, one API root, its collections, objects (get, add, by id,
//! versions), manifests and status over any [`TaxiiBackend`]. The backend owns users,
//! collections and storage; the router owns HTTP: authentication headers, content
//! negotiation, query parsing, paging headers, size limits and TAXII error bodies.
//! [`select`] applies a query to objects held in memory, so a simple backend does not
//! write TAXII's filter rules again; [`MemoryBackend`] is such a backend.

mod memory;
mod server;

pub use memory::MemoryBackend;
pub use server::{router, TaxiiConfig};

use crate::stix::{check_id, StixError};
use crate::timestamp::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;

/// The media type of every TAXII 2.1 resource.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The media type of STIX 2.1 content (manifest entries, collections' `media_types`).
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// What a client presented to prove who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: `Authorization: Basic base64(user:password)`.
    Basic { user: String, password: String },
    /// An API key: `Authorization: Bearer <key>` or `X-Api-Key: <key>`.
    ApiKey(String),
}

/// A collection as one principal sees it (the TAXII collection resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionInfo {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
    #[serde(default)]
    pub media_types: Vec<String>,
}

impl CollectionInfo {
    /// A collection of STIX 2.1 objects.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        can_read: bool,
        can_write: bool,
    ) -> Self {
        CollectionInfo {
            id: id.into(),
            title: title.into(),
            description: None,
            alias: None,
            can_read,
            can_write,
            media_types: vec![STIX_MEDIA_TYPE.to_string()],
        }
    }
}

/// One version of one object in a collection, with what TAXII filters and pages on.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub id: String,
    pub object_type: String,
    pub spec_version: String,
    /// `modified`, else `created`, else `date_added` (TAXII's rule for an object's version).
    pub version: Timestamp,
    /// When this version entered the collection.
    pub date_added: Timestamp,
    pub object: Value,
}

impl StoredObject {
    /// Reads the TAXII-relevant properties of a STIX object added at `date_added`.
    pub fn new(object: Value, date_added: Timestamp) -> Result<StoredObject, StixError> {
        let o = object.as_object().ok_or(StixError::NotAnObject)?;
        let str_of = |key: &'static str| match o.get(key) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None => Ok(None),
            Some(_) => Err(StixError::WrongType {
                property: key.to_string(),
                expected: "a string",
            }),
        };
        let object_type = str_of("type")?.ok_or(StixError::Missing("type"))?;
        let id = str_of("id")?.ok_or(StixError::Missing("id"))?;
        check_id(&id, Some(&object_type))?;
        // Cyber observables may leave spec_version out; it then means this version.
        let spec_version = str_of("spec_version")?.unwrap_or_else(|| "2.1".to_string());
        let stamp = |key: &'static str| -> Result<Option<Timestamp>, StixError> {
            str_of(key)?
                .map(|s| {
                    Timestamp::parse(&s).map_err(|error| StixError::BadTimestamp {
                        property: key,
                        error,
                    })
                })
                .transpose()
        };
        let version = match stamp("modified")? {
            Some(m) => m,
            None => stamp("created")?.unwrap_or(date_added),
        };
        Ok(StoredObject {
            id,
            object_type,
            spec_version,
            version,
            date_added,
            object,
        })
    }
}

/// Which versions of each object a query wants (`match[version]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    First,
    Last,
    All,
    At(Timestamp),
}

/// A query for objects of one collection: TAXII's filters and paging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectQuery {
    /// Only versions added after this instant (`added_after`).
    pub added_after: Option<Timestamp>,
    /// Only these ids (`match[id]`); empty: any.
    pub ids: Vec<String>,
    /// Only these types (`match[type]`); empty: any.
    pub types: Vec<String>,
    /// Which versions (`match[version]`); empty: the last one, as TAXII defaults.
    pub versions: Vec<VersionSelector>,
    /// Only these STIX versions (`match[spec_version]`); empty: any.
    pub spec_versions: Vec<String>,
    /// At most this many per page (the router has already capped it).
    pub limit: usize,
    /// Where the previous page stopped (`next`), as [`Page::next`] gave it.
    pub next: Option<String>,
}

impl Default for ObjectQuery {
    fn default() -> Self {
        ObjectQuery {
            added_after: None,
            ids: Vec::new(),
            types: Vec::new(),
            versions: Vec::new(),
            spec_versions: Vec::new(),
            limit: 100,
            next: None,
        }
    }
}

/// One page of objects, in `date_added` order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub objects: Vec<StoredObject>,
    /// Whether more objects match after this page.
    pub more: bool,
    /// The cursor for the next page, when `more`.
    pub next: Option<String>,
}

/// The state of a request to add objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    Pending,
    Complete,
}

/// What happened to one object of an add request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetail {
    pub id: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The TAXII status resource of an add request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    pub status: StatusState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timestamp: Option<Timestamp>,
    pub total_count: u64,
    pub success_count: u64,
    #[serde(default)]
    pub successes: Vec<StatusDetail>,
    pub failure_count: u64,
    #[serde(default)]
    pub failures: Vec<StatusDetail>,
    pub pending_count: u64,
    #[serde(default)]
    pub pendings: Vec<StatusDetail>,
}

impl Status {
    /// A status whose counts agree with its lists: complete when nothing is pending.
    pub fn from_details(
        id: impl Into<String>,
        request_timestamp: Timestamp,
        successes: Vec<StatusDetail>,
        failures: Vec<StatusDetail>,
        pendings: Vec<StatusDetail>,
    ) -> Status {
        let count = |v: &Vec<StatusDetail>| v.len() as u64;
        Status {
            id: id.into(),
            status: if pendings.is_empty() {
                StatusState::Complete
            } else {
                StatusState::Pending
            },
            request_timestamp: Some(request_timestamp),
            total_count: count(&successes) + count(&failures) + count(&pendings),
            success_count: count(&successes),
            failure_count: count(&failures),
            pending_count: count(&pendings),
            successes,
            failures,
            pendings,
        }
    }
}

/// Why a backend could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The `next` cursor was not one this backend gave out (answered with 400).
    #[error("the `next` parameter is not a cursor this server gave out")]
    InvalidCursor,
    /// The request asks for something the backend cannot do (answered with 400).
    #[error("{0}")]
    BadRequest(String),
    /// The collection or status does not exist for this principal (answered with 404).
    #[error("not found")]
    NotFound,
    /// The backend failed; the message is logged, not shown (answered with 500).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the TAXII server needs from the application behind it.
///
/// Every method gets the principal that [`TaxiiBackend::authenticate`] returned, and shows
/// only what that principal may see. Futures must be `Send`: `async fn` in an impl works.
pub trait TaxiiBackend: Clone + Send + Sync + 'static {
    /// Who is calling, as the backend understands it (a user, an API key's organisation).
    type Principal: Send + Sync + 'static;

    /// The principal these credentials belong to, or `None` when they are wrong.
    fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<Option<Self::Principal>, BackendError>> + Send;

    /// The collections the principal may see, with what it may do in each.
    fn collections(
        &self,
        principal: &Self::Principal,
    ) -> impl Future<Output = Result<Vec<CollectionInfo>, BackendError>> + Send;

    /// A page of objects of a readable collection. [`select`] implements the query over
    /// objects in memory.
    fn get_objects(
        &self,
        principal: &Self::Principal,
        collection_id: &str,
        query: &ObjectQuery,
    ) -> impl Future<Output = Result<Page, BackendError>> + Send;

    /// Adds the objects of an envelope to a writable collection. The returned status may
    /// be pending; [`TaxiiBackend::status`] then reports its progress.
    fn add_objects(
        &self,
        principal: &Self::Principal,
        collection_id: &str,
        objects: Vec<Value>,
    ) -> impl Future<Output = Result<Status, BackendError>> + Send;

    /// A status the principal may see, or `None`.
    fn status(
        &self,
        principal: &Self::Principal,
        status_id: &str,
    ) -> impl Future<Output = Result<Option<Status>, BackendError>> + Send;
}

/// The position of a version in `date_added` order; paging resumes after it.
type Key = (Timestamp, String, Timestamp);

fn key_of(o: &StoredObject) -> Key {
    (o.date_added, o.id.clone(), o.version)
}

fn encode_cursor(k: &Key) -> String {
    let raw = format!(
        "{}.{}|{}.{}|{}",
        k.0.unix_seconds(),
        k.0.subsec_nanos(),
        k.2.unix_seconds(),
        k.2.subsec_nanos(),
        k.1
    );
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(s: &str) -> Option<Key> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let mut parts = raw.splitn(3, '|');
    let stamp = |p: &str| -> Option<Timestamp> {
        let (secs, nanos) = p.split_once('.')?;
        Some(Timestamp::from_unix(
            secs.parse().ok()?,
            nanos.parse().ok()?,
        ))
    };
    let added = stamp(parts.next()?)?;
    let version = stamp(parts.next()?)?;
    let id = parts.next()?.to_string();
    Some((added, id, version))
}

/// Applies `query` to the versions of a collection's objects, held in memory.
///
/// Versions are chosen among all versions of each object (so `first` is the object's
/// first version even when it was added before `added_after`), then `added_after` and
/// the cursor apply. Pages are in (`date_added`, id, version) order, and the cursor is
/// that key, so objects added while a client pages do not shift its pages.
pub fn select<'a>(
    objects: impl IntoIterator<Item = &'a StoredObject>,
    query: &ObjectQuery,
) -> Result<Page, BackendError> {
    let after = match &query.next {
        Some(n) => Some(decode_cursor(n).ok_or(BackendError::InvalidCursor)?),
        None => None,
    };
    let mut by_id: BTreeMap<&str, Vec<&StoredObject>> = BTreeMap::new();
    for o in objects {
        let wanted = (query.ids.is_empty() || query.ids.contains(&o.id))
            && (query.types.is_empty() || query.types.contains(&o.object_type))
            && (query.spec_versions.is_empty() || query.spec_versions.contains(&o.spec_version));
        if wanted {
            by_id.entry(&o.id).or_default().push(o);
        }
    }
    let selectors: &[VersionSelector] = if query.versions.is_empty() {
        &[VersionSelector::Last]
    } else {
        &query.versions
    };
    let mut chosen: Vec<&StoredObject> = Vec::new();
    for versions in by_id.values_mut() {
        versions.sort_by_key(|o| (o.version, o.date_added));
        let mut keep = vec![false; versions.len()];
        for s in selectors {
            match s {
                VersionSelector::All => keep.iter_mut().for_each(|k| *k = true),
                VersionSelector::First => keep[0] = true,
                VersionSelector::Last => *keep.last_mut().expect("a group is never empty") = true,
                VersionSelector::At(t) => {
                    for (k, o) in keep.iter_mut().zip(versions.iter()) {
                        *k |= o.version == *t;
                    }
                }
            }
        }
        chosen.extend(
            versions
                .iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(o, _)| *o),
        );
    }
    chosen.retain(|o| query.added_after.is_none_or(|t| o.date_added > t));
    chosen.sort_by_key(|o| key_of(o));
    if let Some(after) = &after {
        chosen.retain(|o| key_of(o) > *after);
    }
    let limit = query.limit.max(1);
    let more = chosen.len() > limit;
    chosen.truncate(limit);
    let next = if more {
        chosen.last().map(|o| encode_cursor(&key_of(o)))
    } else {
        None
    };
    Ok(Page {
        objects: chosen.into_iter().cloned().collect(),
        more,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn obj(n: u32, modified: &str, added: &str) -> StoredObject {
        let o = json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": "2020-01-01T00:00:00.000Z",
            "modified": modified,
        });
        StoredObject::new(o, ts(added)).unwrap()
    }

    fn ids(p: &Page) -> Vec<String> {
        p.objects
            .iter()
            .map(|o| format!("{}@{}", &o.id[o.id.len() - 1..], o.version))
            .collect()
    }

    #[test]
    fn versions_are_chosen_per_object_and_pages_resume_after_the_cursor() {
        let objects = vec![
            obj(1, "2020-01-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z"),
            obj(2, "2020-01-01T00:00:00.000Z", "2021-01-02T00:00:00.000Z"),
            obj(1, "2020-06-01T00:00:00.000Z", "2021-01-03T00:00:00.000Z"),
            obj(3, "2020-01-01T00:00:00.000Z", "2021-01-04T00:00:00.000Z"),
        ];
        let q = |versions: Vec<VersionSelector>| ObjectQuery {
            versions,
            limit: 10,
            ..Default::default()
        };
        let last = select(&objects, &q(vec![])).unwrap();
        assert_eq!(
            ids(&last),
            [
                "2@2020-01-01T00:00:00.000Z",
                "1@2020-06-01T00:00:00.000Z",
                "3@2020-01-01T00:00:00.000Z"
            ]
        );
        let first = select(&objects, &q(vec![VersionSelector::First])).unwrap();
        assert_eq!(ids(&first)[0], "1@2020-01-01T00:00:00.000Z");
        assert_eq!(
            select(&objects, &q(vec![VersionSelector::All]))
                .unwrap()
                .objects
                .len(),
            4
        );
        let at = select(
            &objects,
            &q(vec![VersionSelector::At(ts("2020-06-01T00:00:00Z"))]),
        )
        .unwrap();
        assert_eq!(ids(&at), ["1@2020-06-01T00:00:00.000Z"]);

        // Paging two at a time over all versions visits each exactly once.
        let mut query = ObjectQuery {
            versions: vec![VersionSelector::All],
            limit: 2,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = select(&objects, &query).unwrap();
            seen.extend(ids(&page));
            if !page.more {
                assert!(page.next.is_none());
                break;
            }
            query.next = page.next;
        }
        assert_eq!(seen.len(), 4);

        let after = ObjectQuery {
            added_after: Some(ts("2021-01-02T00:00:00Z")),
            versions: vec![VersionSelector::All],
            ..Default::default()
        };
        assert_eq!(select(&objects, &after).unwrap().objects.len(), 2);
        let bad = ObjectQuery {
            next: Some("not a cursor".into()),
            ..Default::default()
        };
        assert_eq!(select(&objects, &bad), Err(BackendError::InvalidCursor));
    }

    #[test]
    fn stored_objects_need_a_type_and_a_matching_id() {
        let added = ts("2021-01-01T00:00:00Z");
        assert!(StoredObject::new(json!({"type": "indicator"}), added).is_err());
        assert!(StoredObject::new(
            json!({"type": "indicator", "id": "identity--00000000-0000-4000-8000-000000000001"}),
            added
        )
        .is_err());
        // No modified or created: the version is the time it was added.
        let sco = StoredObject::new(
            json!({"type": "url", "id": "url--00000000-0000-5000-8000-000000000001", "value": "http://a.example"}),
            added,
        )
        .unwrap();
        assert_eq!(sco.version, added);
    }
}
