//! Items as stored, with their assessments.

use super::*;

/// An item as stored, with its assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredItem {
    pub id: i64,
    pub organisation_id: i64,
    /// The caller's id (`Item::id`), unique per organisation.
    pub external_id: String,
    pub item: Item,
    pub assessment: Assessment,
    pub verdict: Verdict,
    pub category: Option<Category>,
    pub language: String,
    pub score: f32,
    pub created_at: i64,
}

/// Filters for [`Store::list_items`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFilter {
    pub verdict: Option<Verdict>,
    pub category: Option<Category>,
    pub lang: Option<String>,
    /// Only items stored at or after this time (Unix ms).
    pub since: Option<i64>,
}

pub(crate) const ITEM_COLUMNS: &str =
    "id, organisation_id, external_id, item, assessment, created_at";
pub(crate) type ItemRow = (i64, i64, String, String, String, i64);

pub(crate) fn item_from_row(row: ItemRow) -> Result<StoredItem> {
    let (id, organisation_id, external_id, item, assessment, created_at) = row;
    let item: Item = serde_json::from_str(&item)?;
    let assessment: Assessment = serde_json::from_str(&assessment)?;
    Ok(StoredItem {
        id,
        organisation_id,
        external_id,
        verdict: assessment.verdict,
        category: assessment.category,
        language: assessment.language.clone(),
        score: assessment.score,
        item,
        assessment,
        created_at,
    })
}

impl Store {
    // ----- items -----

    /// Stores an item with its assessment, idempotently: if the organisation already has an
    /// item with the same external id, that item is returned with `created == false`.
    /// Items whose verdict is `review` or `violating` are enqueued for review in the queue
    /// named by their category (or `default`).
    pub async fn insert_item(
        &self,
        org: i64,
        item: &Item,
        assessment: &Assessment,
    ) -> Result<(StoredItem, bool)> {
        let item_json = serde_json::to_string(item)?;
        let assessment_json = serde_json::to_string(assessment)?;
        let now = now_ms();
        let queue = queue_for(assessment);
        let select = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 AND external_id = $2"
        );
        let (row, created) = with_tx!(self, tx, _b => {
            let inserted: Option<ItemRow> = sqlx::query_as(&format!(
                "INSERT INTO items (organisation_id, external_id, item, assessment, verdict, \
                 category, language, score, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (organisation_id, external_id) DO NOTHING RETURNING {ITEM_COLUMNS}"
            ))
            .bind(org)
            .bind(&item.id)
            .bind(&item_json)
            .bind(&assessment_json)
            .bind(assessment.verdict.as_str())
            .bind(assessment.category.map(|c| c.as_str()))
            .bind(&assessment.language)
            .bind(f64::from(assessment.score))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match inserted {
                Some(row) => {
                    if let Some(queue) = &queue {
                        sqlx::query(
                            "INSERT INTO queue_entries (item_id, organisation_id, queue, priority, \
                             enqueued_at) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(row.0)
                        .bind(org)
                        .bind(queue)
                        .bind(f64::from(assessment.score))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    (row, true)
                }
                None => {
                    let row: ItemRow = sqlx::query_as(&select)
                        .bind(org)
                        .bind(&item.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    (row, false)
                }
            }
        });
        Ok((item_from_row(row)?, created))
    }

    /// An item of `org`; another organisation's item is `None`.
    pub async fn get_item(&self, org: i64, id: i64) -> Result<Option<StoredItem>> {
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 AND id = $2");
        let row: Option<ItemRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(org).bind(id).fetch_optional(pool).await?
        });
        row.map(item_from_row).transpose()
    }

    /// Items of `org`, newest first, `limit` per page (1..=1000).
    pub async fn list_items(
        &self,
        org: i64,
        filter: &ItemFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<StoredItem>> {
        let (c_time, c_id) = match cursor {
            Some(c) => {
                let (t, i) = decode_cursor(c)?;
                (Some(t), Some(i))
            }
            None => (None, None),
        };
        let limit = page_limit(limit);
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 \
             AND ($2 IS NULL OR verdict = $2) AND ($3 IS NULL OR category = $3) \
             AND ($4 IS NULL OR language = $4) AND ($5 IS NULL OR created_at >= $5) \
             AND ($6 IS NULL OR created_at < $6 OR (created_at = $6 AND id < $7)) \
             ORDER BY created_at DESC, id DESC LIMIT $8"
        );
        let rows: Vec<ItemRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(filter.verdict.map(|v| v.as_str()))
                .bind(filter.category.map(|c| c.as_str()))
                .bind(filter.lang.as_deref())
                .bind(filter.since)
                .bind(c_time)
                .bind(c_id)
                .bind(limit + 1)
                .fetch_all(pool)
                .await?
        });
        let more = rows.len() as i64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(item_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if more => Some(encode_cursor(last.created_at, last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }
}

impl Store {
    /// Items of `org` with an id above `after`, oldest first, at most `limit` (1..=1000):
    /// for followers that process every item once (campaign clustering, trends).
    pub async fn items_after(&self, org: i64, after: i64, limit: u32) -> Result<Vec<StoredItem>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE organisation_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<ItemRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(org)
                .bind(after)
                .bind(page_limit(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(item_from_row).collect()
    }
}
