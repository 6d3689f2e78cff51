//! `breakwater report` and `breakwater refer` against seeded databases (embedded SQLite and
//! PostgreSQL): every figure of the report equals what the seeded items, decisions,
//! deliveries, referrals, appeals and impressions imply, and nothing outside the period
//! or of another organisation is counted.

use breakwater_core::{format_rfc3339_ms, Assessment, Category, Contributions, Item, Verdict};
use breakwater_store::{
    now_ms, Action, Decision, InterventionEvent, NewReferral, OrgKind, ReferralOutcome,
    ReferralTarget, Role, Store,
};
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::Duration;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const HOUR: i64 = 3_600_000;

fn run(db: &[&str], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(args)
        .args(db)
        .output()
        .expect("the binary starts")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn assessment(verdict: Verdict, category: Option<Category>) -> Assessment {
    Assessment {
        id: String::new(),
        verdict,
        category,
        score: 0.8,
        language: "en".into(),
        script: "Latn".into(),
        indicators: vec![],
        entities: vec![],
        matches: vec![],
        media: vec![],
        intervention: None,
        contributions: Contributions::default(),
        reasons: vec![],
    }
}

/// Nearest-rank percentile, computed independently of the store's.
fn nearest_rank(mut v: Vec<i64>, p: usize) -> Value {
    v.sort();
    if v.is_empty() {
        return Value::Null;
    }
    let rank = (p * v.len()).div_ceil(100).max(1);
    json!(v[rank - 1])
}

fn tta(times: Vec<i64>) -> Value {
    json!({
        "decided": times.len(),
        "median_ms": nearest_rank(times.clone(), 50),
        "p90_ms": nearest_rank(times, 90),
    })
}

struct Seeded {
    platform: i64,
    unit: i64,
    unit2: i64,
    /// The figures the report must show for each of them.
    platform_expected: Value,
    unit_expected: Value,
    unit2_expected: Value,
}

async fn decide(
    store: &Store,
    org: i64,
    item: i64,
    who: &breakwater_store::Principal,
    category: Option<Category>,
    action: Action,
) {
    let d = Decision {
        category,
        policy: "oic".into(),
        action,
        note: None,
    };
    store.decide(org, item, who, &d).await.unwrap();
}

async fn seed(store: &Store) -> Seeded {
    let platform = store
        .create_organisation("Platform & Co <b>", OrgKind::Platform)
        .await
        .unwrap()
        .id;
    let unit = store
        .create_organisation("Unit", OrgKind::Government)
        .await
        .unwrap()
        .id;
    let unit2 = store
        .create_organisation("Unit 2", OrgKind::Government)
        .await
        .unwrap()
        .id;
    let principal = |org: i64| async move {
        let (_, secret) = store
            .create_key(org, Role::Admin, "t", "test")
            .await
            .unwrap();
        store.authenticate(&secret).await.unwrap().unwrap()
    };
    let reviewer = principal(platform).await;
    let appeal_reviewer = principal(platform).await;

    // Items: 3 violating, 2 for review, 4 benign; one item of a unit, not counted.
    let mut ids = Vec::new();
    let kinds = [
        (Verdict::Violating, Some(Category::SmugglingService)),
        (Verdict::Violating, Some(Category::SmugglingService)),
        (Verdict::Violating, Some(Category::DocumentFraud)),
        (Verdict::Review, None),
        (Verdict::Review, None),
        (Verdict::Benign, None),
        (Verdict::Benign, None),
        (Verdict::Benign, None),
        (Verdict::Benign, None),
    ];
    for (i, (verdict, category)) in kinds.into_iter().enumerate() {
        let item = Item {
            id: format!("p-{i}"),
            text: format!("post {i}"),
            ..Item::default()
        };
        let (stored, _) = store
            .insert_item(platform, &item, &assessment(verdict, category))
            .await
            .unwrap();
        ids.push(stored.id);
    }
    let other = Item {
        id: "u-1".into(),
        text: "seen online".into(),
        ..Item::default()
    };
    store
        .insert_item(unit, &other, &assessment(Verdict::Violating, None))
        .await
        .unwrap();

    // Decisions: smuggling_service/remove ×2, document_fraud/restrict, none/none.
    use Category::*;
    decide(
        store,
        platform,
        ids[0],
        &reviewer,
        Some(SmugglingService),
        Action::Remove,
    )
    .await;
    decide(
        store,
        platform,
        ids[1],
        &reviewer,
        Some(SmugglingService),
        Action::Remove,
    )
    .await;
    decide(
        store,
        platform,
        ids[2],
        &reviewer,
        Some(DocumentFraud),
        Action::Restrict,
    )
    .await;
    decide(store, platform, ids[3], &reviewer, None, Action::None).await;
    // Appeals: three filed; one overturned (remove → none), one upheld, one pending.
    for &i in &ids[..3] {
        store
            .appeal(platform, i, "key:9", "not smuggling")
            .await
            .unwrap();
    }
    decide(
        store,
        platform,
        ids[0],
        &appeal_reviewer,
        Some(SmugglingService),
        Action::None,
    )
    .await;
    decide(
        store,
        platform,
        ids[2],
        &appeal_reviewer,
        Some(DocumentFraud),
        Action::Restrict,
    )
    .await;

    // Deliveries: the first three delivered, the fourth given up, the rest pending.
    let mut deliveries: Vec<i64> = store
        .list_deliveries(platform, None, None, 100)
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.id)
        .collect();
    deliveries.sort();
    assert_eq!(deliveries.len(), 6);
    for &d in &deliveries[..3] {
        store.mark_delivered(d).await.unwrap();
    }
    store
        .mark_failed(deliveries[3], None, "410 Gone")
        .await
        .unwrap();

    // Referrals: the unit refers four URLs (one with a deadline already passed); the
    // second unit joins the first and refers a fifth. Three are decided, a little apart.
    let refer = |org: i64, urls: &[&str], category: Category, deadline_ms: i64| {
        let new = NewReferral {
            platform_id: platform,
            targets: urls
                .iter()
                .map(|u| ReferralTarget::Url(u.to_string()))
                .collect(),
            legal_basis: "Online Safety Act 2023".into(),
            category,
            deadline_ms,
        };
        async move { store.create_referrals(org, "key:1", &new).await.unwrap() }
    };
    let made = refer(
        unit,
        &[
            "https://s.example/1",
            "https://s.example/2",
            "https://s.example/3",
        ],
        SmugglingService,
        24 * HOUR,
    )
    .await;
    let r: Vec<i64> = made.iter().map(|m| m.referral.id).collect();
    refer(unit, &["https://s.example/4"], SmugglingService, 0).await;
    tokio::time::sleep(Duration::from_millis(15)).await;
    let joined = refer(
        unit2,
        &["https://www.s.example/1/"],
        DocumentFraud,
        24 * HOUR,
    )
    .await;
    assert!(joined[0].joined);
    refer(unit2, &["https://s.example/5"], DocumentFraud, 24 * HOUR).await;
    let outcomes = [
        (r[0], ReferralOutcome::Removed, None),
        (r[1], ReferralOutcome::Restricted, None),
        (r[2], ReferralOutcome::NoViolation, Some("news report")),
    ];
    for (id, outcome, reason) in outcomes {
        tokio::time::sleep(Duration::from_millis(15)).await;
        store
            .decide_referral(platform, id, "key:2", outcome, reason)
            .await
            .unwrap();
    }
    let mut received_times = Vec::new();
    let mut unit_times = Vec::new();
    let mut unit2_times = Vec::new();
    for &id in &r {
        let referral = store.referral(platform, id).await.unwrap().unwrap();
        let decided = referral.decided_at.unwrap();
        received_times.push(decided - referral.created_at);
        for x in &referral.referrers {
            let wait = decided - x.referred_at;
            if x.organisation_id == unit {
                unit_times.push(wait);
            } else {
                unit2_times.push(wait);
            }
        }
    }
    assert_eq!((unit_times.len(), unit2_times.len()), (3, 1));

    // Impressions: per message and language; another organisation's are not counted.
    let shown = [
        ("channel-en-1", "en", InterventionEvent::Impression, 3),
        ("channel-en-1", "ti", InterventionEvent::Impression, 1),
        ("central_med-ar-1", "ar", InterventionEvent::Impression, 2),
        ("channel-en-1", "en", InterventionEvent::Dismissal, 1),
    ];
    for (message, lang, event, n) in shown {
        for _ in 0..n {
            store
                .count_intervention(platform, message, lang, event)
                .await
                .unwrap();
        }
    }
    store
        .count_intervention(unit, "channel-en-1", "en", InterventionEvent::Impression)
        .await
        .unwrap();

    let no_referrals = json!({
        "total": 0, "joined": 0, "by_category": {}, "by_outcome": {}, "overdue": 0,
        "time_to_action": {"decided": 0, "median_ms": null, "p90_ms": null},
        "time_to_action_by_category": {},
    });
    let no_interventions = json!({
        "impressions": 0, "dismissals": 0, "impressions_by_language": {},
        "impressions_by_message": {},
    });
    let no_deliveries = json!({"delivered": 0, "delivered_by_action": {}, "failed": 0});
    let no_appeals = json!({"filed": 0, "decided": 0, "upheld": 0, "overturned": 0});
    Seeded {
        platform,
        unit,
        unit2,
        platform_expected: json!({
            "items_by_verdict": {"violating": 3, "review": 2, "benign": 4},
            "items_total": 9,
            "decisions_by_category": {
                "smuggling_service": {"remove": 2},
                "document_fraud": {"restrict": 1},
                "none": {"none": 1},
            },
            "decisions_total": 4,
            "actions_delivered": {
                "delivered": 3,
                "delivered_by_action": {"remove": 2, "restrict": 1},
                "failed": 1,
            },
            "referrals_received": {
                "total": 5,
                "joined": 0,
                "by_category": {"smuggling_service": 4, "document_fraud": 1},
                "by_outcome": {"removed": 1, "restricted": 1, "no_violation": 1, "open": 2},
                "overdue": 1,
                "time_to_action": tta(received_times.clone()),
                "time_to_action_by_category": {"smuggling_service": tta(received_times)},
            },
            "referrals_sent": no_referrals,
            "appeals": {"filed": 3, "decided": 2, "upheld": 1, "overturned": 1},
            "interventions": {
                "impressions": 6,
                "dismissals": 1,
                "impressions_by_language": {"en": 3, "ti": 1, "ar": 2},
                "impressions_by_message": {"channel-en-1": 4, "central_med-ar-1": 2},
            },
        }),
        unit_expected: json!({
            "items_by_verdict": {"violating": 1},
            "items_total": 1,
            "decisions_by_category": {},
            "decisions_total": 0,
            "actions_delivered": no_deliveries,
            "referrals_received": no_referrals,
            "referrals_sent": {
                "total": 4,
                "joined": 0,
                "by_category": {"smuggling_service": 4},
                "by_outcome": {"removed": 1, "restricted": 1, "no_violation": 1, "open": 1},
                "overdue": 1,
                "time_to_action": tta(unit_times.clone()),
                "time_to_action_by_category": {"smuggling_service": tta(unit_times)},
            },
            "appeals": no_appeals,
            "interventions": {
                "impressions": 1, "dismissals": 0,
                "impressions_by_language": {"en": 1},
                "impressions_by_message": {"channel-en-1": 1},
            },
        }),
        unit2_expected: json!({
            "items_by_verdict": {},
            "items_total": 0,
            "decisions_by_category": {},
            "decisions_total": 0,
            "actions_delivered": no_deliveries,
            "referrals_received": no_referrals,
            "referrals_sent": {
                "total": 2,
                "joined": 1,
                "by_category": {"document_fraud": 2},
                "by_outcome": {"removed": 1, "open": 1},
                "overdue": 0,
                "time_to_action": tta(unit2_times.clone()),
                "time_to_action_by_category": {"document_fraud": tta(unit2_times)},
            },
            "appeals": no_appeals,
            "interventions": no_interventions,
        }),
    }
}

/// Runs the report for an organisation and checks every figure.
fn check(db: &[&str], org: i64, from: &str, to: &str, expected: &Value) {
    let out = stdout(&run(
        db,
        &[
            "report",
            "--org",
            &org.to_string(),
            "--from",
            from,
            "--to",
            to,
            "--format",
            "json",
        ],
    ));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["organisation"]["id"], org);
    for (field, want) in expected.as_object().unwrap() {
        assert_eq!(&report[field], want, "org {org}: {field}");
    }
}

async fn scenario(store: Store, db: Vec<String>) {
    let db: Vec<&str> = db.iter().map(String::as_str).collect();
    let s = seed(&store).await;
    store.close().await;
    let now = now_ms();
    let from = format_rfc3339_ms(now - 24 * HOUR)[..10].to_string();
    let to = format_rfc3339_ms(now + HOUR);
    check(&db, s.platform, &from, &to, &s.platform_expected);
    check(&db, s.unit, &from, &to, &s.unit_expected);
    check(&db, s.unit2, &from, &to, &s.unit2_expected);

    // A period before anything happened counts nothing.
    let empty = json!({
        "items_total": 0, "decisions_total": 0,
        "referrals_received": {"total": 0, "joined": 0, "by_category": {}, "by_outcome": {},
            "overdue": 0, "time_to_action": {"decided": 0, "median_ms": null, "p90_ms": null},
            "time_to_action_by_category": {}},
        "appeals": {"filed": 0, "decided": 0, "upheld": 0, "overturned": 0},
        "interventions": {"impressions": 0, "dismissals": 0, "impressions_by_language": {},
            "impressions_by_message": {}},
    });
    check(&db, s.platform, "2020-01-01", "2020-12-31", &empty);

    // The text formats show the same figures; HTML escapes what it is given.
    let org = s.platform.to_string();
    let args = ["report", "--org", &org, "--from", &from, "--to", &to];
    let md = stdout(&run(&db, &[&args[..], &["--format", "markdown"]].concat()));
    for line in [
        "# Transparency report: Platform & Co <b>",
        "| violating | 3 |",
        "| total | 9 |",
        "| smuggling_service | remove | 2 |",
        "| total delivered | 3 |",
        "| referrals | 5 | 0 |",
        "| undecided at the end of the period | 2 | 0 |",
        "| of which past their deadline | 1 | 0 |",
        "| overturned | 1 |",
        "| impressions in `ti` | 1 |",
    ] {
        assert!(md.contains(line), "{line} not in\n{md}");
    }
    let html = stdout(&run(&db, &[&args[..], &["--format", "html"]].concat()));
    assert!(html.contains("<h1>Transparency report: Platform &amp; Co &lt;b&gt;</h1>"));
    assert!(html.contains("<tr><td>violating</td><td>3</td></tr>"));
    assert_eq!(html.matches("<table>").count(), 6);

    // Usage errors.
    for bad in [
        vec![
            "report",
            "--org",
            "99999",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
        ],
        vec![
            "report",
            "--org",
            &org,
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-01",
        ],
        vec![
            "report",
            "--org",
            &org,
            "--from",
            "soon",
            "--to",
            "2026-01-01",
        ],
    ] {
        assert_eq!(run(&db, &bad).status.code(), Some(2), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_figures_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("breakwater.db").to_str().unwrap())
        .await
        .unwrap();
    let db = vec!["--data-dir".to_string(), dir.path().display().to_string()];
    scenario(store, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_figures_on_postgres() {
    let name = format!(
        "bw_report_{}_{}",
        std::process::id(),
        now_ms() % 1_000_000_000
    );
    let admin = sqlx::PgPool::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL must be reachable at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let store = Store::open(&url).await.unwrap();
    let outcome = tokio::spawn(scenario(store, vec!["--database-url".into(), url])).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `breakwater refer`: a file of URLs, checked whole before anything is stored, then
/// de-conflicted against another unit's referrals.
#[test]
fn refer_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let db = ["--data-dir", d.as_str()];
    let create = |name: &str, kind: &str| {
        stdout(&run(&db, &["admin", "create-org", name, "--kind", kind]))
            .trim()
            .to_string()
    };
    let unit = create("Unit", "government");
    let unit2 = create("Unit 2", "government");
    let platform = create("Platform", "platform");
    let file = dir.path().join("urls.txt");
    let f = file.to_str().unwrap();
    let refer = |from: &str, to: &str| {
        run(
            &db,
            &[
                "refer",
                f,
                "--from-org",
                from,
                "--to-org",
                to,
                "--legal-basis",
                "OSA 2023",
                "--category",
                "smuggling_service",
                "--deadline-hours",
                "12",
            ],
        )
    };

    std::fs::write(
        &file,
        "https://a.example/1\nnot a url\n\nmailto:x@y.example\n",
    )
    .unwrap();
    let bad = refer(&unit, &platform);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2") && err.contains("line 4"), "{err}");

    std::fs::write(
        &file,
        "# found on 2026-01-05\nhttps://a.example/1\nhttps://a.example/2\nhttps://a.example/1?utm_source=x\n",
    )
    .unwrap();
    let out = stdout(&refer(&unit, &platform));
    let states: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(states, ["new", "new", "already referred"]);
    let out = stdout(&refer(&unit2, &platform));
    let states: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(states, ["joined", "joined", "already referred"]);

    // A platform does not refer, and referrals go to platforms only.
    assert_eq!(refer(&platform, &platform).status.code(), Some(2));
    assert_eq!(refer(&unit, &unit2).status.code(), Some(2));

    let report = stdout(&run(
        &db,
        &[
            "report",
            "--org",
            &unit2,
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
            "--format",
            "json",
        ],
    ));
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["referrals_sent"]["total"], 2);
    assert_eq!(report["referrals_sent"]["joined"], 2);
    assert_eq!(report["referrals_sent"]["by_outcome"]["open"], 2);
    assert!(stdout(&run(&db, &["audit", "verify", "--org", &platform])).contains("chain intact"));
}
