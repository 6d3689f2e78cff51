//! Signal banks on both backends: creation, labels, soft removal, the change feed, scoping
//! to the organisation, and the audit trail.

#[macro_use]
mod common;

use breakwater_core::{Category, Signal, SignalKind};
use breakwater_store::{BankPatch, MatchVerdict, NewBank, NewSignal, OrgKind, Store, StoreError};
use common::Harness;

async fn org(store: &Store, name: &str) -> i64 {
    store
        .create_organisation(name, OrgKind::Platform)
        .await
        .unwrap()
        .id
}

fn sig(kind: SignalKind, raw: &str) -> Signal {
    Signal::parse(kind, raw).unwrap()
}

fn new_signal(kind: SignalKind, raw: &str) -> NewSignal {
    NewSignal::new(sig(kind, raw))
}

async fn create_add_lookup(h: &Harness) {
    let s = &h.store;
    let a = org(s, "a").await;
    let mut bank = NewBank::named("uk-crossings");
    bank.category = Some(Category::SmugglingService);
    bank.pdq_threshold = 20;
    let created = s.create_bank(a, &bank, "key:1").await.unwrap();
    assert_eq!(created.pdq_threshold, 20);
    assert_eq!(created.verdict, MatchVerdict::Review);
    assert!(created.is_active(breakwater_store::now_ms()));

    // A second bank of the same name is a conflict; a bad name is refused.
    assert!(matches!(
        s.create_bank(a, &NewBank::named("uk-crossings"), "key:1")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_bank(a, &NewBank::named("has space"), "key:1")
            .await,
        Err(StoreError::Invalid(_))
    ));
    let mut too_far = NewBank::named("far");
    too_far.pdq_threshold = 200;
    assert!(matches!(
        s.create_bank(a, &too_far, "key:1").await,
        Err(StoreError::Invalid(_))
    ));

    let mut phone = new_signal(SignalKind::Phone, "+44 7700 900123");
    phone.source = Some("referral unit".into());
    let batch = vec![
        phone.clone(),
        new_signal(SignalKind::Handle, "telegram:@Boza_VIP"),
        new_signal(SignalKind::Md5, &"a".repeat(32)),
        // Repeated in the batch: stored once.
        phone,
    ];
    let report = s
        .add_signals(a, "uk-crossings", &batch, "key:1")
        .await
        .unwrap();
    assert_eq!((report.added, report.updated), (3, 0));
    let again = s
        .add_signals(
            a,
            "uk-crossings",
            &[new_signal(SignalKind::Md5, &"a".repeat(32))],
            "key:1",
        )
        .await
        .unwrap();
    assert_eq!((again.added, again.updated), (0, 1));

    let found = s
        .lookup_signal(a, &sig(SignalKind::Phone, "+447700900123"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].source.as_deref(), Some("referral unit"));
    assert_eq!(found[0].bank_id, created.id);

    let counts = s.bank_counts(a, created.id).await.unwrap();
    assert_eq!(counts.get("phone"), Some(&1));
    assert_eq!(counts.values().sum::<i64>(), 3);

    // Adding to a bank that does not exist (or is another organisation's) is NotFound.
    let b = org(s, "b").await;
    assert!(matches!(
        s.add_signals(b, "uk-crossings", &batch, "key:2").await,
        Err(StoreError::NotFound)
    ));
    assert!(s
        .lookup_signal(b, &sig(SignalKind::Phone, "+447700900123"))
        .await
        .unwrap()
        .is_empty());
    assert!(s.banks(b).await.unwrap().is_empty());
}

async fn removal_and_change_feed(h: &Harness) {
    let s = &h.store;
    let a = org(s, "a").await;
    s.create_bank(a, &NewBank::named("phones"), "t")
        .await
        .unwrap();
    let start = s.bank_seq(a).await.unwrap();
    let signals: Vec<NewSignal> = (0..25)
        .map(|i| new_signal(SignalKind::Phone, &format!("+4477009001{i:02}")))
        .collect();
    s.add_signals(a, "phones", &signals, "t").await.unwrap();
    let gone = sig(SignalKind::Phone, "+447700900105");
    s.remove_signal(a, "phones", &gone, "t").await.unwrap();
    // Removing twice: nothing left to remove.
    assert!(matches!(
        s.remove_signal(a, "phones", &gone, "t").await,
        Err(StoreError::NotFound)
    ));
    assert!(s.lookup_signal(a, &gone).await.unwrap().is_empty());

    // Follow the feed in pages of 10 from the start: every signal once in its latest state.
    let mut after = (start, 0);
    let mut seen = std::collections::BTreeMap::new();
    loop {
        let page = s.signal_changes(a, after, 10).await.unwrap();
        let Some(last) = page.last() else { break };
        after = (last.change_seq, last.id);
        for sig in page {
            seen.insert(sig.value.clone(), sig);
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(seen["+447700900105"].removed_at.is_some());
    assert_eq!(seen.values().filter(|s| s.removed_at.is_none()).count(), 24);
    assert_eq!(after.0, s.bank_seq(a).await.unwrap());

    // Re-adding brings it back, as a change after the removal.
    s.add_signals(a, "phones", &[NewSignal::new(gone.clone())], "t")
        .await
        .unwrap();
    let changes = s.signal_changes(a, after, 10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].removed_at.is_none());

    // Paging through the live signals of the bank.
    let bank = s.bank_by_name(a, "phones").await.unwrap().unwrap();
    let first = s
        .list_signals(a, bank.id, Some(SignalKind::Phone), None, 20)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 20);
    let rest = s
        .list_signals(a, bank.id, None, first.next_cursor.as_deref(), 20)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 5);
    assert!(rest.next_cursor.is_none());
    assert!(matches!(
        s.list_signals(a, bank.id, None, Some("zz"), 20).await,
        Err(StoreError::InvalidCursor)
    ));
}

async fn update_and_audit(h: &Harness) {
    let s = &h.store;
    let a = org(s, "a").await;
    s.create_bank(a, &NewBank::named("images"), "key:7")
        .await
        .unwrap();
    let seq = s.bank_seq(a).await.unwrap();
    let now = breakwater_store::now_ms();
    let patch: BankPatch = serde_json::from_str(&format!(
        r#"{{"disabled_until": {}, "pdq_threshold": 12, "verdict": "violating"}}"#,
        now + 60_000
    ))
    .unwrap();
    let bank = s.update_bank(a, "images", &patch, "key:7").await.unwrap();
    assert_eq!(bank.pdq_threshold, 12);
    assert_eq!(bank.verdict, MatchVerdict::Violating);
    assert!(!bank.is_active(now));
    assert!(bank.is_active(now + 61_000));
    assert!(bank.change_seq > seq);

    // `null` clears the pause; absent fields stay.
    let clear: BankPatch = serde_json::from_str(r#"{"disabled_until": null}"#).unwrap();
    let bank = s.update_bank(a, "images", &clear, "key:7").await.unwrap();
    assert_eq!(bank.disabled_until, None);
    assert_eq!(bank.pdq_threshold, 12);
    assert!(serde_json::from_str::<BankPatch>(r#"{"threshold": 3}"#).is_err());

    let off: BankPatch = serde_json::from_str(r#"{"enabled": false}"#).unwrap();
    assert!(!s
        .update_bank(a, "images", &off, "key:7")
        .await
        .unwrap()
        .is_active(now));
    assert!(matches!(
        s.update_bank(a, "nope", &off, "key:7").await,
        Err(StoreError::NotFound)
    ));

    let audit = s.audit(a, None, 100).await.unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"bank.create"), "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "bank.update").count(), 3);
    assert!(s.verify_audit(a).await.unwrap().is_ok());
}

/// Every combination of TLP × audience × reader: the banks a reader may pull are exactly
/// those the sharing rules allow, through the store's query and not only the rule.
async fn sharing_matrix(h: &Harness) {
    let s = &h.store;
    let owner = org(s, "owner").await;
    let member = org(s, "member").await;
    let stranger = org(s, "stranger").await;
    s.join_group(member, "channel").await.unwrap();
    let audiences = [
        String::new(),
        "*".to_string(),
        "group:channel".to_string(),
        format!("org:{member}"),
        format!("org:{stranger}"),
        format!("group:channel,org:{stranger}"),
    ];
    let mut expected: Vec<(String, Vec<i64>)> = Vec::new();
    for (t, tlp) in breakwater_store::TLP_LEVELS.iter().enumerate() {
        for (a, audience) in audiences.iter().enumerate() {
            let name = format!("b{t}{a}");
            let mut bank = NewBank::named(&name);
            bank.tlp = tlp.to_string();
            bank.share_with = audience.clone();
            s.create_bank(owner, &bank, "t").await.unwrap();
            // The rules, written out case by case.
            let mut readers = vec![owner];
            for (reader, in_group) in [(member, true), (stranger, false)] {
                let named = audience.split(',').any(|e| e == format!("org:{reader}"));
                let everyone = audience.split(',').any(|e| e == "*");
                let group = in_group && audience.split(',').any(|e| e == "group:channel");
                let allowed = match *tlp {
                    "red" => false,
                    "amber+strict" => named,
                    _ => named || everyone || group,
                };
                if allowed {
                    readers.push(reader);
                }
            }
            expected.push((name, readers));
        }
    }
    for reader in [owner, member, stranger] {
        let mut visible: Vec<String> = s
            .visible_banks(reader)
            .await
            .unwrap()
            .into_iter()
            .map(|v| {
                assert_eq!(v.owner, "owner");
                v.bank.name
            })
            .collect();
        visible.sort();
        let want: Vec<String> = expected
            .iter()
            .filter(|(_, readers)| readers.contains(&reader))
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(visible, want, "reader {reader}");
    }
    // Bad settings are refused.
    let mut bad = NewBank::named("bad");
    bad.tlp = "purple".into();
    assert!(matches!(
        s.create_bank(owner, &bad, "t").await,
        Err(StoreError::Invalid(_))
    ));
    bad.tlp = "green".into();
    bad.share_with = "everyone".into();
    assert!(matches!(
        s.create_bank(owner, &bad, "t").await,
        Err(StoreError::Invalid(_))
    ));
}

both_backends!(
    create_add_lookup,
    removal_and_change_feed,
    update_and_audit,
    sharing_matrix
);
