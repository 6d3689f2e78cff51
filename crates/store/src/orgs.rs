//! Organisations and their API keys.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub kind: OrgKind,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: i64,
    pub organisation_id: i64,
    pub role: Role,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Who is calling: the result of [`Store::authenticate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub key_id: i64,
    pub organisation_id: i64,
    pub role: Role,
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    // ----- organisations and keys -----

    pub async fn create_organisation(&self, name: &str, kind: OrgKind) -> Result<Organisation> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO organisations (name, kind, created_at) VALUES ($1, $2, $3) \
                 RETURNING id",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let details = serde_json::json!({ "name": name, "kind": kind.as_str() });
            let subject = format!("organisation:{id}");
            append_audit_tx!(tx, id, "system", "organisation.create", &subject, &details);
            Ok(Organisation { id, name: name.to_string(), kind, created_at: now })
        })
    }

    pub async fn organisation(&self, org: i64) -> Result<Option<Organisation>> {
        let row: Option<(i64, String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, name, kind, created_at FROM organisations WHERE id = $1")
                .bind(org)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, name, kind, created_at)| {
            Ok(Organisation {
                id,
                name,
                kind: kind.parse()?,
                created_at,
            })
        })
        .transpose()
    }

    /// Creates an API key and returns it with its secret (`bw_<64 hex>`), which is not
    /// stored and cannot be shown again.
    pub async fn create_key(
        &self,
        org: i64,
        role: Role,
        label: &str,
        actor: &str,
    ) -> Result<(ApiKey, String)> {
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| StoreError::Database(format!("no randomness: {e}")))?;
        let secret = format!("{KEY_PREFIX}{}", hex::encode(raw));
        let hash = hash_secret(&secret);
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO api_keys (organisation_id, role, label, secret_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(org)
            .bind(role.as_str())
            .bind(label)
            .bind(&hash)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let details = serde_json::json!({ "role": role.as_str(), "label": label });
            append_audit_tx!(tx, org, actor, "key.create", &format!("key:{id}"), &details);
            let key = ApiKey {
                id,
                organisation_id: org,
                role,
                label: label.to_string(),
                created_at: now,
                revoked_at: None,
            };
            Ok((key, secret))
        })
    }

    /// Revokes a key of `org`. Revoking an already revoked key is a no-op.
    pub async fn revoke_key(&self, org: i64, key_id: i64, actor: &str) -> Result<()> {
        let now = now_ms();
        with_tx!(self, tx, _b => {
            let found: Option<(Option<i64>,)> =
                sqlx::query_as(
                    "SELECT revoked_at FROM api_keys WHERE id = $1 AND organisation_id = $2",
                )
                    .bind(key_id)
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?;
            match found {
                None => return Err(StoreError::NotFound),
                Some((Some(_),)) => {}
                Some((None,)) => {
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(key_id)
                        .execute(&mut *tx)
                        .await?;
                    let subject = format!("key:{key_id}");
                    append_audit_tx!(tx, org, actor, "key.revoke", &subject, &Value::Null);
                }
            }
            Ok(())
        })
    }

    pub async fn list_keys(&self, org: i64) -> Result<Vec<ApiKey>> {
        let rows: Vec<(i64, i64, String, String, i64, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, organisation_id, role, label, created_at, revoked_at FROM api_keys \
                 WHERE organisation_id = $1 ORDER BY id",
            )
            .bind(org)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(id, organisation_id, role, label, created_at, revoked_at)| {
                    Ok(ApiKey {
                        id,
                        organisation_id,
                        role: role.parse()?,
                        label,
                        created_at,
                        revoked_at,
                    })
                },
            )
            .collect()
    }

    /// The principal a secret belongs to, unless it is unknown or revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        let row: Option<(i64, i64, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, organisation_id, role FROM api_keys \
                 WHERE secret_hash = $1 AND revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(key_id, organisation_id, role)| {
            Ok(Principal {
                key_id,
                organisation_id,
                role: role.parse()?,
            })
        })
        .transpose()
    }
}
