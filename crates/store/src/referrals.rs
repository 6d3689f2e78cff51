//! Referrals: a government unit refers content to a platform; the platform acknowledges
//! and decides; every step is on the referral's timeline. Referrals of the same content to
//! the same platform by several units are one referral with several referrers, so the
//! platform handles it once and every unit sees the outcome.
//!
//! Lock order on PostgreSQL, to rule out deadlocks: the platform's organisation row, then
//! the referral row, then referrers' organisation rows (through their audit chains).

use super::*;

/// How long a platform has to decide, unless the referrer says otherwise.
pub const DEFAULT_REFERRAL_DEADLINE_HOURS: f64 = 24.0;
/// The most targets in one referral request.
pub const MAX_REFERRAL_TARGETS: usize = 1000;
/// The longest deadline accepted: a year.
pub const MAX_REFERRAL_DEADLINE_MS: i64 = 366 * 86_400_000;
const MAX_LEGAL_BASIS: usize = 2000;
const MAX_REASON: usize = 4000;
const MAX_URL: usize = 4096;

string_enum!(
    /// Where a referral stands. `open` and `acknowledged` are waiting for a decision.
    ReferralStatus {
        Open => "open",
        Acknowledged => "acknowledged",
        Removed => "removed",
        Restricted => "restricted",
        NoViolation => "no_violation",
    }
);

string_enum!(
    /// What the platform decided.
    ReferralOutcome {
        Removed => "removed",
        Restricted => "restricted",
        NoViolation => "no_violation",
    }
);

string_enum!(
    /// Which referrals to list: those the organisation sent or those it received.
    ReferralRole {
        Sent => "sent",
        Received => "received",
    }
);

impl ReferralStatus {
    /// Whether the platform has yet to decide.
    pub fn is_open(self) -> bool {
        matches!(self, ReferralStatus::Open | ReferralStatus::Acknowledged)
    }
}

impl From<ReferralOutcome> for ReferralStatus {
    fn from(o: ReferralOutcome) -> Self {
        match o {
            ReferralOutcome::Removed => ReferralStatus::Removed,
            ReferralOutcome::Restricted => ReferralStatus::Restricted,
            ReferralOutcome::NoViolation => ReferralStatus::NoViolation,
        }
    }
}

/// What is referred: a URL, a text, or an item the referrer stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralTarget {
    Url(String),
    Text(String),
    Item(i64),
}

/// A request to refer one or many targets to a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReferral {
    pub platform_id: i64,
    pub targets: Vec<ReferralTarget>,
    pub legal_basis: String,
    pub category: Category,
    /// Time allowed from now until the platform should have decided.
    pub deadline_ms: i64,
}

/// A referral as its referrers and its platform see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    pub id: i64,
    pub platform_id: i64,
    pub url: Option<String>,
    pub text: Option<String>,
    /// SHA-256 of the normalised text, which duplicates are matched on.
    pub content_hash: Option<String>,
    /// The category of the first referral.
    pub category: Category,
    pub status: ReferralStatus,
    /// The platform's reason for its decision.
    pub reason: Option<String>,
    pub deadline_at: i64,
    /// Still waiting for a decision after its deadline; computed when read.
    pub overdue: bool,
    pub created_at: i64,
    pub acknowledged_at: Option<i64>,
    pub decided_at: Option<i64>,
    /// Every unit that referred this content, first first (not filled in lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Referrer>,
    /// Every step, oldest first (not filled in lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<ReferralEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referrer {
    pub organisation_id: i64,
    pub organisation_name: String,
    pub legal_basis: String,
    pub category: Category,
    pub referred_at: i64,
}

/// One step of a referral: `created`, `joined` (another unit referred the same content),
/// `acknowledged` or `decided`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferralEvent {
    pub at: i64,
    pub event: String,
    pub organisation_id: i64,
    pub details: Value,
}

/// What became of one target of a referral request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referred {
    pub referral: Referral,
    /// A new referral was opened.
    pub created: bool,
    /// The content was already referred by another unit: the caller joined that referral.
    pub joined: bool,
}

string_enum!(
    /// The order of a referral list: newest first, or the soonest deadline first (the
    /// order a platform works through what it was sent).
    ReferralOrder {
        Newest => "newest",
        Deadline => "deadline",
    }
);

/// Filters for [`Store::list_referrals`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferralFilter {
    pub role: Option<ReferralRole>,
    pub status: Option<ReferralStatus>,
    pub overdue: Option<bool>,
    /// `None` is newest first.
    pub order: Option<ReferralOrder>,
}

/// The key two URLs of the same content share: scheme, `www.`/`m.`, default ports,
/// fragments, trailing slashes and tracking parameters dropped, host lower-cased, the
/// remaining query parameters sorted. `None` if it is not an http(s) URL.
pub fn normalise_url(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > MAX_URL || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (rest, has_scheme) = if lower.starts_with("https://") {
        (&s[8..], true)
    } else if lower.starts_with("http://") {
        (&s[7..], true)
    } else if s.contains("://") {
        return None;
    } else {
        (s, false)
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path_query) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // Credentials in a URL say nothing about the content. Without a scheme, `@` is not
    // taken as credentials, so that `mailto:x@example.com` is not read as example.com.
    let host_port = if has_scheme {
        authority.rsplit('@').next().unwrap_or_default()
    } else {
        authority
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (host_port, None),
    };
    let mut host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ok = host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !host.starts_with('.')
        && !host.contains("..");
    if !host_ok {
        return None;
    }
    for prefix in ["www.", "m.", "mobile."] {
        if let Some(h) = host.strip_prefix(prefix) {
            if h.contains('.') {
                host = h.to_string();
            }
            break;
        }
    }
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let path = upper_percent_escapes(path.trim_end_matches('/'));
    let tracking = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.starts_with("utm_")
            || ["fbclid", "gclid", "igshid", "mibextid", "si", "ref_src"].contains(&k.as_str())
    };
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !tracking(p.split('=').next().unwrap_or_default()))
        .map(upper_percent_escapes)
        .collect();
    params.sort();
    let mut key = host;
    if let Some(p) = port.filter(|p| !matches!(*p, "80" | "443")) {
        key.push(':');
        key.push_str(p);
    }
    key.push_str(&path);
    if !params.is_empty() {
        key.push('?');
        key.push_str(&params.join("&"));
    }
    Some(key)
}

/// `%2f` and `%2F` are the same byte.
fn upper_percent_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                match chars.next() {
                    Some(h) => out.push(h.to_ascii_uppercase()),
                    None => break,
                }
            }
        }
    }
    out
}

/// SHA-256 of the text with case and runs of whitespace folded, so a re-pasted advert
/// matches the original.
pub fn content_hash(text: &str) -> String {
    let folded: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    hex::encode(Sha256::digest(folded.join(" ").as_bytes()))
}

const REFERRAL_COLUMNS: &str = "id, platform_id, url, text, content_hash, category, status, \
                                deadline_at, created_at, acknowledged_at, decided_at, reason";
type ReferralRow = (
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn parse_category(c: &str) -> Result<Category> {
    c.parse()
        .map_err(|e: breakwater_core::UnknownCategory| StoreError::Database(e.to_string()))
}

fn referral_from_row(row: ReferralRow, now: i64) -> Result<Referral> {
    let (
        id,
        platform_id,
        url,
        text,
        content_hash,
        category,
        status,
        deadline_at,
        created_at,
        acknowledged_at,
        decided_at,
        reason,
    ) = row;
    let status: ReferralStatus = status.parse()?;
    Ok(Referral {
        id,
        platform_id,
        url,
        text,
        content_hash,
        category: parse_category(&category)?,
        status,
        reason,
        deadline_at,
        overdue: status.is_open() && now > deadline_at,
        created_at,
        acknowledged_at,
        decided_at,
        referrers: Vec::new(),
        timeline: Vec::new(),
    })
}

/// A target with what duplicates are matched on worked out.
struct Content {
    url: Option<String>,
    url_key: Option<String>,
    text: Option<String>,
    content_hash: Option<String>,
    item_id: Option<i64>,
}

/// The `FOR UPDATE` that PostgreSQL needs and SQLite (one writer at a time) does not.
fn lock_clause(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    }
}

impl Store {
    // ----- referrals -----

    /// Refers each target to the platform on behalf of `org` (a government organisation),
    /// all or nothing. A target already referred to the same platform (same normalised URL
    /// or same text) joins that referral, unless the platform found no violation in it,
    /// in which case a new referral asks again. Referring the same content twice is a no-op.
    pub async fn create_referrals(
        &self,
        org: i64,
        actor: &str,
        new: &NewReferral,
    ) -> Result<Vec<Referred>> {
        if new.targets.is_empty() || new.targets.len() > MAX_REFERRAL_TARGETS {
            return Err(StoreError::Invalid(format!(
                "a referral holds 1 to {MAX_REFERRAL_TARGETS} targets, not {}",
                new.targets.len()
            )));
        }
        let legal_basis = new.legal_basis.trim();
        if legal_basis.is_empty() || legal_basis.chars().count() > MAX_LEGAL_BASIS {
            return Err(StoreError::Invalid(format!(
                "`legal_basis` must be 1 to {MAX_LEGAL_BASIS} characters"
            )));
        }
        if !(0..=MAX_REFERRAL_DEADLINE_MS).contains(&new.deadline_ms) {
            return Err(StoreError::Invalid(
                "the deadline must be between now and a year from now".into(),
            ));
        }
        // URLs and texts are checked before the transaction; items are read inside it.
        let mut contents = Vec::with_capacity(new.targets.len());
        for (i, target) in new.targets.iter().enumerate() {
            contents.push(match target {
                ReferralTarget::Url(url) => {
                    let key = normalise_url(url).ok_or_else(|| {
                        StoreError::Invalid(format!("target {i}: `{url}` is not an http(s) URL"))
                    })?;
                    Content {
                        url: Some(url.trim().to_string()),
                        url_key: Some(key),
                        text: None,
                        content_hash: None,
                        item_id: None,
                    }
                }
                ReferralTarget::Text(text) => {
                    if text.trim().is_empty() {
                        return Err(StoreError::Invalid(format!(
                            "target {i}: the text is empty"
                        )));
                    }
                    Content {
                        url: None,
                        url_key: None,
                        content_hash: Some(content_hash(text)),
                        text: Some(text.clone()),
                        item_id: None,
                    }
                }
                ReferralTarget::Item(id) => Content {
                    url: None,
                    url_key: None,
                    text: None,
                    content_hash: None,
                    item_id: Some(*id),
                },
            });
        }
        let now = now_ms();
        let deadline_at = now.saturating_add(new.deadline_ms);
        let category = new.category.as_str();
        let platform = new.platform_id;
        let results: Vec<(i64, bool, bool)> = with_tx!(self, tx, backend => {
            let lock = lock_clause(backend);
            let kind: Option<(String,)> = sqlx::query_as(&format!(
                "SELECT kind FROM organisations WHERE id = $1{lock}"
            ))
            .bind(platform)
            .fetch_optional(&mut *tx)
            .await?;
            match kind {
                Some((k,)) if k == OrgKind::Platform.as_str() => {}
                Some(_) => {
                    return Err(StoreError::Invalid(format!(
                        "organisation {platform} is not a platform"
                    )))
                }
                None => {
                    return Err(StoreError::Invalid(format!(
                        "there is no organisation {platform}"
                    )))
                }
            }
            let kind: Option<(String,)> =
                sqlx::query_as("SELECT kind FROM organisations WHERE id = $1")
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?;
            match kind {
                Some((k,)) if k == OrgKind::Government.as_str() => {}
                Some(_) => {
                    return Err(StoreError::Invalid(
                        "only government organisations make referrals".into(),
                    ))
                }
                None => return Err(StoreError::NotFound),
            }
            let webhook: Option<(String,)> =
                sqlx::query_as("SELECT url FROM webhooks WHERE organisation_id = $1")
                    .bind(platform)
                    .fetch_optional(&mut *tx)
                    .await?;
            let mut results = Vec::with_capacity(contents.len());
            for (i, mut c) in contents.into_iter().enumerate() {
                if let Some(item_id) = c.item_id {
                    let row: Option<(String,)> = sqlx::query_as(
                        "SELECT item FROM items WHERE organisation_id = $1 AND id = $2",
                    )
                    .bind(org)
                    .bind(item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((json,)) = row else {
                        return Err(StoreError::Invalid(format!(
                            "target {i}: there is no item {item_id}"
                        )));
                    };
                    let item: Item = serde_json::from_str(&json)?;
                    c.url_key = item.url.as_deref().and_then(normalise_url);
                    c.url = item.url.filter(|_| c.url_key.is_some());
                    // An image-only item has no text to match on.
                    if !item.text.trim().is_empty() {
                        c.content_hash = Some(content_hash(&item.text));
                        c.text = Some(item.text);
                    }
                    if c.url_key.is_none() && c.content_hash.is_none() {
                        return Err(StoreError::Invalid(format!(
                            "target {i}: item {item_id} has neither a URL nor a text"
                        )));
                    }
                }
                let existing: Option<(i64, String)> = sqlx::query_as(&format!(
                    "SELECT id, status FROM referrals WHERE platform_id = $1 \
                     AND ((url_key IS NOT NULL AND url_key = $2) \
                     OR (content_hash IS NOT NULL AND content_hash = $3)) \
                     ORDER BY id DESC LIMIT 1{lock}"
                ))
                .bind(platform)
                .bind(c.url_key.as_deref())
                .bind(c.content_hash.as_deref())
                .fetch_optional(&mut *tx)
                .await?;
                let joinable = existing
                    .filter(|(_, status)| status != ReferralStatus::NoViolation.as_str());
                let referrer_details = serde_json::json!({
                    "legal_basis": legal_basis,
                    "category": category,
                    "deadline_at": deadline_at,
                });
                let (id, created, joined) = match joinable {
                    Some((id, _)) => {
                        let already: Option<(i64,)> = sqlx::query_as(
                            "SELECT organisation_id FROM referral_referrers \
                             WHERE referral_id = $1 AND organisation_id = $2",
                        )
                        .bind(id)
                        .bind(org)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if already.is_some() {
                            results.push((id, false, false));
                            continue;
                        }
                        // The earliest deadline of any referrer applies; what one unit knew
                        // of the content (its URL or its text) helps match later referrals.
                        sqlx::query(
                            "UPDATE referrals SET deadline_at = CASE WHEN status IN \
                             ('open', 'acknowledged') AND deadline_at > $2 THEN $2 \
                             ELSE deadline_at END, \
                             url = COALESCE(url, $3), url_key = COALESCE(url_key, $4), \
                             text = COALESCE(text, $5), \
                             content_hash = COALESCE(content_hash, $6) WHERE id = $1",
                        )
                        .bind(id)
                        .bind(deadline_at)
                        .bind(c.url.as_deref())
                        .bind(c.url_key.as_deref())
                        .bind(c.text.as_deref())
                        .bind(c.content_hash.as_deref())
                        .execute(&mut *tx)
                        .await?;
                        (id, false, true)
                    }
                    None => {
                        let (id,): (i64,) = sqlx::query_as(
                            "INSERT INTO referrals (platform_id, url, url_key, text, \
                             content_hash, category, status, deadline_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8) RETURNING id",
                        )
                        .bind(platform)
                        .bind(c.url.as_deref())
                        .bind(c.url_key.as_deref())
                        .bind(c.text.as_deref())
                        .bind(c.content_hash.as_deref())
                        .bind(category)
                        .bind(deadline_at)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        if webhook.is_some() {
                            let event = serde_json::json!({
                                "type": "referral.created",
                                "referral_id": id,
                                "url": c.url,
                                "category": category,
                                "legal_basis": legal_basis,
                                "deadline_at": deadline_at,
                            });
                            sqlx::query(
                                "INSERT INTO deliveries (organisation_id, event, status, \
                                 attempts, next_attempt_at, created_at) \
                                 VALUES ($1, $2, 'pending', 0, $3, $3)",
                            )
                            .bind(platform)
                            .bind(event.to_string())
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        (id, true, false)
                    }
                };
                sqlx::query(
                    "INSERT INTO referral_referrers (referral_id, organisation_id, legal_basis, \
                     category, item_id, actor, referred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(org)
                .bind(legal_basis)
                .bind(category)
                .bind(c.item_id)
                .bind(actor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let event = if created { "created" } else { "joined" };
                sqlx::query(
                    "INSERT INTO referral_events (referral_id, organisation_id, event, actor, \
                     details, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(org)
                .bind(event)
                .bind(actor)
                .bind(referrer_details.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let subject = format!("referral:{id}");
                let mut details = referrer_details.clone();
                details["platform_id"] = platform.into();
                details["url"] = c.url.clone().into();
                details["content_hash"] = c.content_hash.clone().into();
                let action = if created { "referral.create" } else { "referral.join" };
                append_audit_tx!(tx, org, actor, action, &subject, &details);
                let received = serde_json::json!({
                    "referrer": org,
                    "joined": joined,
                    "legal_basis": legal_basis,
                    "category": category,
                });
                let from = format!("org:{org}");
                append_audit_tx!(tx, platform, &from, "referral.receive", &subject, &received);
                results.push((id, created, joined));
            }
            results
        });
        let mut out = Vec::with_capacity(results.len());
        for (id, created, joined) in results {
            let referral = self.referral(org, id).await?.ok_or(StoreError::NotFound)?;
            out.push(Referred {
                referral,
                created,
                joined,
            });
        }
        Ok(out)
    }

    /// A referral that `org` sent or received, with its referrers and timeline; any other
    /// organisation gets `None`.
    pub async fn referral(&self, org: i64, id: i64) -> Result<Option<Referral>> {
        let sql = format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals r WHERE id = $1 AND (platform_id = $2 \
             OR EXISTS (SELECT 1 FROM referral_referrers x WHERE x.referral_id = r.id \
             AND x.organisation_id = $2))"
        );
        type ReferrerRow = (i64, String, String, String, i64);
        type EventRow = (i64, String, i64, String);
        let (row, referrers, events): (Option<ReferralRow>, Vec<ReferrerRow>, Vec<EventRow>) = with_pool!(self, pool => {
            let row = sqlx::query_as(&sql).bind(id).bind(org).fetch_optional(pool).await?;
            if row.is_none() {
                return Ok(None);
            }
            let referrers = sqlx::query_as(
                "SELECT x.organisation_id, o.name, x.legal_basis, x.category, x.referred_at \
                 FROM referral_referrers x JOIN organisations o ON o.id = x.organisation_id \
                 WHERE x.referral_id = $1 ORDER BY x.referred_at, x.organisation_id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            let events = sqlx::query_as(
                "SELECT created_at, event, organisation_id, details FROM referral_events \
                 WHERE referral_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            (row, referrers, events)
        });
        let Some(row) = row else { return Ok(None) };
        let mut referral = referral_from_row(row, now_ms())?;
        referral.referrers = referrers
            .into_iter()
            .map(
                |(organisation_id, organisation_name, legal_basis, category, referred_at)| {
                    Ok(Referrer {
                        organisation_id,
                        organisation_name,
                        legal_basis,
                        category: parse_category(&category)?,
                        referred_at,
                    })
                },
            )
            .collect::<Result<_>>()?;
        referral.timeline = events
            .into_iter()
            .map(|(at, event, organisation_id, details)| {
                Ok(ReferralEvent {
                    at,
                    event,
                    organisation_id,
                    details: serde_json::from_str(&details)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Some(referral))
    }

    /// Referrals that `org` sent or received, newest first or soonest deadline first,
    /// without referrers and timeline.
    pub async fn list_referrals(
        &self,
        org: i64,
        filter: &ReferralFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Referral>> {
        let by_deadline = filter.order == Some(ReferralOrder::Deadline);
        // The cursor is the last row's sort key: (id) newest first, (deadline, id) by
        // deadline; it is bound to the organisation it was given to.
        let (after_deadline, after_id) = match cursor {
            Some(c) => {
                let key = decode_keyset(c)?;
                match (key.as_slice(), by_deadline) {
                    (&[o, id], false) if o == org => (0, id),
                    (&[o, deadline, id], true) if o == org => (deadline, id),
                    _ => return Err(StoreError::InvalidCursor),
                }
            }
            None if by_deadline => (i64::MIN, i64::MIN),
            None => (0, i64::MAX),
        };
        let limit = page_limit(limit);
        let now = now_ms();
        let role: i64 = match filter.role {
            None => 0,
            Some(ReferralRole::Sent) => 1,
            Some(ReferralRole::Received) => 2,
        };
        let overdue: i64 = filter.overdue.map_or(-1, i64::from);
        let page = if by_deadline {
            "AND (r.deadline_at > $8 OR (r.deadline_at = $8 AND r.id > $6)) \
             ORDER BY r.deadline_at, r.id LIMIT $7"
        } else {
            // Both orders bind the same parameters; this one has no use for $8.
            "AND r.id < $6 AND $8 = $8 ORDER BY r.id DESC LIMIT $7"
        };
        // Overdue is a function of the clock, so it is computed here rather than stored.
        let sql = format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals r WHERE \
             (($2 <> 1 AND r.platform_id = $1) OR ($2 <> 2 AND EXISTS (SELECT 1 FROM \
             referral_referrers x WHERE x.referral_id = r.id AND x.organisation_id = $1))) \
             AND ($3 IS NULL OR r.status = $3) \
             AND ($4 < 0 OR (CASE WHEN r.status IN ('open', 'acknowledged') \
             AND r.deadline_at < $5 THEN 1 ELSE 0 END) = $4) {page}"
        );
        let rows: Vec<ReferralRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(role)
                .bind(filter.status.map(ReferralStatus::as_str))
                .bind(overdue)
                .bind(now)
                .bind(after_id)
                .bind(limit + 1)
                .bind(after_deadline)
                .fetch_all(pool)
                .await?
        });
        let more = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| referral_from_row(r, now))
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(if by_deadline {
                encode_keyset(&[org, last.deadline_at, last.id])
            } else {
                encode_keyset(&[org, last.id])
            }),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// The platform `org` acknowledges a referral it received. Acknowledging twice is a
    /// no-op; a decided referral cannot be acknowledged.
    pub async fn acknowledge_referral(&self, org: i64, id: i64, actor: &str) -> Result<Referral> {
        let now = now_ms();
        with_tx!(self, tx, backend => {
            let lock = lock_clause(backend);
            sqlx::query(&format!("SELECT id FROM organisations WHERE id = $1{lock}"))
                .bind(org)
                .execute(&mut *tx)
                .await?;
            let status: Option<(String,)> = sqlx::query_as(&format!(
                "SELECT status FROM referrals WHERE id = $1 AND platform_id = $2{lock}"
            ))
            .bind(id)
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
            let status: ReferralStatus = status.ok_or(StoreError::NotFound)?.0.parse()?;
            match status {
                ReferralStatus::Acknowledged => {}
                ReferralStatus::Open => {
                    sqlx::query(
                        "UPDATE referrals SET status = 'acknowledged', acknowledged_at = $1 \
                         WHERE id = $2",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO referral_events (referral_id, organisation_id, event, \
                         actor, details, created_at) VALUES ($1, $2, 'acknowledged', $3, '{}', $4)",
                    )
                    .bind(id)
                    .bind(org)
                    .bind(actor)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let subject = format!("referral:{id}");
                    append_audit_tx!(tx, org, actor, "referral.acknowledge", &subject, &Value::Null);
                }
                decided => {
                    return Err(StoreError::Conflict(format!(
                        "the referral is already decided ({})",
                        decided.as_str()
                    )))
                }
            }
        });
        self.referral(org, id).await?.ok_or(StoreError::NotFound)
    }

    /// The platform `org` decides a referral it received (a reason is required when it
    /// finds no violation). Each referrer with a webhook gets a `referral.decided` event
    /// through the outbox, in the same transaction.
    pub async fn decide_referral(
        &self,
        org: i64,
        id: i64,
        actor: &str,
        outcome: ReferralOutcome,
        reason: Option<&str>,
    ) -> Result<Referral> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if outcome == ReferralOutcome::NoViolation && reason.is_none() {
            return Err(StoreError::Invalid(
                "a `reason` is required when no violation is found".into(),
            ));
        }
        if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
            return Err(StoreError::Invalid(format!(
                "`reason` is longer than {MAX_REASON} characters"
            )));
        }
        let now = now_ms();
        with_tx!(self, tx, backend => {
            let lock = lock_clause(backend);
            sqlx::query(&format!("SELECT id FROM organisations WHERE id = $1{lock}"))
                .bind(org)
                .execute(&mut *tx)
                .await?;
            let row: Option<(String, Option<String>)> = sqlx::query_as(&format!(
                "SELECT status, url FROM referrals WHERE id = $1 AND platform_id = $2{lock}"
            ))
            .bind(id)
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
            let (status, url) = row.ok_or(StoreError::NotFound)?;
            let status: ReferralStatus = status.parse()?;
            if !status.is_open() {
                return Err(StoreError::Conflict(format!(
                    "the referral is already decided ({})",
                    status.as_str()
                )));
            }
            sqlx::query(
                "UPDATE referrals SET status = $1, decided_at = $2, reason = $3 WHERE id = $4",
            )
            .bind(ReferralStatus::from(outcome).as_str())
            .bind(now)
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({ "outcome": outcome.as_str(), "reason": reason });
            sqlx::query(
                "INSERT INTO referral_events (referral_id, organisation_id, event, actor, \
                 details, created_at) VALUES ($1, $2, 'decided', $3, $4, $5)",
            )
            .bind(id)
            .bind(org)
            .bind(actor)
            .bind(details.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let subject = format!("referral:{id}");
            append_audit_tx!(tx, org, actor, "referral.decide", &subject, &details);
            let hooked: Vec<(i64,)> = sqlx::query_as(
                "SELECT x.organisation_id FROM referral_referrers x JOIN webhooks w \
                 ON w.organisation_id = x.organisation_id WHERE x.referral_id = $1 \
                 ORDER BY x.organisation_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let event = serde_json::json!({
                "type": "referral.decided",
                "referral_id": id,
                "platform_id": org,
                "url": url,
                "outcome": outcome.as_str(),
                "reason": reason,
                "decided_at": now,
            });
            for (referrer,) in hooked {
                sqlx::query(
                    "INSERT INTO deliveries (organisation_id, event, status, attempts, \
                     next_attempt_at, created_at) VALUES ($1, $2, 'pending', 0, $3, $3)",
                )
                .bind(referrer)
                .bind(event.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        });
        self.referral(org, id).await?.ok_or(StoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_the_same_content_share_a_key() {
        let key = "example.com/ads/123?a=1&b=2";
        for url in [
            "https://www.example.com/ads/123?b=2&a=1",
            "http://example.com/ads/123/?a=1&b=2&utm_source=x#top",
            "HTTPS://M.Example.COM:443/ads/123?fbclid=abc&a=1&b=2",
            "example.com/ads/123?a=1&b=2",
            "https://user:pw@example.com./ads/123?a=1&b=2",
        ] {
            assert_eq!(normalise_url(url).as_deref(), Some(key), "{url}");
        }
        // Paths stay case-sensitive; other ports and other paths are other content.
        assert_ne!(
            normalise_url("https://example.com/Ads/123"),
            normalise_url("https://example.com/ads/123")
        );
        assert_eq!(
            normalise_url("https://example.com:8080/x").as_deref(),
            Some("example.com:8080/x")
        );
        assert_eq!(
            normalise_url("https://example.com/a%2fb").as_deref(),
            Some("example.com/a%2Fb")
        );
        for bad in [
            "",
            "ftp://example.com/x",
            "not a url",
            "https://localhost/x",
            "https://exa mple.com",
            "javascript:alert(1)",
            "mailto:x@example.com",
            "x@example.com",
        ] {
            assert_eq!(normalise_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn texts_hash_alike_whatever_the_case_and_spacing() {
        assert_eq!(
            content_hash("Boat to UK  tonight\n"),
            content_hash("boat to uk tonight")
        );
        assert_ne!(content_hash("boat to uk"), content_hash("boat to it"));
    }
}
