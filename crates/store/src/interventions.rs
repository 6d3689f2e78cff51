//! Edits of the interventions catalogue, one row per version (old versions are kept), and
//! counters of messages shown and dismissed. The counters hold no personal data: a message,
//! a language and a day, per organisation showing the messages.

use super::*;

/// One version of a catalogue message edited through the API. Version numbers start at 1
/// per message id; the bundled catalogue is version 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterventionVersion {
    pub message_id: String,
    pub version: i64,
    /// The message as the catalogue's TOML would hold it, as JSON.
    pub message: Value,
    /// `false` withdraws the message from selection.
    pub active: bool,
    /// The organisation that made the edit.
    pub organisation_id: i64,
    pub created_at: i64,
}

/// What happened to a message that was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterventionEvent {
    Impression,
    Dismissal,
}

/// Counts of one message in one language on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionCount {
    pub message_id: String,
    pub language: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub impressions: i64,
    pub dismissals: i64,
}

/// The day (since 1970-01-01, UTC) of a Unix millisecond time.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

const VERSION_COLUMNS: &str = "message_id, version, message, active, organisation_id, created_at";
type VersionRow = (String, i64, String, bool, i64, i64);

fn version_from_row(row: VersionRow) -> Result<InterventionVersion> {
    let (message_id, version, message, active, organisation_id, created_at) = row;
    Ok(InterventionVersion {
        message_id,
        version,
        message: serde_json::from_str(&message)?,
        active,
        organisation_id,
        created_at,
    })
}

impl Store {
    // ----- interventions -----

    /// Stores a new version of a catalogue message, edited by `org`. With `base_version`,
    /// the edit is refused (conflict) unless that is still the latest version (0: none
    /// yet), so two editors cannot silently overwrite each other.
    pub async fn put_intervention(
        &self,
        org: i64,
        actor: &str,
        message_id: &str,
        message: &Value,
        active: bool,
        base_version: Option<i64>,
    ) -> Result<InterventionVersion> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let (latest,): (Option<i64>,) = sqlx::query_as(
                "SELECT MAX(version) FROM intervention_versions WHERE message_id = $1",
            )
            .bind(message_id)
            .fetch_one(&mut *tx)
            .await?;
            let latest = latest.unwrap_or(0);
            if let Some(base) = base_version.filter(|b| *b != latest) {
                return Err(StoreError::Conflict(format!(
                    "message `{message_id}` is at version {latest}, not {base}"
                )));
            }
            let version = latest + 1;
            // Two editors racing on PostgreSQL: the unique (message_id, version) makes the
            // second a conflict rather than a lost edit.
            sqlx::query(
                "INSERT INTO intervention_versions (message_id, version, message, active, \
                 organisation_id, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(message_id)
            .bind(version)
            .bind(message.to_string())
            .bind(active)
            .bind(org)
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let details = serde_json::json!({
                "version": version,
                "active": active,
                "message": message,
            });
            let subject = format!("intervention:{message_id}");
            append_audit_tx!(tx, org, actor, "intervention.update", &subject, &details);
            Ok(InterventionVersion {
                message_id: message_id.to_string(),
                version,
                message: message.clone(),
                active,
                organisation_id: org,
                created_at: now,
            })
        })
    }

    /// The latest version of every edited message, by message id. The catalogue is shared
    /// by every organisation, so this takes none.
    pub async fn intervention_overrides(&self) -> Result<Vec<InterventionVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM intervention_versions v WHERE version = \
             (SELECT MAX(version) FROM intervention_versions w WHERE w.message_id = v.message_id) \
             ORDER BY message_id"
        );
        let rows: Vec<VersionRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(version_from_row).collect()
    }

    /// Every version of a message, oldest first.
    pub async fn intervention_versions(
        &self,
        message_id: &str,
    ) -> Result<Vec<InterventionVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM intervention_versions WHERE message_id = $1 \
             ORDER BY version"
        );
        let rows: Vec<VersionRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(message_id).fetch_all(pool).await?
        });
        rows.into_iter().map(version_from_row).collect()
    }

    /// Adds one to today's count of a message shown (or dismissed) in a language.
    pub async fn count_intervention(
        &self,
        org: i64,
        message_id: &str,
        language: &str,
        event: InterventionEvent,
    ) -> Result<()> {
        let (impressions, dismissals) = match event {
            InterventionEvent::Impression => (1i64, 0i64),
            InterventionEvent::Dismissal => (0, 1),
        };
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO intervention_counts (organisation_id, message_id, language, day, \
                 impressions, dismissals) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (organisation_id, message_id, language, day) DO UPDATE SET \
                 impressions = intervention_counts.impressions + excluded.impressions, \
                 dismissals = intervention_counts.dismissals + excluded.dismissals",
            )
            .bind(org)
            .bind(message_id)
            .bind(language)
            .bind(day_of(now_ms()))
            .bind(impressions)
            .bind(dismissals)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The organisation's counts on days `from_day..to_day` (days since 1970-01-01),
    /// by day, message and language.
    pub async fn intervention_counts(
        &self,
        org: i64,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<InterventionCount>> {
        let rows: Vec<(String, String, i64, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT message_id, language, day, impressions, dismissals \
                 FROM intervention_counts WHERE organisation_id = $1 AND day >= $2 AND day < $3 \
                 ORDER BY day, message_id, language",
            )
            .bind(org)
            .bind(from_day)
            .bind(to_day)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(message_id, language, day, impressions, dismissals)| InterventionCount {
                    message_id,
                    language,
                    day,
                    impressions,
                    dismissals,
                },
            )
            .collect())
    }
}
