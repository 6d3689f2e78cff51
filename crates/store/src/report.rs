//! The transparency report of one organisation over a period: what was assessed, decided,
//! delivered, referred and appealed, and how many warnings were shown.
//!
//! Every figure is computed from timestamps, as things stood at the end of the period (or
//! now, for a period not over yet), so a report of a past period gives the same numbers
//! whenever it is run.

use super::*;

/// Time from a referral to the platform's decision, in milliseconds. Percentiles are
/// nearest-rank: always a time that some referral actually took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeToAction {
    /// Referrals decided by the end of the period.
    pub decided: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// Referrals sent or received over the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralFigures {
    /// Referrals made in the period (received: referrals opened; sent: each time this
    /// organisation referred content, including joining another unit's referral).
    pub total: i64,
    /// Sent only: referrals that joined one another unit had already made.
    pub joined: i64,
    pub by_category: BTreeMap<String, i64>,
    /// Outcome by the end of the period (or now): `removed`, `restricted`, `no_violation`, or
    /// `open` when not yet decided.
    pub by_outcome: BTreeMap<String, i64>,
    /// Undecided at the end of the period (or now) and past their deadline by then.
    pub overdue: i64,
    pub time_to_action: TimeToAction,
    /// Time to action of the referrals of each category decided by the end of the period.
    #[serde(default)]
    pub time_to_action_by_category: BTreeMap<String, TimeToAction>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealFigures {
    /// Appeals filed in the period.
    pub filed: i64,
    /// Appeals decided in the period.
    pub decided: i64,
    /// Decided with the same action as the decision appealed.
    pub upheld: i64,
    /// Decided with another action.
    pub overturned: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionFigures {
    pub impressions: i64,
    pub dismissals: i64,
    /// Impressions by language.
    pub impressions_by_language: BTreeMap<String, i64>,
    /// Impressions by message id.
    pub impressions_by_message: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFigures {
    /// Webhook deliveries delivered in the period.
    pub delivered: i64,
    /// Delivered, by the action of the decision (`remove`, …) or the event type for
    /// other events (`referral.decided`, …).
    pub delivered_by_action: BTreeMap<String, i64>,
    /// Deliveries created in the period that were given up.
    pub failed: i64,
}

/// An organisation's transparency report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransparencyReport {
    pub organisation: Organisation,
    /// The period, `from` included and `to` excluded (Unix ms).
    pub from: i64,
    pub to: i64,
    /// Items assessed in the period, by verdict.
    pub items_by_verdict: BTreeMap<String, i64>,
    pub items_total: i64,
    /// Review decisions in the period (appeals apart), by category (`none` when the
    /// reviewer gave none) and action.
    pub decisions_by_category: BTreeMap<String, BTreeMap<String, i64>>,
    pub decisions_total: i64,
    pub actions_delivered: DeliveryFigures,
    pub referrals_received: ReferralFigures,
    pub referrals_sent: ReferralFigures,
    pub appeals: AppealFigures,
    pub interventions: InterventionFigures,
}

/// The nearest-rank percentile `p` (0..=100) of sorted values.
fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).copied()
}

fn time_to_action(mut times: Vec<i64>) -> TimeToAction {
    times.sort_unstable();
    TimeToAction {
        decided: times.len() as i64,
        median_ms: percentile(&times, 50),
        p90_ms: percentile(&times, 90),
    }
}

/// A referral as the report needs it: category, when it was made (or joined), its status,
/// decision time and deadline.
type ReferralFacts = (String, i64, String, Option<i64>, i64);

/// Figures as they stood at `as_of`: the end of the period, or now if it has not ended.
fn referral_figures(rows: Vec<ReferralFacts>, as_of: i64) -> ReferralFigures {
    let mut f = ReferralFigures::default();
    let mut times = Vec::new();
    let mut times_by_category: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (category, made_at, status, decided_at, deadline_at) in rows {
        f.total += 1;
        *f.by_category.entry(category.clone()).or_default() += 1;
        match decided_at.filter(|d| *d < as_of) {
            Some(decided) => {
                *f.by_outcome.entry(status).or_default() += 1;
                // A unit that joins after the decision waited for nothing.
                let took = (decided - made_at).max(0);
                times.push(took);
                times_by_category.entry(category).or_default().push(took);
            }
            None => {
                *f.by_outcome.entry("open".into()).or_default() += 1;
                if deadline_at < as_of {
                    f.overdue += 1;
                }
            }
        }
    }
    f.time_to_action = time_to_action(times);
    f.time_to_action_by_category = times_by_category
        .into_iter()
        .map(|(c, t)| (c, time_to_action(t)))
        .collect();
    f
}

/// What the report's queries return, before it is summed up.
struct Rows {
    verdicts: Vec<(String, i64)>,
    decisions: Vec<(String, String, i64)>,
    deliveries: Vec<(String,)>,
    failed: (i64,),
    received: Vec<ReferralFacts>,
    sent: Vec<ReferralFacts>,
    filed: (i64,),
    /// (item, queue, action, time) of decisions on items with an appeal decided.
    appealed: Vec<(i64, String, String, i64)>,
}

impl Store {
    // ----- transparency report -----

    /// The transparency report of `org` for `from..to` (Unix ms).
    pub async fn transparency_report(
        &self,
        org: i64,
        from: i64,
        to: i64,
    ) -> Result<TransparencyReport> {
        if from >= to {
            return Err(StoreError::Invalid(
                "the period must end after it starts".into(),
            ));
        }
        let organisation = self.organisation(org).await?.ok_or(StoreError::NotFound)?;
        let rows: Rows = with_pool!(self, pool => {
            let verdicts = sqlx::query_as(
                "SELECT verdict, COUNT(*) FROM items WHERE organisation_id = $1 \
                 AND created_at >= $2 AND created_at < $3 GROUP BY verdict",
            )
            .bind(org).bind(from).bind(to)
            .fetch_all(pool).await?;
            let decisions = sqlx::query_as(
                "SELECT COALESCE(category, 'none'), action, COUNT(*) FROM decisions \
                 WHERE organisation_id = $1 AND queue <> $4 AND created_at >= $2 \
                 AND created_at < $3 GROUP BY COALESCE(category, 'none'), action",
            )
            .bind(org).bind(from).bind(to).bind(APPEALS_QUEUE)
            .fetch_all(pool).await?;
            let deliveries = sqlx::query_as(
                "SELECT event FROM deliveries WHERE organisation_id = $1 \
                 AND status = 'delivered' AND delivered_at >= $2 AND delivered_at < $3",
            )
            .bind(org).bind(from).bind(to)
            .fetch_all(pool).await?;
            let failed = sqlx::query_as(
                "SELECT COUNT(*) FROM deliveries WHERE organisation_id = $1 \
                 AND status = 'dead' AND created_at >= $2 AND created_at < $3",
            )
            .bind(org).bind(from).bind(to)
            .fetch_one(pool).await?;
            let received = sqlx::query_as(
                "SELECT category, created_at, status, decided_at, deadline_at FROM referrals \
                 WHERE platform_id = $1 AND created_at >= $2 AND created_at < $3",
            )
            .bind(org).bind(from).bind(to)
            .fetch_all(pool).await?;
            let sent = sqlx::query_as(
                "SELECT x.category, x.referred_at, r.status, r.decided_at, r.deadline_at \
                 FROM referral_referrers x JOIN referrals r ON r.id = x.referral_id \
                 WHERE x.organisation_id = $1 AND x.referred_at >= $2 AND x.referred_at < $3",
            )
            .bind(org).bind(from).bind(to)
            .fetch_all(pool).await?;
            let filed = sqlx::query_as(
                "SELECT COUNT(*) FROM appeals WHERE organisation_id = $1 \
                 AND created_at >= $2 AND created_at < $3",
            )
            .bind(org).bind(from).bind(to)
            .fetch_one(pool).await?;
            // Every decision on items with an appeal decided in the period, to compare each
            // appeal's outcome with the decision it overturned or upheld.
            let appealed = sqlx::query_as(
                "SELECT item_id, queue, action, created_at FROM decisions \
                 WHERE organisation_id = $1 AND item_id IN (SELECT item_id FROM decisions \
                 WHERE organisation_id = $1 AND queue = $4 AND created_at >= $2 \
                 AND created_at < $3) ORDER BY item_id, id",
            )
            .bind(org).bind(from).bind(to).bind(APPEALS_QUEUE)
            .fetch_all(pool).await?;
            Rows { verdicts, decisions, deliveries, failed, received, sent, filed, appealed }
        });
        let Rows {
            verdicts,
            decisions,
            deliveries,
            failed,
            received,
            sent,
            filed,
            appealed,
        } = rows;

        let items_total = verdicts.iter().map(|(_, n)| n).sum();
        let mut decisions_by_category: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut decisions_total = 0;
        for (category, action, n) in decisions {
            decisions_total += n;
            *decisions_by_category
                .entry(category)
                .or_default()
                .entry(action)
                .or_default() += n;
        }

        let mut actions_delivered = DeliveryFigures {
            failed: failed.0,
            ..DeliveryFigures::default()
        };
        for (event,) in deliveries {
            let event: Value = serde_json::from_str(&event)?;
            let key = match (event["type"].as_str(), event["action"].as_str()) {
                (Some("item.decide" | "appeal.decide"), Some(action)) => action.to_string(),
                (Some(kind), _) => kind.to_string(),
                _ => "other".to_string(),
            };
            actions_delivered.delivered += 1;
            *actions_delivered
                .delivered_by_action
                .entry(key)
                .or_default() += 1;
        }

        let mut appeals = AppealFigures {
            filed: filed.0,
            ..AppealFigures::default()
        };
        let mut previous: Option<(i64, String)> = None;
        for (item_id, queue, action, created_at) in appealed {
            if queue == APPEALS_QUEUE && (from..to).contains(&created_at) {
                appeals.decided += 1;
                match &previous {
                    Some((item, a)) if *item == item_id && *a == action => appeals.upheld += 1,
                    _ => appeals.overturned += 1,
                }
            }
            // An appeal is weighed against the decision in force when it was filed, which
            // may itself be an earlier appeal's.
            previous = Some((item_id, action));
        }

        let mut interventions = InterventionFigures::default();
        let from_day = interventions::day_of(from);
        let to_day = interventions::day_of(to - 1) + 1;
        for c in self.intervention_counts(org, from_day, to_day).await? {
            interventions.impressions += c.impressions;
            interventions.dismissals += c.dismissals;
            *interventions
                .impressions_by_language
                .entry(c.language)
                .or_default() += c.impressions;
            *interventions
                .impressions_by_message
                .entry(c.message_id)
                .or_default() += c.impressions;
        }

        let as_of = to.min(now_ms());
        let mut referrals_sent = referral_figures(sent, as_of);
        let (joined,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM referral_events WHERE organisation_id = $1 \
                 AND event = 'joined' AND created_at >= $2 AND created_at < $3",
            )
            .bind(org).bind(from).bind(to)
            .fetch_one(pool).await?
        });
        referrals_sent.joined = joined;

        Ok(TransparencyReport {
            organisation,
            from,
            to,
            items_by_verdict: verdicts.into_iter().collect(),
            items_total,
            decisions_by_category,
            decisions_total,
            actions_delivered,
            referrals_received: referral_figures(received, as_of),
            referrals_sent,
            appeals,
            interventions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3], 90), Some(3));
    }

    #[test]
    fn outcomes_are_as_of_the_end_of_the_period() {
        let rows = vec![
            (
                "smuggling_service".into(),
                0,
                "removed".into(),
                Some(100),
                1000,
            ),
            // Decided after the period: still open then, and past its deadline.
            (
                "smuggling_service".into(),
                0,
                "removed".into(),
                Some(5000),
                10,
            ),
            // Joined after the decision: no wait.
            (
                "document_fraud".into(),
                300,
                "restricted".into(),
                Some(200),
                1000,
            ),
        ];
        let f = referral_figures(rows, 2000);
        assert_eq!(f.total, 3);
        assert_eq!(f.by_outcome.get("open"), Some(&1));
        assert_eq!(f.by_outcome.get("removed"), Some(&1));
        assert_eq!(f.overdue, 1);
        assert_eq!(f.time_to_action.decided, 2);
        assert_eq!(f.time_to_action.median_ms, Some(0));
        assert_eq!(f.time_to_action.p90_ms, Some(100));
        // By category: the smuggling referral decided in time took 100 ms; the one
        // decided after the period is not counted.
        let smuggling = &f.time_to_action_by_category["smuggling_service"];
        assert_eq!((smuggling.decided, smuggling.median_ms), (1, Some(100)));
        let documents = &f.time_to_action_by_category["document_fraud"];
        assert_eq!((documents.decided, documents.median_ms), (1, Some(0)));
    }
}
