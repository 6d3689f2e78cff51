//! Shared signals as STIX 2.1 objects, and back.
//!
//! Each [`SharedSignal`] is one `indicator` whose pattern names the signal
//! ([`crate::pattern`]), marked with its TLP 2.0 level, created by an `identity` for the
//! owner organisation, and carrying what a pattern cannot say (category, PDQ distance
//! threshold, provenance) in Breakwater's property extension. Ids are UUIDv5 over the
//! owner and the signal, so sharing a signal again yields a new version of the same object.
//!
//! Import reads a bundle or TAXII envelope back. It is all or nothing: every object is
//! checked and either every signal is returned or every error is.

use crate::pattern::{parse_pattern, to_pattern, PatternError};
use crate::timestamp::{Timestamp, TimestampError};
use crate::tlp::Tlp;
use breakwater_core::{Category, Signal};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use uuid::Uuid;

/// The STIX version written and read.
pub const SPEC_VERSION: &str = "2.1";

/// Breakwater's property extension on indicators (category, threshold, provenance).
pub const EXTENSION_ID: &str = "extension-definition--685efe0d-939a-4fd0-90a2-a0cb7c2d6554";

/// Where the extension's JSON schema is described.
pub const EXTENSION_SCHEMA_URL: &str = "https://breakwater.example/stix/signal-extension/1.0.json";

/// Namespace of every UUIDv5 Breakwater derives; fixed forever, or ids would change.
const NAMESPACE: Uuid = Uuid::from_u128(0x10f83fbb_f728_4972_ac86_f3254924da4c);

/// `created` of the objects that never change (identities, the extension definition), so
/// that every export of them is byte-for-byte the same version.
const FIXED_CREATED: &str = "2024-01-01T00:00:00.000Z";

/// A signal as one organisation shares it with others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedSignal {
    pub signal: Signal,
    pub category: Option<Category>,
    /// Largest Hamming distance at which a PDQ hash still matches.
    pub pdq_threshold: Option<u32>,
    /// Provenance: who observed the signal, where it came from.
    pub source: Option<String>,
    /// The organisation that shares it (the STIX `created_by_ref` identity's name).
    pub owner: String,
    pub tlp: Tlp,
    pub created: Timestamp,
    /// The version: the same signal shared again has the same id and a later `modified`.
    pub modified: Timestamp,
    /// When the signal stops being worth matching (bank expiry).
    pub valid_until: Option<Timestamp>,
    /// A withdrawn signal; STIX never un-revokes.
    pub revoked: bool,
    /// How sure the owner is, 0–100 (STIX's confidence scale).
    pub confidence: Option<u8>,
    pub labels: Vec<String>,
}

impl SharedSignal {
    /// A signal shared now-ish: `created` and `modified` are `at`, nothing optional set.
    pub fn new(signal: Signal, owner: impl Into<String>, tlp: Tlp, at: Timestamp) -> Self {
        SharedSignal {
            signal,
            category: None,
            pdq_threshold: None,
            source: None,
            owner: owner.into(),
            tlp,
            created: at,
            modified: at,
            valid_until: None,
            revoked: false,
            confidence: None,
            labels: Vec::new(),
        }
    }

    /// The STIX id of this signal's indicator.
    pub fn stix_id(&self) -> String {
        indicator_id(&self.owner, &self.signal)
    }
}

fn v5(parts: &[&str]) -> Uuid {
    // The unit separator cannot occur in a canonical signal or, sensibly, in a name, so
    // different tuples never hash the same bytes.
    Uuid::new_v5(&NAMESPACE, parts.join("\u{1f}").as_bytes())
}

/// The indicator id of `signal` shared by `owner`: UUIDv5 over owner, kind and value.
pub fn indicator_id(owner: &str, signal: &Signal) -> String {
    format!(
        "indicator--{}",
        v5(&["indicator", owner, signal.kind.as_str(), &signal.value])
    )
}

/// The identity id of an owner organisation.
pub fn identity_id(owner: &str) -> String {
    format!("identity--{}", v5(&["identity", owner]))
}

/// The identity that defines Breakwater's extension (a producer, not an organisation
/// sharing signals; hashed under a different tag so no owner name can collide with it).
fn project_identity_id() -> String {
    format!("identity--{}", v5(&["project", "breakwater"]))
}

/// The `identity` object for an owner organisation.
pub fn identity_object(owner: &str) -> Value {
    json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": identity_id(owner),
        "created": FIXED_CREATED,
        "modified": FIXED_CREATED,
        "name": owner,
        "identity_class": "organization",
    })
}

/// The identity of the Breakwater project, creator of the extension definition.
pub fn project_identity_object() -> Value {
    json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": project_identity_id(),
        "created": FIXED_CREATED,
        "modified": FIXED_CREATED,
        "name": "Breakwater",
        "description": "Open-source detection and sharing of people-smuggling signals.",
        "identity_class": "system",
    })
}

/// The `extension-definition` of Breakwater's indicator property extension.
pub fn extension_definition() -> Value {
    json!({
        "type": "extension-definition",
        "spec_version": SPEC_VERSION,
        "id": EXTENSION_ID,
        "created_by_ref": project_identity_id(),
        "created": FIXED_CREATED,
        "modified": FIXED_CREATED,
        "name": "Breakwater signal",
        "description": "What a pattern cannot say about a shared signal: its category of \
            organised-immigration-crime content (`category`), the PDQ Hamming distance at \
            which a hash still matches (`pdq_threshold`) and who observed it (`source`).",
        "schema": EXTENSION_SCHEMA_URL,
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    })
}

/// The `indicator` object of a shared signal.
pub fn indicator_object(s: &SharedSignal) -> Value {
    let mut ext = Map::new();
    ext.insert("extension_type".into(), "property-extension".into());
    if let Some(c) = s.category {
        ext.insert("category".into(), c.as_str().into());
    }
    if let Some(t) = s.pdq_threshold {
        ext.insert("pdq_threshold".into(), t.into());
    }
    if let Some(src) = &s.source {
        ext.insert("source".into(), src.clone().into());
    }
    // Someone looking for a smuggler is a person at risk, not an attacker.
    let indicator_type = match s.category {
        Some(c) if !c.is_violating() => "anomalous-activity",
        _ => "malicious-activity",
    };
    let mut description = format!("{} signal shared by {}", s.signal.kind, s.owner);
    if let Some(c) = s.category {
        description.push_str(&format!(" ({c})"));
    }
    let mut o = json!({
        "type": "indicator",
        "spec_version": SPEC_VERSION,
        "id": s.stix_id(),
        "created_by_ref": identity_id(&s.owner),
        "created": s.created,
        "modified": s.modified,
        "name": format!("{}: {}", s.signal.kind, s.signal.value),
        "description": description,
        "indicator_types": [indicator_type],
        "pattern": to_pattern(&s.signal),
        "pattern_type": "stix",
        "pattern_version": SPEC_VERSION,
        "valid_from": s.created,
        "object_marking_refs": [s.tlp.marking_id()],
        "extensions": { EXTENSION_ID: ext },
    });
    let map = o.as_object_mut().expect("built as an object");
    if let Some(until) = s.valid_until {
        map.insert("valid_until".into(), json!(until));
    }
    if s.revoked {
        map.insert("revoked".into(), true.into());
    }
    if let Some(c) = s.confidence {
        map.insert("confidence".into(), c.into());
    }
    if !s.labels.is_empty() {
        map.insert("labels".into(), json!(s.labels));
    }
    o
}

/// Every object needed to share `signals`: the TLP marking definitions and owner
/// identities they use (each once), then one indicator per signal, in input order.
///
/// The extension's definition is not among them: see [`definitions`].
pub fn to_objects(signals: &[SharedSignal]) -> Vec<Value> {
    let tlps: BTreeSet<Tlp> = signals.iter().map(|s| s.tlp).collect();
    let owners: BTreeSet<&str> = signals.iter().map(|s| s.owner.as_str()).collect();
    let mut out: Vec<Value> = tlps.into_iter().map(Tlp::marking_definition).collect();
    out.extend(owners.into_iter().map(identity_object));
    out.extend(signals.iter().map(indicator_object));
    out
}

/// The definition of Breakwater's extension and the identity that created it, for a
/// self-contained bundle or for a collection of our own.
///
/// They are kept apart from [`to_objects`] because medallion 3.0.0, the OASIS reference
/// server, mistakes an extension-definition's `version` ("1.0.0") for a timestamp and then
/// fails every read of the collection holding it: pushing them to a partner could break
/// the partner's collection. Consumers do not need them to read the extension.
pub fn definitions() -> Vec<Value> {
    vec![project_identity_object(), extension_definition()]
}

/// A STIX bundle of `objects`. Its id is derived from the objects' ids and versions, so
/// the same export is the same bundle.
pub fn bundle(objects: Vec<Value>) -> Value {
    let key: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}@{}",
                o["id"].as_str().unwrap_or(""),
                o["modified"].as_str().unwrap_or("")
            )
        })
        .collect();
    let refs: Vec<&str> = key.iter().map(String::as_str).collect();
    let mut parts = vec!["bundle"];
    parts.extend(refs);
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", v5(&parts)),
        "objects": objects,
    })
}

/// What can be wrong with one STIX object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StixError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("missing required property `{0}`")]
    Missing(&'static str),
    #[error("property `{property}` must be {expected}")]
    WrongType {
        property: String,
        expected: &'static str,
    },
    #[error("property `{property}`: {error}")]
    BadTimestamp {
        property: &'static str,
        error: TimestampError,
    },
    #[error("`{id}` is not a STIX identifier: {reason}")]
    BadId { id: String, reason: &'static str },
    #[error("spec_version `{0}` is not supported (only STIX 2.1)")]
    SpecVersion(String),
    #[error("`modified` ({modified}) is before `created` ({created})")]
    ModifiedBeforeCreated {
        created: Timestamp,
        modified: Timestamp,
    },
    #[error("pattern_type `{0}` is not supported (only `stix`)")]
    PatternType(String),
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("property `{property}` is out of range: {value}")]
    OutOfRange { property: String, value: String },
    #[error("created_by_ref `{0}` names no identity among the objects or known ones, and no default owner was given")]
    UnknownOwner(String),
    #[error("no created_by_ref, and no default owner was given")]
    NoOwner,
    #[error("a bundle or envelope must be a JSON object with an `objects` array")]
    NotABundle,
}

/// One object that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectError {
    /// Position in the `objects` array.
    pub index: usize,
    /// The object's id, when it had a readable one.
    pub id: Option<String>,
    pub error: StixError,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "object {} ({id}): {}", self.index, self.error),
            None => write!(f, "object {}: {}", self.index, self.error),
        }
    }
}

/// Every error of a failed import; nothing was imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportErrors(pub Vec<ObjectError>);

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} invalid STIX object(s)", self.0.len())?;
        for e in &self.0 {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

/// Something an import passed over without failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportWarning {
    /// An object of a type that carries no signal (malware, report, a custom object…).
    SkippedType {
        index: usize,
        id: Option<String>,
        object_type: String,
    },
    /// An indicator whose pattern is not a signal, skipped because
    /// [`ImportOptions::skip_unsupported_patterns`] asked for it.
    SkippedPattern {
        index: usize,
        id: String,
        error: PatternError,
    },
    /// A category this version does not know (a newer partner's); imported without one.
    UnknownCategory { id: String, category: String },
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportWarning::SkippedType {
                index,
                id,
                object_type,
            } => write!(
                f,
                "object {index} ({}): type `{object_type}` carries no signal; skipped",
                id.as_deref().unwrap_or("no id")
            ),
            ImportWarning::SkippedPattern { index, id, error } => {
                write!(f, "object {index} ({id}): skipped: {error}")
            }
            ImportWarning::UnknownCategory { id, category } => {
                write!(f, "{id}: unknown category `{category}` dropped")
            }
        }
    }
}

/// How to fill in what a partner's objects leave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Identities read by earlier imports (id → name, see [`Import::identities`]): an
    /// incremental pull brings new indicators without the identity that created them.
    pub known_identities: BTreeMap<String, String>,
    /// Owner of indicators with no `created_by_ref`, or whose identity is neither among the
    /// objects nor known (typically the partner a feed comes from). `None`: such indicators
    /// are errors.
    pub default_owner: Option<String>,
    /// TLP of indicators with no TLP marking. Default amber: unmarked data is not
    /// assumed to be free to pass on.
    pub default_tlp: Tlp,
    /// Skip indicators whose pattern is not a signal (with a warning) instead of failing.
    /// Default false.
    pub skip_unsupported_patterns: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            known_identities: BTreeMap::new(),
            default_owner: None,
            default_tlp: Tlp::Amber,
            skip_unsupported_patterns: false,
        }
    }
}

/// The result of an import that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Import {
    /// One per indicator id: the latest version when several were given.
    pub signals: Vec<SharedSignal>,
    /// The identities among the objects (id → name), to keep for later imports.
    pub identities: BTreeMap<String, String>,
    pub warnings: Vec<ImportWarning>,
}

/// Checks a STIX identifier: `<type>--<RFC 4122 UUID>`, with `expected_type` if given.
pub fn check_id<'a>(id: &'a str, expected_type: Option<&str>) -> Result<&'a str, StixError> {
    let bad = |reason| StixError::BadId {
        id: id.to_string(),
        reason,
    };
    let (ty, uuid) = id
        .split_once("--")
        .ok_or_else(|| bad("no `--` separator"))?;
    if !valid_type_name(ty) {
        return Err(bad("the type part is not a STIX type name"));
    }
    let uuid = Uuid::try_parse(uuid).map_err(|_| bad("the part after `--` is not a UUID"))?;
    if uuid.get_variant() != uuid::Variant::RFC4122 {
        return Err(bad("the UUID is not an RFC 4122 UUID"));
    }
    if expected_type.is_some_and(|t| t != ty) {
        return Err(bad("the type part does not match the object's type"));
    }
    Ok(ty)
}

/// STIX type names: 3–250 characters of lower-case ASCII letters, digits and hyphens.
fn valid_type_name(t: &str) -> bool {
    (3..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
}

/// The `objects` of a STIX bundle or a TAXII envelope.
pub fn objects_of(doc: &Value) -> Result<&[Value], StixError> {
    let Some(o) = doc.as_object() else {
        return Err(StixError::NotABundle);
    };
    // An envelope has no `type`; a bundle's is `bundle`. Both may leave `objects` out.
    if o.get("type").is_some_and(|t| t != "bundle") {
        return Err(StixError::NotABundle);
    }
    match o.get("objects") {
        Some(Value::Array(a)) => Ok(a),
        None => Ok(&[]),
        Some(_) => Err(StixError::NotABundle),
    }
}

/// Imports the signals in a bundle or envelope.
pub fn import_document(doc: &Value, opts: &ImportOptions) -> Result<Import, ImportErrors> {
    let objects = objects_of(doc).map_err(|error| {
        ImportErrors(vec![ObjectError {
            index: 0,
            id: None,
            error,
        }])
    })?;
    import_objects(objects, opts)
}

/// An indicator read before its owner is resolved.
struct Pending {
    index: usize,
    /// The object's own id, which keys versions (a partner's ids need not be ours).
    id: String,
    signal: SharedSignal,
    created_by: Option<String>,
    unknown_category: Option<String>,
}

/// Imports the signals among `objects`; see the module documentation.
pub fn import_objects(objects: &[Value], opts: &ImportOptions) -> Result<Import, ImportErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut identities = BTreeMap::new();
    let mut pending = Vec::new();
    for (index, o) in objects.iter().enumerate() {
        let id = o.get("id").and_then(Value::as_str).map(str::to_string);
        let fail = |error| ObjectError {
            index,
            id: id.clone(),
            error,
        };
        let Some(obj) = o.as_object() else {
            errors.push(fail(StixError::NotAnObject));
            continue;
        };
        let object_type = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                errors.push(fail(wrong("type", "a string")));
                continue;
            }
            None => {
                errors.push(fail(StixError::Missing("type")));
                continue;
            }
        };
        let result = match object_type {
            "indicator" => read_indicator(obj, opts).map(|r| match r {
                Ok(p) => pending.push(Pending { index, ..p }),
                Err(error) => warnings.push(ImportWarning::SkippedPattern {
                    index,
                    id: id.clone().unwrap_or_default(),
                    error,
                }),
            }),
            "identity" => read_common(obj, "identity").and_then(|(id, _, _)| {
                let name = string(obj, "name")?;
                identities.insert(id.to_string(), name.to_string());
                Ok(())
            }),
            // Definitions we reference; their contents are fixed and known.
            "marking-definition" => required_id(obj, "marking-definition").map(drop),
            "extension-definition" => read_common(obj, "extension-definition").map(drop),
            other => {
                warnings.push(ImportWarning::SkippedType {
                    index,
                    id: id.clone(),
                    object_type: other.to_string(),
                });
                Ok(())
            }
        };
        if let Err(e) = result {
            errors.push(fail(e));
        }
    }

    // Owners are resolved after every identity has been seen: a bundle may list an
    // identity after the indicators that refer to it.
    let mut latest: BTreeMap<String, SharedSignal> = BTreeMap::new();
    let mut order = Vec::new();
    for p in pending {
        let id = p.id;
        let owner = match &p.created_by {
            Some(r) => identities
                .get(r)
                .or_else(|| opts.known_identities.get(r))
                .cloned()
                .or_else(|| opts.default_owner.clone())
                .ok_or_else(|| StixError::UnknownOwner(r.clone())),
            None => opts.default_owner.clone().ok_or(StixError::NoOwner),
        };
        let mut signal = p.signal;
        match owner {
            Ok(owner) => signal.owner = owner,
            Err(error) => {
                errors.push(ObjectError {
                    index: p.index,
                    id: Some(id),
                    error,
                });
                continue;
            }
        }
        if let Some(category) = p.unknown_category {
            warnings.push(ImportWarning::UnknownCategory {
                id: id.clone(),
                category,
            });
        }
        match latest.get(&id) {
            Some(prev) if prev.modified >= signal.modified => {}
            Some(_) => {
                latest.insert(id, signal);
            }
            None => {
                order.push(id.clone());
                latest.insert(id, signal);
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportErrors(errors));
    }
    let signals = order
        .into_iter()
        .filter_map(|id| latest.remove(&id))
        .collect();
    Ok(Import {
        signals,
        identities,
        warnings,
    })
}

fn wrong(property: &str, expected: &'static str) -> StixError {
    StixError::WrongType {
        property: property.to_string(),
        expected,
    }
}

fn string<'a>(o: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, StixError> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(wrong(key, "a string")),
        None => Err(StixError::Missing(key)),
    }
}

fn opt_string<'a>(
    o: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, StixError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(o, key).map(Some),
    }
}

fn timestamp(o: &Map<String, Value>, key: &'static str) -> Result<Timestamp, StixError> {
    Timestamp::parse(string(o, key)?).map_err(|error| StixError::BadTimestamp {
        property: key,
        error,
    })
}

fn opt_timestamp(
    o: &Map<String, Value>,
    key: &'static str,
) -> Result<Option<Timestamp>, StixError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => timestamp(o, key).map(Some),
    }
}

fn required_id<'a>(o: &'a Map<String, Value>, ty: &str) -> Result<&'a str, StixError> {
    let id = string(o, "id")?;
    check_id(id, Some(ty))?;
    Ok(id)
}

/// The common properties every STIX 2.1 SDO has: id, spec_version, created, modified.
fn read_common<'a>(
    o: &'a Map<String, Value>,
    ty: &str,
) -> Result<(&'a str, Timestamp, Timestamp), StixError> {
    let id = required_id(o, ty)?;
    match o.get("spec_version") {
        Some(Value::String(v)) if v == SPEC_VERSION => {}
        Some(Value::String(v)) => return Err(StixError::SpecVersion(v.clone())),
        Some(_) => return Err(wrong("spec_version", "a string")),
        // STIX 2.0 objects have no spec_version.
        None => return Err(StixError::SpecVersion("missing (STIX 2.0?)".into())),
    }
    let created = timestamp(o, "created")?;
    let modified = timestamp(o, "modified")?;
    if modified < created {
        return Err(StixError::ModifiedBeforeCreated { created, modified });
    }
    Ok((id, created, modified))
}

/// Reads an indicator; the inner error is a pattern that is not a signal, which the
/// caller may turn into a warning.
fn read_indicator(
    o: &Map<String, Value>,
    opts: &ImportOptions,
) -> Result<Result<Pending, PatternError>, StixError> {
    let (id, created, modified) = read_common(o, "indicator")?;
    let pattern = string(o, "pattern")?;
    let pattern_type = string(o, "pattern_type")?;
    timestamp(o, "valid_from")?;
    let valid_until = opt_timestamp(o, "valid_until")?;
    let created_by = opt_string(o, "created_by_ref")?
        .map(|r| check_id(r, Some("identity")).map(|_| r.to_string()))
        .transpose()?;
    let revoked = match o.get("revoked") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(wrong("revoked", "a boolean")),
    };
    let confidence = match o.get("confidence") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(c) if c <= 100 => Some(c as u8),
            _ => {
                return Err(StixError::OutOfRange {
                    property: "confidence".into(),
                    value: v.to_string(),
                })
            }
        },
    };
    let labels = match o.get("labels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|l| l.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| wrong("labels", "a list of strings"))?,
        Some(_) => return Err(wrong("labels", "a list of strings")),
    };
    let tlp = match o.get("object_marking_refs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(refs)) => {
            let mut tlp = None;
            for r in refs {
                let r = r
                    .as_str()
                    .ok_or_else(|| wrong("object_marking_refs", "a list of identifiers"))?;
                check_id(r, Some("marking-definition"))?;
                // Other markings (statements, copyright) are not TLP and do not lower it.
                if let Some(t) = Tlp::from_marking_id(r) {
                    tlp = Some(tlp.map_or(t, |prev: Tlp| prev.max(t)));
                }
            }
            tlp
        }
        Some(_) => return Err(wrong("object_marking_refs", "a list of identifiers")),
    };

    let mut category = None;
    let mut unknown_category = None;
    let mut pdq_threshold = None;
    let mut source = None;
    if let Some(exts) = o.get("extensions") {
        let exts = exts
            .as_object()
            .ok_or_else(|| wrong("extensions", "an object"))?;
        if let Some(ext) = exts.get(EXTENSION_ID) {
            let ext = ext
                .as_object()
                .ok_or_else(|| wrong(&format!("extensions.{EXTENSION_ID}"), "an object"))?;
            if let Some(c) = opt_string(ext, "category")? {
                match c.parse::<Category>() {
                    Ok(c) => category = Some(c),
                    Err(_) => unknown_category = Some(c.to_string()),
                }
            }
            pdq_threshold =
                match ext.get("pdq_threshold") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_u64().filter(|t| *t <= 256).ok_or_else(|| {
                        StixError::OutOfRange {
                            property: "pdq_threshold".into(),
                            value: v.to_string(),
                        }
                    })? as u32),
                };
            source = opt_string(ext, "source")?.map(str::to_string);
        }
    }

    if pattern_type != "stix" {
        let error = PatternError::Unsupported {
            pattern: pattern.to_string(),
            reason: format!("pattern_type `{pattern_type}`"),
        };
        return if opts.skip_unsupported_patterns {
            Ok(Err(error))
        } else {
            Err(StixError::PatternType(pattern_type.to_string()))
        };
    }
    let signal = match parse_pattern(pattern) {
        Ok(s) => s,
        Err(e @ PatternError::Unsupported { .. }) if opts.skip_unsupported_patterns => {
            return Ok(Err(e))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Ok(Pending {
        index: 0,
        id: id.to_string(),
        signal: SharedSignal {
            signal,
            category,
            pdq_threshold,
            source,
            // Filled in once every identity has been read.
            owner: String::new(),
            tlp: tlp.unwrap_or(opts.default_tlp),
            created,
            modified,
            valid_until,
            revoked,
            confidence,
            labels,
        },
        created_by,
        unknown_category,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakwater_core::SignalKind;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn value(kind: SignalKind) -> &'static str {
        match kind {
            SignalKind::Pdq => "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
            SignalKind::Md5 => "d41d8cd98f00b204e9800998ecf8427e",
            SignalKind::Sha256 => {
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            }
            SignalKind::Phone => "+447700900123",
            SignalKind::Handle => "telegram:boza_vip",
            SignalKind::Url => "https://boats-uk.example/book?from=calais&note=it's",
            SignalKind::Domain => "boats-uk.example",
            SignalKind::Phrase => "100% safe crossing \\ pay on arrival",
        }
    }

    fn full(kind: SignalKind) -> SharedSignal {
        let mut s = SharedSignal::new(
            Signal::parse(kind, value(kind)).unwrap(),
            "UK OIC Unit",
            Tlp::AmberStrict,
            ts("2024-05-01T10:00:00.000Z"),
        );
        s.modified = ts("2024-05-02T11:30:00.250Z");
        s.category = Some(Category::SmugglingService);
        s.pdq_threshold = (kind == SignalKind::Pdq).then_some(31);
        s.source = Some("referral 2024-118, Facebook group".into());
        s.valid_until = Some(ts("2025-05-01T00:00:00.000Z"));
        s.confidence = Some(85);
        s.labels = vec!["channel-crossing".into()];
        s
    }

    fn indicator(pattern: &str) -> Value {
        json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2024-01-01T00:00:00.000Z",
        })
    }

    fn partner() -> ImportOptions {
        ImportOptions {
            default_owner: Some("Partner".into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_kind_round_trips_through_stix() {
        let signals: Vec<SharedSignal> = SignalKind::ALL.into_iter().map(full).collect();
        let mut revoked = full(SignalKind::Url);
        revoked.signal = Signal::parse(SignalKind::Url, "http://other.example/x").unwrap();
        revoked.revoked = true;
        revoked.category = Some(Category::Solicitation);
        let mut bare = SharedSignal::new(
            Signal::parse(SignalKind::Md5, &"0".repeat(32)).unwrap(),
            "NGO",
            Tlp::Clear,
            ts("2024-01-01T00:00:00.000Z"),
        );
        bare.labels.clear();
        let all: Vec<SharedSignal> = signals.into_iter().chain([revoked, bare]).collect();

        let doc = bundle([definitions(), to_objects(&all)].concat());
        // Through text, as a partner receives it.
        let doc: Value = serde_json::from_str(&doc.to_string()).unwrap();
        let import = import_document(&doc, &ImportOptions::default()).unwrap();
        assert!(import.warnings.is_empty(), "{:?}", import.warnings);
        assert_eq!(import.signals, all);
    }

    #[test]
    fn ids_are_deterministic_and_a_second_share_is_a_new_version() {
        let a = full(SignalKind::Phone);
        let mut b = a.clone();
        b.modified = ts("2024-06-01T00:00:00.000Z");
        b.confidence = Some(95);
        assert_eq!(indicator_object(&a)["id"], indicator_object(&b)["id"]);
        assert_ne!(
            indicator_object(&a)["modified"],
            indicator_object(&b)["modified"]
        );
        // Pinned (computed independently with Python's uuid.uuid5): changing the namespace
        // or the hashed tuple would orphan every id already shared.
        assert_eq!(
            a.stix_id(),
            "indicator--fed563e8-630a-5615-82ea-cd4865f38760"
        );
        assert_eq!(
            identity_id("UK OIC Unit"),
            "identity--4d790ed2-bff3-5dc4-8ed0-92ff9fbec253"
        );
        let mut other_owner = a.clone();
        other_owner.owner = "NGO".into();
        assert_ne!(a.stix_id(), other_owner.stix_id());
        let same_value_other_kind = Signal {
            kind: SignalKind::Phrase,
            value: a.signal.value.clone(),
        };
        assert_ne!(a.stix_id(), indicator_id(&a.owner, &same_value_other_kind));
        assert_eq!(identity_object("NGO")["id"], identity_id("NGO"));
        assert_eq!(
            indicator_object(&a)["created_by_ref"],
            identity_id("UK OIC Unit")
        );
        // Exporting the same signals twice is the same bundle.
        assert_eq!(
            bundle(to_objects(std::slice::from_ref(&a))),
            bundle(to_objects(&[a]))
        );

        // Both versions imported together: the later one is kept.
        let objects = to_objects(&[b.clone()])
            .into_iter()
            .chain([indicator_object(&full(SignalKind::Phone))])
            .collect::<Vec<_>>();
        let import = import_objects(&objects, &ImportOptions::default()).unwrap();
        assert_eq!(import.signals, vec![b]);
    }

    #[test]
    fn tlp_markings_are_referenced_and_their_definitions_travel() {
        let mut red = full(SignalKind::Domain);
        red.tlp = Tlp::Red;
        let green = SharedSignal::new(
            Signal::parse(SignalKind::Md5, &"1".repeat(32)).unwrap(),
            "NGO",
            Tlp::Green,
            ts("2024-01-01T00:00:00.000Z"),
        );
        let objects = to_objects(&[red.clone(), green]);
        assert_eq!(
            indicator_object(&red)["object_marking_refs"],
            json!([Tlp::Red.marking_id()])
        );
        let markings: Vec<&str> = objects
            .iter()
            .filter(|o| o["type"] == "marking-definition")
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(markings, [Tlp::Green.marking_id(), Tlp::Red.marking_id()]);
        assert!(!objects.iter().any(|o| o["type"] == "extension-definition"));
        assert!(definitions().iter().any(|o| o["id"] == EXTENSION_ID));

        // No marking: the default; several: the most restrictive; other markings ignored.
        let mut o = indicator("[domain-name:value = 'a.example']");
        let import = import_objects(&[o.clone()], &partner()).unwrap();
        assert_eq!(import.signals[0].tlp, Tlp::Amber);
        o["object_marking_refs"] = json!([
            Tlp::Green.marking_id(),
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "marking-definition--11111111-2222-4333-8444-555555555555",
        ]);
        let import = import_objects(&[o], &partner()).unwrap();
        assert_eq!(import.signals[0].tlp, Tlp::Amber);
    }

    #[test]
    fn malformed_objects_are_all_reported_and_nothing_is_imported() {
        let good = indicator("[url:value = 'https://a.example']");
        let mut missing_pattern = good.clone();
        missing_pattern.as_object_mut().unwrap().remove("pattern");
        let mut bad_time = good.clone();
        bad_time["modified"] = json!("2024-13-01T00:00:00Z");
        let mut bad_id = good.clone();
        bad_id["id"] = json!("indicator--not-a-uuid");
        let mut wrong_type_id = good.clone();
        wrong_type_id["id"] = json!("identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
        let stix20 = {
            let mut o = good.clone();
            o.as_object_mut().unwrap().remove("spec_version");
            o
        };
        let objects = vec![
            good,
            missing_pattern,
            bad_time,
            bad_id,
            wrong_type_id,
            stix20,
            indicator("[ipv4-addr:value = '192.0.2.1']"),
            indicator("[x-phone-number:value = '07700 900123']"),
            json!({"type": "indicator"}),
            json!("not an object"),
            json!({"id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}),
        ];
        let errors = import_objects(&objects, &partner()).unwrap_err().0;
        let by_index: Vec<(usize, &StixError)> =
            errors.iter().map(|e| (e.index, &e.error)).collect();
        assert_eq!(errors.len(), 10, "{errors:#?}");
        assert!(matches!(by_index[0], (1, StixError::Missing("pattern"))));
        assert!(matches!(
            by_index[1],
            (
                2,
                StixError::BadTimestamp {
                    property: "modified",
                    ..
                }
            )
        ));
        assert!(matches!(by_index[2], (3, StixError::BadId { .. })));
        assert!(matches!(by_index[3], (4, StixError::BadId { .. })));
        assert!(matches!(by_index[4], (5, StixError::SpecVersion(_))));
        assert!(matches!(
            by_index[5],
            (6, StixError::Pattern(PatternError::Unsupported { .. }))
        ));
        assert!(matches!(
            by_index[6],
            (7, StixError::Pattern(PatternError::Signal { .. }))
        ));
        assert!(matches!(by_index[7], (8, StixError::Missing("id"))));
        assert!(matches!(by_index[8], (9, StixError::NotAnObject)));
        assert!(matches!(by_index[9], (10, StixError::Missing("type"))));
        // The message names the object, so a partner can find it.
        assert!(errors[0]
            .to_string()
            .contains("object 1 (indicator--8e2e2d2b"));

        for not_a_bundle in [
            json!({"type": "indicator"}),
            json!({"objects": 5}),
            json!([1, 2]),
        ] {
            let e = import_document(&not_a_bundle, &partner()).unwrap_err();
            assert_eq!(e.0[0].error, StixError::NotABundle);
        }
        let empty = import_document(
            &json!({"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}),
            &partner(),
        );
        assert_eq!(empty.unwrap(), Import::default());
    }

    #[test]
    fn unknown_types_and_unknown_categories_are_warnings_not_failures() {
        let mut with_category = indicator("[url:value = 'https://a.example']");
        with_category["extensions"] = json!({EXTENSION_ID: {
            "extension_type": "property-extension",
            "category": "space_piracy",
        }});
        let objects = vec![
            json!({"type": "malware", "id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}),
            json!({"type": "x-partner-thing"}),
            with_category,
        ];
        let import = import_objects(&objects, &partner()).unwrap();
        assert_eq!(import.signals.len(), 1);
        assert_eq!(import.signals[0].category, None);
        assert_eq!(import.warnings.len(), 3);
        assert!(matches!(
            &import.warnings[0],
            ImportWarning::SkippedType { index: 0, object_type, .. } if object_type == "malware"
        ));
        assert!(matches!(
            &import.warnings[2],
            ImportWarning::UnknownCategory { .. }
        ));

        // Patterns that are not signals can be skipped on request.
        let objects = vec![indicator("[ipv4-addr:value = '192.0.2.1']"), {
            let mut o = indicator("rule x { condition: true }");
            o["pattern_type"] = json!("yara");
            o
        }];
        assert!(import_objects(&objects, &partner()).is_err());
        let lenient = ImportOptions {
            skip_unsupported_patterns: true,
            ..partner()
        };
        let import = import_objects(&objects, &lenient).unwrap();
        assert!(import.signals.is_empty());
        assert_eq!(import.warnings.len(), 2);
    }

    #[test]
    fn owners_come_from_the_creating_identity_or_the_default() {
        let mut o = indicator("[domain-name:value = 'a.example']");
        o["created_by_ref"] = json!(identity_id("Ministry"));
        let err = import_objects(&[o.clone()], &ImportOptions::default()).unwrap_err();
        assert!(matches!(err.0[0].error, StixError::UnknownOwner(_)));
        // The identity may come after the indicator.
        let import = import_objects(
            &[o.clone(), identity_object("Ministry")],
            &ImportOptions::default(),
        )
        .unwrap();
        assert_eq!(import.signals[0].owner, "Ministry");
        assert_eq!(import.identities[&identity_id("Ministry")], "Ministry");
        let later = ImportOptions {
            known_identities: import.identities.clone(),
            ..ImportOptions::default()
        };
        let import = import_objects(&[o.clone()], &later).unwrap();
        assert_eq!(import.signals[0].owner, "Ministry");
        let import = import_objects(&[o], &partner()).unwrap();
        assert_eq!(import.signals[0].owner, "Partner");
        let anonymous = indicator("[domain-name:value = 'a.example']");
        let err = import_objects(&[anonymous], &ImportOptions::default()).unwrap_err();
        assert!(matches!(err.0[0].error, StixError::NoOwner));
    }
}
