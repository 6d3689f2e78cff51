//! Two Breakwater instances (separate databases, separate ports) sharing over TAXII 2.1: a
//! signal added on A matches an item on B; TLP:RED never crosses; feedback from B is tallied
//! on A; pulling back what we shared brings no loop and no duplicate; removals propagate.

mod common;

use breakwater_core::{Signal, SignalKind};
use breakwater_server::exchange::{self, auth_from};
use breakwater_server::taxii::collection_id;
use breakwater_server::{app, AppState};
use breakwater_share::client::TaxiiClient;
use breakwater_store::{Feedback, NewBank, NewSignal, OrgKind, Role, Store};
use serde_json::json;

struct Instance {
    store: Store,
    state: AppState,
    root: String,
    _dir: tempfile::TempDir,
}

async fn instance() -> Instance {
    std::env::set_var("BREAKWATER_QUIET", "1");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let state = common::state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Instance {
        store,
        state,
        root: format!("http://{addr}/taxii2/api/"),
        _dir: dir,
    }
}

fn phone(p: &str) -> Signal {
    Signal::parse(SignalKind::Phone, p).unwrap()
}

async fn classify(i: &Instance, org: i64, text: &str) -> serde_json::Value {
    let item = breakwater_core::Item {
        id: "x".into(),
        text: text.into(),
        ..Default::default()
    };
    let banks = i.state.banks.current(&i.store, org).await.unwrap();
    let matcher = banks.matcher.read().unwrap();
    let a = i.state.pipeline.assess_with(
        &item,
        &Default::default(),
        Some(&matcher),
        breakwater_store::now_ms(),
    );
    serde_json::to_value(a).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_signals_feedback_and_nothing_more() {
    let a = instance().await;
    let b = instance().await;

    // On A: the referral unit and its banks; an account for B to pull with.
    let unit = a
        .store
        .create_organisation("Unit-A", OrgKind::Government)
        .await
        .unwrap()
        .id;
    let mut shared = NewBank::named("uk");
    shared.share_with = "*".into();
    shared.tlp = "green".into();
    a.store.create_bank(unit, &shared, "t").await.unwrap();
    let mut secret = NewBank::named("secret");
    secret.share_with = "*".into();
    secret.tlp = "red".into();
    a.store.create_bank(unit, &secret, "t").await.unwrap();
    let mut known = NewSignal::new(phone("+44 7911 123456"));
    known.source = Some("unit-a investigation".into());
    a.store
        .add_signals(unit, "uk", &[known], "t")
        .await
        .unwrap();
    a.store
        .add_signals(
            unit,
            "secret",
            &[NewSignal::new(phone("+44 7911 999999"))],
            "t",
        )
        .await
        .unwrap();
    let b_on_a = a
        .store
        .create_organisation("Platform-B", OrgKind::Platform)
        .await
        .unwrap()
        .id;
    let (_, b_key_on_a) = a
        .store
        .create_key(b_on_a, Role::Analyst, "partner", "t")
        .await
        .unwrap();

    // B sees A's shared bank, never the TLP:RED one.
    let client = TaxiiClient::new(Some(auth_from(&format!("key:{b_key_on_a}")).unwrap()));
    let collections = client.collections(&a.root).await.unwrap();
    let titles: Vec<&str> = collections.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, ["Unit-A: uk"]);
    let banks = a.store.banks(unit).await.unwrap();
    let secret_id = collection_id(banks.iter().find(|b| b.name == "secret").unwrap().id);
    let uk_id = collection_id(banks.iter().find(|b| b.name == "uk").unwrap().id);
    assert!(client
        .get_objects(&a.root, &secret_id, None, Some(10))
        .await
        .is_err());

    // On B: the platform pulls A's collection into a bank and matches an advert with it.
    let platform = b
        .store
        .create_organisation("Platform-B", OrgKind::Platform)
        .await
        .unwrap()
        .id;
    b.store
        .upsert_feed(
            platform,
            &a.root,
            &uk_id,
            "from-a",
            &format!("key:{b_key_on_a}"),
        )
        .await
        .unwrap();
    let mut feed = b.store.feeds().await.unwrap().remove(0);
    let report = exchange::pull(&b.store, Some(&b.state.banks), &mut feed)
        .await
        .unwrap();
    assert_eq!(report.added, 1, "{report:?}");
    let advert = "crossing tonight, call +44 7911 123456";
    let got = classify(&b, platform, advert).await;
    assert_eq!(got["matches"][0]["bank"], "from-a", "{got}");
    assert_eq!(got["matches"][0]["source"], "unit-a investigation");
    let red = classify(&b, platform, "call +44 7911 999999").await;
    assert_eq!(red["matches"], json!([]));

    // Pulling again: the checkpoint brings nothing new, and nothing is duplicated.
    let mut feed = b.store.feeds().await.unwrap().remove(0);
    assert!(feed.added_after.is_some());
    let again = exchange::pull(&b.store, None, &mut feed).await.unwrap();
    assert_eq!((again.added, again.updated), (0, 0), "{again:?}");

    // B's reviewer finds the number is a false positive and tells A; A sees the tally.
    let status = exchange::send_feedback(
        &a.root,
        &uk_id,
        auth_from(&format!("key:{b_key_on_a}")).unwrap(),
        "Unit-A",
        &phone("+447911123456"),
        Feedback::FalsePositive,
        Some("a taxi firm"),
    )
    .await
    .unwrap();
    assert_eq!(status.success_count, 1, "{status:?}");
    let on_a = a
        .store
        .lookup_signal(unit, &phone("+447911123456"))
        .await
        .unwrap();
    assert_eq!((on_a[0].disputed, on_a[0].confirmed), (1, 0));
    let feedback = a.store.feedback_on(on_a[0].id).await.unwrap();
    assert_eq!(feedback[0].0, b_on_a);
    assert_eq!(feedback[0].2.as_deref(), Some("a taxi firm"));

    // B shares its copy back with everyone; A pulling it gets no loop: the signal is A's own.
    b.store
        .update_bank(
            platform,
            "from-a",
            &serde_json::from_value(json!({"share_with": "*", "tlp": "green"})).unwrap(),
            "t",
        )
        .await
        .unwrap();
    let a_on_b = b
        .store
        .create_organisation("Unit-A", OrgKind::Government)
        .await
        .unwrap()
        .id;
    let (_, a_key_on_b) = b
        .store
        .create_key(a_on_b, Role::Analyst, "partner", "t")
        .await
        .unwrap();
    let from_a_on_b = b
        .store
        .bank_by_name(platform, "from-a")
        .await
        .unwrap()
        .unwrap();
    a.store
        .upsert_feed(
            unit,
            &b.root,
            &collection_id(from_a_on_b.id),
            "from-b",
            &format!("key:{a_key_on_b}"),
        )
        .await
        .unwrap();
    let mut back = a.store.feeds().await.unwrap().remove(0);
    let looped = exchange::pull(&a.store, None, &mut back).await.unwrap();
    assert_eq!((looped.own, looped.added), (1, 0), "{looped:?}");

    // A withdraws the signal; B's next pull removes it and the advert stops matching.
    a.store
        .remove_signal(unit, "uk", &phone("+447911123456"), "t")
        .await
        .unwrap();
    let mut feed = b.store.feeds().await.unwrap().remove(0);
    let removal = exchange::pull(&b.store, Some(&b.state.banks), &mut feed)
        .await
        .unwrap();
    assert_eq!(removal.removed, 1, "{removal:?}");
    let got = classify(&b, platform, advert).await;
    assert_eq!(got["matches"], json!([]));

    // A partner cannot add signals to A's collection, only opinions.
    let forged = json!({"objects": [{
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[x-phone-number:value = '+447911000000']", "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z", "indicator_types": ["malicious-activity"]
    }]});
    let status = client.add_objects(&a.root, &uk_id, &forged).await.unwrap();
    assert_eq!((status.success_count, status.failure_count), (0, 1));
    assert!(a
        .store
        .lookup_signal(unit, &phone("+447911000000"))
        .await
        .unwrap()
        .is_empty());
}
