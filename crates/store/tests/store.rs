//! One set of tests, run against both backends: SQLite in a temporary directory and
//! PostgreSQL at `postgres://postgres@127.0.0.1:5432/postgres` (a fresh database per test,
//! dropped at the end). If PostgreSQL is unreachable the PostgreSQL tests fail.

#[macro_use]
mod common;

use common::Harness;

use std::collections::HashSet;
use std::time::Duration;

use breakwater_core::{Assessment, Category, Contributions, Item, Verdict};
use breakwater_store::{
    now_ms, Action, Decision, DeliveryState, ItemFilter, OrgKind, Principal, Role, Store,
    StoreError, APPEALS_QUEUE,
};
use serde_json::json;

fn item(id: &str) -> Item {
    Item {
        id: id.to_string(),
        text: format!("text of {id}"),
        ..Item::default()
    }
}

fn assessment(id: &str, verdict: Verdict, category: Option<Category>, score: f32) -> Assessment {
    Assessment {
        id: id.to_string(),
        verdict,
        category,
        score,
        language: "en".to_string(),
        script: "Latn".to_string(),
        indicators: vec![],
        entities: vec![],
        matches: vec![],
        media: vec![],
        intervention: None,
        contributions: Contributions::default(),
        reasons: vec![],
    }
}

async fn org(store: &Store, name: &str) -> i64 {
    store
        .create_organisation(name, OrgKind::Platform)
        .await
        .unwrap()
        .id
}

async fn principal(store: &Store, org: i64, role: Role) -> Principal {
    let (_, secret) = store.create_key(org, role, "test", "system").await.unwrap();
    store.authenticate(&secret).await.unwrap().unwrap()
}

async fn insert_review(store: &Store, org: i64, id: &str) -> i64 {
    let a = assessment(id, Verdict::Review, Some(Category::SmugglingService), 0.6);
    store.insert_item(org, &item(id), &a).await.unwrap().0.id
}

fn decision(action: Action) -> Decision {
    Decision {
        category: Some(Category::SmugglingService),
        policy: "oic-1".into(),
        action,
        note: Some("looked at it".into()),
    }
}

async fn idempotent_insert(h: &Harness) {
    let s = &h.store;
    let o = org(s, "acme").await;
    let a = assessment("x1", Verdict::Violating, Some(Category::DocumentFraud), 0.9);
    let (first, created) = s.insert_item(o, &item("x1"), &a).await.unwrap();
    assert!(created);
    assert_eq!(first.external_id, "x1");
    assert_eq!(first.verdict, Verdict::Violating);
    assert_eq!(first.category, Some(Category::DocumentFraud));
    assert_eq!(first.item, item("x1"));
    assert_eq!(first.assessment, a);
    let (second, created) = s.insert_item(o, &item("x1"), &a).await.unwrap();
    assert!(!created);
    assert_eq!(second, first);
    let depths = s.queue_depths(o).await.unwrap();
    assert_eq!(depths.len(), 1);
    assert_eq!(depths[0].queue, "document_fraud");
    assert_eq!(depths[0].waiting, 1);
    // Benign items are stored but not queued; no category goes to `default`.
    s.insert_item(o, &item("b"), &assessment("b", Verdict::Benign, None, 0.1))
        .await
        .unwrap();
    s.insert_item(o, &item("r"), &assessment("r", Verdict::Review, None, 0.5))
        .await
        .unwrap();
    let depths = s.queue_depths(o).await.unwrap();
    let names: Vec<_> = depths.iter().map(|d| d.queue.as_str()).collect();
    assert_eq!(names, ["default", "document_fraud"]);
    assert_eq!(s.get_item(o, first.id).await.unwrap().unwrap(), first);
}

async fn cross_organisation(h: &Harness) {
    let s = &h.store;
    let a = org(s, "a").await;
    let b = org(s, "b").await;
    let id = insert_review(s, a, "shared-id").await;
    assert!(s.get_item(a, id).await.unwrap().is_some());
    assert!(s.get_item(b, id).await.unwrap().is_none());
    let page = s
        .list_items(b, &ItemFilter::default(), None, 100)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert!(page.next_cursor.is_none());
    let rb = principal(s, b, Role::Reviewer).await;
    assert!(s
        .claim(b, "smuggling_service", rb.key_id, Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
    let admin_b = principal(s, b, Role::Admin).await;
    assert!(matches!(
        s.decide(b, id, &admin_b, &decision(Action::Remove)).await,
        Err(StoreError::NotFound)
    ));
    // The same external id in another organisation is another item.
    let (other, created) = s
        .insert_item(
            b,
            &item("shared-id"),
            &assessment("shared-id", Verdict::Benign, None, 0.0),
        )
        .await
        .unwrap();
    assert!(created);
    assert_ne!(other.id, id);
}

async fn cursor_paging(h: &Harness) {
    let s = &h.store;
    let o = org(s, "pager").await;
    let mut all = HashSet::new();
    for i in 0..25 {
        let verdict = if i % 3 == 0 {
            Verdict::Benign
        } else {
            Verdict::Review
        };
        let id = format!("p{i}");
        let a = assessment(&id, verdict, Some(Category::EvasionCoaching), 0.5);
        let stored = s.insert_item(o, &item(&id), &a).await.unwrap().0;
        all.insert(stored.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_items(o, &ItemFilter::default(), cursor.as_deref(), 7)
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|i| i.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 25, "every item exactly once");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all);
    let benign = ItemFilter {
        verdict: Some(Verdict::Benign),
        ..ItemFilter::default()
    };
    let page = s.list_items(o, &benign, None, 100).await.unwrap();
    assert_eq!(page.items.len(), 9);
    assert!(page.items.iter().all(|i| i.verdict == Verdict::Benign));
    let other_lang = ItemFilter {
        lang: Some("fr".into()),
        ..ItemFilter::default()
    };
    assert!(s
        .list_items(o, &other_lang, None, 100)
        .await
        .unwrap()
        .items
        .is_empty());
    let future = ItemFilter {
        since: Some(now_ms() + 60_000),
        ..ItemFilter::default()
    };
    assert!(s
        .list_items(o, &future, None, 100)
        .await
        .unwrap()
        .items
        .is_empty());
    for bad in ["not-a-cursor", "", "7a7a", "31"] {
        assert!(
            matches!(
                s.list_items(o, &ItemFilter::default(), Some(bad), 10).await,
                Err(StoreError::InvalidCursor)
            ),
            "cursor {bad:?}"
        );
    }
}

async fn concurrent_claim(h: &Harness) {
    let s = &h.store;
    let o = org(s, "queue").await;
    let mut ids = HashSet::new();
    for i in 0..20 {
        ids.insert(insert_review(s, o, &format!("c{i}")).await);
    }
    let mut tasks = Vec::new();
    for r in 0..8 {
        let store = s.clone();
        let reviewer = principal(s, o, Role::Reviewer).await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(item) = store
                .claim(
                    o,
                    "smuggling_service",
                    reviewer.key_id,
                    Duration::from_secs(300),
                )
                .await
                .unwrap()
            {
                got.push((r, item.id));
            }
            got
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    let unique: HashSet<i64> = claimed.iter().map(|(_, id)| *id).collect();
    assert_eq!(claimed.len(), 20, "no item claimed twice: {claimed:?}");
    assert_eq!(unique, ids, "all items claimed");
    let depths = s.queue_depths(o).await.unwrap();
    assert_eq!((depths[0].waiting, depths[0].claimed), (0, 20));
}

async fn lease_expiry(h: &Harness) {
    let s = &h.store;
    let o = org(s, "lease").await;
    let id = insert_review(s, o, "l1").await;
    let r1 = principal(s, o, Role::Reviewer).await;
    let r2 = principal(s, o, Role::Reviewer).await;
    let lease = Duration::from_millis(1000);
    let got = s
        .claim(o, "smuggling_service", r1.key_id, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, id);
    assert!(s
        .claim(o, "smuggling_service", r2.key_id, lease)
        .await
        .unwrap()
        .is_none());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = s
        .claim(o, "smuggling_service", r2.key_id, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, id);
    // The first reviewer lost the item to the second.
    assert!(matches!(
        s.decide(o, id, &r1, &decision(Action::Label)).await,
        Err(StoreError::NotClaimant)
    ));
    s.decide(o, id, &r2, &decision(Action::Label))
        .await
        .unwrap();
}

async fn decide_requires_claimant(h: &Harness) {
    let s = &h.store;
    let o = org(s, "decide").await;
    let id = insert_review(s, o, "d1").await;
    let id2 = insert_review(s, o, "d2").await;
    let r1 = principal(s, o, Role::Reviewer).await;
    let r2 = principal(s, o, Role::Reviewer).await;
    let admin = principal(s, o, Role::Admin).await;
    // Unclaimed: nobody but an admin may decide.
    assert!(matches!(
        s.decide(o, id, &r1, &decision(Action::Remove)).await,
        Err(StoreError::NotClaimant)
    ));
    let got = s
        .claim(o, "smuggling_service", r1.key_id, Duration::from_secs(60))
        .await
        .unwrap();
    let got = got.unwrap().id;
    assert!(matches!(
        s.decide(o, got, &r2, &decision(Action::Remove)).await,
        Err(StoreError::NotClaimant)
    ));
    let d = s
        .decide(o, got, &r1, &decision(Action::Remove))
        .await
        .unwrap();
    assert_eq!(d.reviewer_key_id, r1.key_id);
    assert_eq!(d.queue, "smuggling_service");
    // Decided items leave the queue; deciding again is a conflict.
    assert!(matches!(
        s.decide(o, got, &r1, &decision(Action::Remove)).await,
        Err(StoreError::Conflict(_))
    ));
    let other = if got == id { id2 } else { id };
    s.decide(o, other, &admin, &decision(Action::None))
        .await
        .unwrap();
    assert!(s.queue_depths(o).await.unwrap().is_empty());
    assert_eq!(s.decisions(o, got).await.unwrap().len(), 1);
    // Each decision queued a webhook delivery.
    assert_eq!(s.due_deliveries(now_ms() + 1, 100).await.unwrap().len(), 2);
}

async fn appeal_needs_another_reviewer(h: &Harness) {
    let s = &h.store;
    let o = org(s, "appeals").await;
    let id = insert_review(s, o, "a1").await;
    let r1 = principal(s, o, Role::Reviewer).await;
    let r2 = principal(s, o, Role::Reviewer).await;
    assert!(matches!(
        s.appeal(o, id, "user", "why").await,
        Err(StoreError::Conflict(_))
    ));
    s.claim(o, "smuggling_service", r1.key_id, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    s.decide(o, id, &r1, &decision(Action::Remove))
        .await
        .unwrap();
    s.appeal(o, id, "user:42", "it was a news report")
        .await
        .unwrap();
    assert!(matches!(
        s.appeal(o, id, "user:42", "again").await,
        Err(StoreError::Conflict(_))
    ));
    let lease = Duration::from_millis(200);
    let got = s
        .claim(o, APPEALS_QUEUE, r1.key_id, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, id);
    assert!(matches!(
        s.decide(o, id, &r1, &decision(Action::None)).await,
        Err(StoreError::SameReviewer)
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.claim(o, APPEALS_QUEUE, r2.key_id, lease)
        .await
        .unwrap()
        .unwrap();
    let d = s.decide(o, id, &r2, &decision(Action::None)).await.unwrap();
    assert_eq!(d.queue, APPEALS_QUEUE);
    let all = s.decisions(o, id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].decision.action, Action::None);
    assert!(s.verify_audit(o).await.unwrap().is_ok());
}

async fn outbox_retry(h: &Harness) {
    let s = &h.store;
    let o = org(s, "outbox").await;
    let other = org(s, "other").await;
    let id = s
        .enqueue_delivery(o, &json!({"type": "test", "n": 1}))
        .await
        .unwrap();
    let now = now_ms() + 1;
    let due = s.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, id);
    assert_eq!(due[0].event, json!({"type": "test", "n": 1}));
    s.mark_failed(id, Some(now + 60_000), "HTTP 503")
        .await
        .unwrap();
    assert!(s.due_deliveries(now, 10).await.unwrap().is_empty());
    let d = s.delivery_status(o, id).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.attempts, d.last_error.as_deref()),
        (DeliveryState::Pending, 1, Some("HTTP 503"))
    );
    assert_eq!(s.due_deliveries(now + 60_000, 10).await.unwrap().len(), 1);
    s.mark_delivered(id).await.unwrap();
    let d = s.delivery_status(o, id).await.unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 2);
    assert!(d.delivered_at.is_some());
    assert!(matches!(
        s.mark_delivered(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.delivery_status(other, id).await.unwrap().is_none());
    // Giving up.
    let id2 = s
        .enqueue_delivery(o, &json!({"type": "test", "n": 2}))
        .await
        .unwrap();
    s.mark_failed(id2, None, "HTTP 410").await.unwrap();
    let d = s.delivery_status(o, id2).await.unwrap().unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Dead, 1));
    assert!(s
        .due_deliveries(now_ms() + 10_000_000, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn outbox_leases(h: &Harness) {
    let s = &h.store;
    let o = org(s, "senders").await;
    for n in 0..10 {
        s.enqueue_delivery(o, &json!({ "n": n })).await.unwrap();
    }
    let now = now_ms() + 1;
    let lease = Duration::from_secs(30);
    let (a, b) = tokio::join!(
        s.lease_due_deliveries(now, lease, 6),
        s.lease_due_deliveries(now, lease, 6)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 10);
    let ids: HashSet<i64> = a.iter().chain(&b).map(|d| d.id).collect();
    assert_eq!(ids.len(), 10, "no delivery handed out twice");
    assert!(s
        .lease_due_deliveries(now, lease, 10)
        .await
        .unwrap()
        .is_empty());
    s.mark_delivered(a[0].id).await.unwrap();
    // The sender of the others died: they come back when the lease runs out.
    let later = s
        .lease_due_deliveries(now + 31_000, lease, 100)
        .await
        .unwrap();
    assert_eq!(later.len(), 9);
}

async fn audit_chain(h: &Harness) {
    let s = &h.store;
    let edited = org(s, "edited").await;
    let deleted = org(s, "deleted").await;
    let truncated = org(s, "truncated").await;
    let intact = org(s, "intact").await;
    for o in [edited, deleted, truncated, intact] {
        let (key, _) = s.create_key(o, Role::Analyst, "k", "admin").await.unwrap();
        s.revoke_key(o, key.id, "admin").await.unwrap();
        s.append_audit(
            o,
            "key:1",
            "share.send",
            "signal:9",
            &json!({"to": "x", "n": [1, 2]}),
        )
        .await
        .unwrap();
    }
    // organisation.create, key.create, key.revoke, share.send
    assert_eq!(s.verify_audit(edited).await.unwrap(), Ok(4));
    let page = s.audit(edited, None, 3).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.items[1].action, "key.create");
    assert_eq!(page.items[1].prev_hash, page.items[0].hash);
    let rest = s
        .audit(edited, page.next_cursor.as_deref(), 3)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());
    assert!(matches!(
        s.audit(edited, Some("junk"), 3).await,
        Err(StoreError::InvalidCursor)
    ));
    let row_of =
        |o: i64, seq: usize| async move { s.audit(o, None, 100).await.unwrap().items[seq - 1].id };

    let row = row_of(edited, 2).await;
    let forged = r#"{"role":"admin","label":"k"}"#;
    let sql = format!("UPDATE audit_log SET details = '{forged}' WHERE id = {row}");
    let n = h.raw(&sql).await;
    assert_eq!(n, 1);
    let broken = s.verify_audit(edited).await.unwrap().unwrap_err();
    assert_eq!(broken.row_id, row);

    let row = row_of(deleted, 2).await;
    h.raw(&format!("DELETE FROM audit_log WHERE id = {row}"))
        .await;
    let broken = s.verify_audit(deleted).await.unwrap().unwrap_err();
    assert_eq!(
        broken.row_id,
        row_of(deleted, 2).await,
        "the row after the gap"
    );

    let row = row_of(truncated, 4).await;
    h.raw(&format!("DELETE FROM audit_log WHERE id = {row}"))
        .await;
    assert!(s.verify_audit(truncated).await.unwrap().is_err());

    assert_eq!(s.verify_audit(intact).await.unwrap(), Ok(4));
}

async fn key_auth(h: &Harness) {
    let s = &h.store;
    let o = org(s, "keys").await;
    let (key, secret) = s
        .create_key(o, Role::Ingest, "crawler", "admin")
        .await
        .unwrap();
    assert!(secret.starts_with("bw_"));
    assert_eq!(secret.len(), 3 + 64);
    let p = s.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(
        p,
        Principal {
            key_id: key.id,
            organisation_id: o,
            role: Role::Ingest
        }
    );
    let wrong = format!("bw_{}", "0".repeat(64));
    assert!(s.authenticate(&wrong).await.unwrap().is_none());
    assert!(s.authenticate("").await.unwrap().is_none());
    assert!(s.authenticate(&secret[3..]).await.unwrap().is_none());
    s.revoke_key(o, key.id, "admin").await.unwrap();
    assert!(s.authenticate(&secret).await.unwrap().is_none());
    let keys = s.list_keys(o).await.unwrap();
    assert!(keys[0].revoked_at.is_some());
    assert!(matches!(
        s.create_key(i64::MAX, Role::Admin, "ghost", "admin").await,
        Err(StoreError::NotFound)
    ));
    let other = org(s, "not-yours").await;
    assert!(matches!(
        s.revoke_key(other, key.id, "admin").await,
        Err(StoreError::NotFound)
    ));
}

async fn webhook_config(h: &Harness) {
    let s = &h.store;
    let o = org(s, "hooks").await;
    assert!(s.webhook(o).await.unwrap().is_none());
    s.set_webhook(o, "https://example.org/a", "s1")
        .await
        .unwrap();
    s.set_webhook(o, "https://example.org/b", "s2")
        .await
        .unwrap();
    let w = s.webhook(o).await.unwrap().unwrap();
    assert_eq!(
        (w.url.as_str(), w.secret.as_str()),
        ("https://example.org/b", "s2")
    );
}

async fn reopen_keeps_data(h: &Harness) {
    let s = &h.store;
    s.health().await.unwrap();
    let o = org(s, "durable").await;
    let id = insert_review(s, o, "keep").await;
    // Opening again re-runs the (already applied) migrations and sees the same data.
    let again = Store::open(&h.url).await.unwrap();
    assert_eq!(again.backend(), s.backend());
    assert_eq!(
        again.get_item(o, id).await.unwrap().unwrap().external_id,
        "keep"
    );
    assert_eq!(
        again.organisation(o).await.unwrap().unwrap().name,
        "durable"
    );
    again.close().await;
}

async fn claim_by_priority(h: &Harness) {
    let s = &h.store;
    let o = org(s, "priority").await;
    for (id, score) in [("low", 0.3), ("high", 0.95), ("mid", 0.6)] {
        let a = assessment(id, Verdict::Review, None, score);
        s.insert_item(o, &item(id), &a).await.unwrap();
    }
    let r = principal(s, o, Role::Reviewer).await;
    let mut order = Vec::new();
    while let Some(i) = s
        .claim(o, "default", r.key_id, Duration::from_secs(60))
        .await
        .unwrap()
    {
        order.push(i.external_id);
    }
    assert_eq!(order, ["high", "mid", "low"]);
}

both_backends!(
    idempotent_insert,
    cross_organisation,
    cursor_paging,
    concurrent_claim,
    lease_expiry,
    decide_requires_claimant,
    appeal_needs_another_reviewer,
    outbox_retry,
    outbox_leases,
    audit_chain,
    key_auth,
    webhook_config,
    reopen_keeps_data,
    claim_by_priority,
);

#[tokio::test]
async fn sqlite_is_in_wal_mode() {
    let h = Harness::sqlite().await;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&h.url);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    pool.close().await;
    h.finish().await;
}

/// Helper process for `sqlite_survives_kill_9`: inserts items forever, printing the id of
/// each one after `insert_item` has returned (the write was acknowledged).
#[tokio::test]
#[ignore = "helper process, started by sqlite_survives_kill_9"]
async fn kill9_child_writer() {
    let (Ok(path), Ok(org)) = (std::env::var("BW_KILL9_DB"), std::env::var("BW_KILL9_ORG")) else {
        return;
    };
    let store = Store::open(&path).await.unwrap();
    let org: i64 = org.parse().unwrap();
    for i in 0.. {
        let id = insert_review(&store, org, &format!("k{i}")).await;
        println!("ACK {id}");
    }
}

/// Acknowledged writes are still there after the writing process is killed with SIGKILL.
#[test]
fn sqlite_survives_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("breakwater.db")
        .to_str()
        .unwrap()
        .to_string();
    let org = rt.block_on(async {
        let store = Store::open(&path).await.unwrap();
        let o = org(&store, "kill9").await;
        store.close().await;
        o
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BW_KILL9_DB", &path)
        .env("BW_KILL9_ORG", org.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < 40 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.parse::<i64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    rt.block_on(async {
        let store = Store::open(&path).await.unwrap();
        for id in &acked {
            assert!(
                store.get_item(org, *id).await.unwrap().is_some(),
                "item {id} lost"
            );
        }
        assert!(store.verify_audit(org).await.unwrap().is_ok());
        store.close().await;
    });
}
