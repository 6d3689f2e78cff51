//! Referrals, the interventions catalogue's versions and counters, on both backends:
//! de-confliction across units, the timeline, deadlines, scoping to the organisations
//! involved, webhooks to referrers, and the audit trail.

#[macro_use]
mod common;

use breakwater_core::{Assessment, Category, Contributions, Item, Verdict};
use breakwater_store::{
    day_of, now_ms, InterventionEvent, NewReferral, OrgKind, ReferralFilter, ReferralOrder,
    ReferralOutcome, ReferralRole, ReferralStatus, ReferralTarget, Store, StoreError,
};
use common::Harness;
use serde_json::json;

const HOUR: i64 = 3_600_000;

async fn org(store: &Store, name: &str, kind: OrgKind) -> i64 {
    store.create_organisation(name, kind).await.unwrap().id
}

fn referral(platform: i64, targets: Vec<ReferralTarget>, deadline_ms: i64) -> NewReferral {
    NewReferral {
        platform_id: platform,
        targets,
        legal_basis: "Online Safety Act 2023, s. 10".into(),
        category: Category::SmugglingService,
        deadline_ms,
    }
}

fn url(u: &str) -> ReferralTarget {
    ReferralTarget::Url(u.into())
}

/// The organisation's audit actions, after checking its hash chain.
async fn audit_actions(store: &Store, org: i64) -> Vec<String> {
    assert!(store.verify_audit(org).await.unwrap().is_ok());
    store
        .audit(org, None, 1000)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn lifecycle_with_deconfliction(h: &Harness) {
    let s = &h.store;
    let nca = org(s, "NCA", OrgKind::Government).await;
    let police = org(s, "Police unit", OrgKind::Government).await;
    let platform = org(s, "Platform", OrgKind::Platform).await;
    let other = org(s, "Other unit", OrgKind::Government).await;
    s.set_webhook(
        police,
        "https://police.example/hook",
        "s3cret-s3cret-s3cret",
    )
    .await
    .unwrap();
    s.set_webhook(
        platform,
        "https://platform.example/hook",
        "s3cret-s3cret-s3cret",
    )
    .await
    .unwrap();

    let first = s
        .create_referrals(
            nca,
            "key:1",
            &referral(
                platform,
                vec![url("https://www.example.com/ads/1?utm_source=x")],
                24 * HOUR,
            ),
        )
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(first[0].created && !first[0].joined);
    let id = first[0].referral.id;
    assert_eq!(first[0].referral.status, ReferralStatus::Open);

    // Another unit refers the same content under another spelling: it joins, with its own
    // (shorter) deadline, which becomes the referral's.
    let mut second = referral(platform, vec![url("http://example.com/ads/1/")], 2 * HOUR);
    second.legal_basis = "Police Act".into();
    second.category = Category::DocumentFraud;
    let joined = s.create_referrals(police, "key:2", &second).await.unwrap();
    assert!(!joined[0].created && joined[0].joined);
    assert_eq!(joined[0].referral.id, id);
    assert!(joined[0].referral.deadline_at < first[0].referral.deadline_at);
    // The first category stands; each referrer keeps its own legal basis and category.
    assert_eq!(joined[0].referral.category, Category::SmugglingService);
    let r = &joined[0].referral;
    let referrers: Vec<(i64, &str, Category)> = r
        .referrers
        .iter()
        .map(|x| (x.organisation_id, x.legal_basis.as_str(), x.category))
        .collect();
    assert_eq!(
        referrers,
        vec![
            (
                nca,
                "Online Safety Act 2023, s. 10",
                Category::SmugglingService
            ),
            (police, "Police Act", Category::DocumentFraud),
        ]
    );
    assert_eq!(r.referrers[1].organisation_name, "Police unit");

    // Referring it again changes nothing.
    let again = s
        .create_referrals(
            nca,
            "key:1",
            &referral(platform, vec![url("example.com/ads/1")], HOUR),
        )
        .await
        .unwrap();
    assert!(!again[0].created && !again[0].joined);
    assert_eq!(again[0].referral.referrers.len(), 2);

    // Only the platform and the referrers see it.
    for o in [nca, police, platform] {
        assert!(s.referral(o, id).await.unwrap().is_some());
    }
    assert!(s.referral(other, id).await.unwrap().is_none());
    assert!(s
        .list_referrals(other, &ReferralFilter::default(), None, 100)
        .await
        .unwrap()
        .items
        .is_empty());
    // Referrers and third parties cannot act for the platform.
    for o in [nca, police, other] {
        assert!(matches!(
            s.acknowledge_referral(o, id, "key:x").await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.decide_referral(o, id, "key:x", ReferralOutcome::Removed, None)
                .await,
            Err(StoreError::NotFound)
        ));
    }

    let acked = s.acknowledge_referral(platform, id, "key:3").await.unwrap();
    assert_eq!(acked.status, ReferralStatus::Acknowledged);
    assert!(acked.acknowledged_at.is_some());
    // Acknowledging twice adds no step.
    let acked2 = s.acknowledge_referral(platform, id, "key:3").await.unwrap();
    assert_eq!(acked2.timeline.len(), acked.timeline.len());

    assert!(matches!(
        s.decide_referral(
            platform,
            id,
            "key:3",
            ReferralOutcome::NoViolation,
            Some("  ")
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    let decided = s
        .decide_referral(
            platform,
            id,
            "key:3",
            ReferralOutcome::Removed,
            Some("advert for crossings"),
        )
        .await
        .unwrap();
    assert_eq!(decided.status, ReferralStatus::Removed);
    assert_eq!(decided.reason.as_deref(), Some("advert for crossings"));
    assert!(!decided.overdue);
    assert!(matches!(
        s.decide_referral(platform, id, "key:3", ReferralOutcome::Restricted, None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.acknowledge_referral(platform, id, "key:3").await,
        Err(StoreError::Conflict(_))
    ));

    // The timeline, as each referrer sees it: every step, in order, timestamped.
    let seen = s.referral(nca, id).await.unwrap().unwrap();
    let steps: Vec<(&str, i64)> = seen
        .timeline
        .iter()
        .map(|e| (e.event.as_str(), e.organisation_id))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("created", nca),
            ("joined", police),
            ("acknowledged", platform),
            ("decided", platform)
        ]
    );
    assert!(seen.timeline.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(seen.timeline[3].details["outcome"], "removed");
    assert_eq!(seen.created_at, seen.timeline[0].at);
    assert_eq!(seen.decided_at, Some(seen.timeline[3].at));
    assert_eq!(s.referral(police, id).await.unwrap().unwrap(), seen);

    // The decision reaches the referrer with a webhook (and only it); the platform heard
    // of the new referral once, not of the join.
    let events = |o: i64| async move {
        s.list_deliveries(o, None, None, 100)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|d| d.event)
            .collect::<Vec<_>>()
    };
    let police_events = events(police).await;
    assert_eq!(police_events.len(), 1);
    assert_eq!(police_events[0]["type"], "referral.decided");
    assert_eq!(police_events[0]["referral_id"], id);
    assert_eq!(police_events[0]["outcome"], "removed");
    assert!(events(nca).await.is_empty());
    let platform_events = events(platform).await;
    assert_eq!(platform_events.len(), 1);
    assert_eq!(platform_events[0]["type"], "referral.created");

    // Everything is in the hash-chained audit logs of the organisations involved.
    assert_eq!(
        audit_actions(s, nca).await[1..],
        ["referral.create".to_string()]
    );
    assert_eq!(
        audit_actions(s, police).await[1..],
        ["referral.join".to_string()]
    );
    assert_eq!(
        audit_actions(s, platform).await[1..],
        [
            "referral.receive",
            "referral.receive",
            "referral.acknowledge",
            "referral.decide"
        ]
    );
    assert_eq!(audit_actions(s, other).await.len(), 1);
}

async fn deadlines_filters_and_pages(h: &Harness) {
    let s = &h.store;
    let unit = org(s, "Unit", OrgKind::Government).await;
    let platform = org(s, "Platform", OrgKind::Platform).await;
    let late = s
        .create_referrals(
            unit,
            "key:1",
            &referral(platform, vec![url("https://a.example/1")], 0),
        )
        .await
        .unwrap()[0]
        .referral
        .id;
    let ok = s
        .create_referrals(
            unit,
            "key:1",
            &referral(platform, vec![url("https://a.example/2")], 24 * HOUR),
        )
        .await
        .unwrap()[0]
        .referral
        .id;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(s.referral(unit, late).await.unwrap().unwrap().overdue);
    assert!(!s.referral(unit, ok).await.unwrap().unwrap().overdue);
    let ids = |filter: ReferralFilter, o: i64| async move {
        s.list_referrals(o, &filter, None, 100)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|r| (r.id, r.overdue))
            .collect::<Vec<_>>()
    };
    let overdue = |v: bool| ReferralFilter {
        overdue: Some(v),
        ..ReferralFilter::default()
    };
    assert_eq!(ids(overdue(true), unit).await, vec![(late, true)]);
    assert_eq!(ids(overdue(false), unit).await, vec![(ok, false)]);
    assert_eq!(ids(overdue(true), platform).await, vec![(late, true)]);
    // Sent and received are the organisation's two sides.
    let role = |r: ReferralRole| ReferralFilter {
        role: Some(r),
        ..ReferralFilter::default()
    };
    assert_eq!(ids(role(ReferralRole::Sent), unit).await.len(), 2);
    assert!(ids(role(ReferralRole::Received), unit).await.is_empty());
    assert_eq!(ids(role(ReferralRole::Received), platform).await.len(), 2);
    assert!(ids(role(ReferralRole::Sent), platform).await.is_empty());

    // A decision, however late, ends the overdue state.
    s.decide_referral(
        platform,
        late,
        "key:2",
        ReferralOutcome::NoViolation,
        Some("news report"),
    )
    .await
    .unwrap();
    assert!(!s.referral(unit, late).await.unwrap().unwrap().overdue);
    assert!(ids(overdue(true), unit).await.is_empty());
    let status = |st: ReferralStatus| ReferralFilter {
        status: Some(st),
        ..ReferralFilter::default()
    };
    assert_eq!(
        ids(status(ReferralStatus::NoViolation), unit).await,
        vec![(late, false)]
    );
    assert_eq!(
        ids(status(ReferralStatus::Open), unit).await,
        vec![(ok, false)]
    );

    // Soonest deadline first, for a platform working through what it was sent; the
    // cursor carries the deadline, so pages do not skip or repeat.
    let soonest = |cursor: Option<String>| async move {
        s.list_referrals(
            platform,
            &ReferralFilter {
                order: Some(ReferralOrder::Deadline),
                ..ReferralFilter::default()
            },
            cursor.as_deref(),
            1,
        )
        .await
        .unwrap()
    };
    let first = soonest(None).await;
    assert_eq!(first.items[0].id, late);
    let second = soonest(first.next_cursor.clone()).await;
    assert_eq!(second.items[0].id, ok);
    assert!(second.next_cursor.is_none());
    assert!(matches!(
        s.list_referrals(
            unit,
            &ReferralFilter {
                order: Some(ReferralOrder::Deadline),
                ..ReferralFilter::default()
            },
            first.next_cursor.as_deref(),
            1
        )
        .await,
        Err(StoreError::InvalidCursor)
    ));

    // Content found not to violate is asked about again by a new referral.
    let asked_again = s
        .create_referrals(
            unit,
            "key:1",
            &referral(platform, vec![url("https://a.example/1")], HOUR),
        )
        .await
        .unwrap();
    assert!(asked_again[0].created);
    assert_ne!(asked_again[0].referral.id, late);

    // Pages, newest first; a cursor is only good for the organisation it was given to.
    let batch: Vec<ReferralTarget> = (0..5)
        .map(|i| url(&format!("https://b.example/{i}")))
        .collect();
    assert_eq!(
        s.create_referrals(unit, "key:1", &referral(platform, batch, HOUR))
            .await
            .unwrap()
            .len(),
        5
    );
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .list_referrals(unit, &ReferralFilter::default(), cursor.as_deref(), 3)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next_cursor {
            Some(c) => {
                assert!(matches!(
                    s.list_referrals(platform, &ReferralFilter::default(), Some(&c), 3)
                        .await,
                    Err(StoreError::InvalidCursor)
                ));
                cursor = Some(c);
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
}

async fn texts_items_and_refusals(h: &Harness) {
    let s = &h.store;
    let unit = org(s, "Unit", OrgKind::Government).await;
    let unit2 = org(s, "Unit 2", OrgKind::Government).await;
    let platform = org(s, "Platform", OrgKind::Platform).await;
    let ngo = org(s, "NGO", OrgKind::Ngo).await;
    let text = "Boat to UK tonight, pay on arrival";
    let item = Item {
        id: "ad-1".into(),
        text: text.into(),
        url: Some("https://social.example/p/42".into()),
        ..Item::default()
    };
    let assessment = Assessment {
        id: "ad-1".into(),
        verdict: Verdict::Violating,
        category: Some(Category::SmugglingService),
        score: 0.9,
        language: "en".into(),
        script: "Latn".into(),
        indicators: vec![],
        entities: vec![],
        matches: vec![],
        media: vec![],
        intervention: None,
        contributions: Contributions::default(),
        reasons: vec![],
    };
    let (stored, _) = s.insert_item(unit, &item, &assessment).await.unwrap();
    let by_item = s
        .create_referrals(
            unit,
            "key:1",
            &referral(platform, vec![ReferralTarget::Item(stored.id)], HOUR),
        )
        .await
        .unwrap();
    let r = &by_item[0].referral;
    assert_eq!(r.url.as_deref(), Some("https://social.example/p/42"));
    assert_eq!(r.text.as_deref(), Some(text));
    // The same text, re-pasted with other spacing and case, by another unit: the same
    // referral. So is its URL alone.
    let by_text = s
        .create_referrals(
            unit2,
            "key:2",
            &referral(
                platform,
                vec![ReferralTarget::Text(
                    "boat to uk  TONIGHT, pay on arrival".into(),
                )],
                HOUR,
            ),
        )
        .await
        .unwrap();
    assert!(by_text[0].joined);
    assert_eq!(by_text[0].referral.id, r.id);

    // Another organisation's item, a platform that is not one, a referrer that is not a
    // government unit, bad URLs and empty requests are refused, and nothing is stored.
    let refused = [
        (
            unit2,
            referral(platform, vec![ReferralTarget::Item(stored.id)], HOUR),
        ),
        (unit, referral(ngo, vec![url("https://c.example/1")], HOUR)),
        (unit, referral(9999, vec![url("https://c.example/1")], HOUR)),
        (
            platform,
            referral(platform, vec![url("https://c.example/1")], HOUR),
        ),
        (
            ngo,
            referral(platform, vec![url("https://c.example/1")], HOUR),
        ),
        (
            unit,
            referral(
                platform,
                vec![url("https://c.example/1"), url("ftp://x")],
                HOUR,
            ),
        ),
        (unit, referral(platform, vec![], HOUR)),
        (
            unit,
            referral(platform, vec![url("https://c.example/1")], -1),
        ),
    ];
    for (who, new) in refused {
        let result = s.create_referrals(who, "key:1", &new).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{new:?}");
    }
    let mut blank = referral(platform, vec![url("https://c.example/1")], HOUR);
    blank.legal_basis = " ".into();
    assert!(matches!(
        s.create_referrals(unit, "key:1", &blank).await,
        Err(StoreError::Invalid(_))
    ));
    let all = s
        .list_referrals(platform, &ReferralFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

/// Units racing to refer the same content still make one referral.
async fn concurrent_referrals_make_one(h: &Harness) {
    let s = &h.store;
    let platform = org(s, "Platform", OrgKind::Platform).await;
    let mut units = Vec::new();
    for i in 0..6 {
        units.push(org(s, &format!("Unit {i}"), OrgKind::Government).await);
    }
    let tasks: Vec<_> = units
        .iter()
        .map(|&u| {
            let s = s.clone();
            tokio::spawn(async move {
                let new = referral(platform, vec![url("https://race.example/ad")], HOUR);
                s.create_referrals(u, "key:1", &new)
                    .await
                    .unwrap()
                    .remove(0)
            })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        created += usize::from(r.created);
        ids.insert(r.referral.id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    let id = *ids.first().unwrap();
    let r = s.referral(platform, id).await.unwrap().unwrap();
    assert_eq!(r.referrers.len(), units.len());
    assert_eq!(r.timeline.len(), units.len());
    assert!(s.verify_audit(platform).await.unwrap().is_ok());
}

async fn catalogue_versions_and_counters(h: &Harness) {
    let s = &h.store;
    let ngo = org(s, "NGO", OrgKind::Ngo).await;
    let platform = org(s, "Platform", OrgKind::Platform).await;
    let v1 =
        json!({"id": "channel-en-1", "language": "en", "title": "v1", "body": "b", "source": "s"});
    let v2 =
        json!({"id": "channel-en-1", "language": "en", "title": "v2", "body": "b", "source": "s"});
    let first = s
        .put_intervention(ngo, "key:1", "channel-en-1", &v1, true, Some(0))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    // An edit based on a version that is no longer the latest is refused.
    assert!(matches!(
        s.put_intervention(ngo, "key:1", "channel-en-1", &v2, true, Some(0))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let second = s
        .put_intervention(ngo, "key:1", "channel-en-1", &v2, true, Some(1))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    s.put_intervention(ngo, "key:1", "other-fr-1", &v1, false, None)
        .await
        .unwrap();
    let live = s.intervention_overrides().await.unwrap();
    let live: Vec<(&str, i64, &str, bool)> = live
        .iter()
        .map(|v| {
            (
                v.message_id.as_str(),
                v.version,
                v.message["title"].as_str().unwrap(),
                v.active,
            )
        })
        .collect();
    assert_eq!(
        live,
        vec![
            ("channel-en-1", 2, "v2", true),
            ("other-fr-1", 1, "v1", false)
        ]
    );
    let versions = s.intervention_versions("channel-en-1").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(versions[0].message, v1);
    assert_eq!(versions[0].organisation_id, ngo);
    assert!(s.intervention_versions("none").await.unwrap().is_empty());
    assert_eq!(audit_actions(s, ngo).await[1..], ["intervention.update"; 3]);

    for _ in 0..3 {
        s.count_intervention(
            platform,
            "channel-en-1",
            "en",
            InterventionEvent::Impression,
        )
        .await
        .unwrap();
    }
    s.count_intervention(platform, "channel-en-1", "en", InterventionEvent::Dismissal)
        .await
        .unwrap();
    s.count_intervention(
        platform,
        "channel-en-1",
        "ti",
        InterventionEvent::Impression,
    )
    .await
    .unwrap();
    s.count_intervention(ngo, "channel-en-1", "en", InterventionEvent::Impression)
        .await
        .unwrap();
    let today = day_of(now_ms());
    let counts = s
        .intervention_counts(platform, today - 1, today + 2)
        .await
        .unwrap();
    let counts: Vec<(&str, i64, i64)> = counts
        .iter()
        .map(|c| (c.language.as_str(), c.impressions, c.dismissals))
        .collect();
    assert_eq!(counts, vec![("en", 3, 1), ("ti", 1, 0)]);
    assert!(s
        .intervention_counts(platform, today + 1, today + 2)
        .await
        .unwrap()
        .is_empty());
}

both_backends!(
    lifecycle_with_deconfliction,
    deadlines_filters_and_pages,
    texts_items_and_refusals,
    catalogue_versions_and_counters,
    concurrent_referrals_make_one,
);
