//! Campaigns and trends through the API on both backends: one template posted from many
//! accounts with changed numbers and prices is one campaign with a template; a reviewer's
//! decision on it applies to the members waiting for review; other organisations see
//! nothing; the shareable trend summary has no small cell.

mod common;

use axum::http::StatusCode;
use breakwater_store::Store;
use common::{org, Api};
use serde_json::{json, Value};

fn template_post(i: usize) -> Value {
    json!({
        "id": format!("t{i}"),
        "text": format!(
            "Boat to UK from Calais every night this week, only {} euro, 100% safe, call +44 7911 {:06}",
            1500 + 100 * i,
            100_000 + 7 * i
        ),
        "author": format!("account{i}"),
        "platform": "facebook",
    })
}

async fn scenario(store: Store) {
    let api = Api::new(store.clone());
    let a = org(&store, "campaigns-a").await;
    let b = org(&store, "campaigns-b").await;
    let mut batch: Vec<Value> = (0..8).map(template_post).collect();
    let unrelated = [
        "The council meets on Tuesday to discuss the new library opening hours.",
        "Selling my old fishing rod, barely used, message me for photos.",
        "Our football team won the match last night after a late goal.",
    ];
    for (i, t) in unrelated.iter().enumerate() {
        batch.push(json!({"id": format!("u{i}"), "text": t}));
    }
    let (s, _) = api
        .call("POST", "/v1/items", Some(&a.ingest), Some(json!(batch)))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, list) = api
        .call("GET", "/v1/campaigns", Some(&a.analyst), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let campaigns = list["campaigns"].as_array().unwrap();
    assert_eq!(campaigns.len(), 1, "{list}");
    assert_eq!(campaigns[0]["size"], 8);
    let template = campaigns[0]["template"].as_str().unwrap();
    assert!(
        template.contains("Calais") && template.contains('{'),
        "{template}"
    );
    let id = campaigns[0]["id"].as_u64().unwrap();

    let (s, detail) = api
        .call(
            "GET",
            &format!("/v1/campaigns/{id}"),
            Some(&a.reviewer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["members"].as_array().unwrap().len(), 8);
    assert_eq!(detail["accounts"].as_array().unwrap().len(), 8);
    assert!(!detail["template"]["slots"].as_array().unwrap().is_empty());
    assert_eq!(detail["timeline"][0]["items"], 8);
    let links = detail["links"].to_string();
    assert!(links.contains("+447911100000"), "{links}");

    // Another organisation: no campaigns, and this one is not found.
    let (_, other) = api
        .call("GET", "/v1/campaigns", Some(&b.analyst), None)
        .await;
    assert_eq!(other["campaigns"], json!([]));
    let (s, _) = api
        .call(
            "GET",
            &format!("/v1/campaigns/{id}"),
            Some(&b.analyst),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A decision on the campaign: reviewers only; applies to members waiting for review.
    let decision = json!({"category": "smuggling_service", "policy": "oic-1", "action": "remove", "note": "one network"});
    let (s, _) = api
        .call(
            "POST",
            &format!("/v1/campaigns/{id}/decision"),
            Some(&a.analyst),
            Some(decision.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, done) = api
        .call(
            "POST",
            &format!("/v1/campaigns/{id}/decision"),
            Some(&a.reviewer),
            Some(decision.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let decided = done["decided"].as_array().unwrap().len();
    let skipped = done["skipped"].as_array().unwrap().len();
    assert_eq!(decided + skipped, 8);
    assert!(decided >= 1, "{done}");
    // Again: nothing left to decide.
    let (_, again) = api
        .call(
            "POST",
            &format!("/v1/campaigns/{id}/decision"),
            Some(&a.reviewer),
            Some(decision),
        )
        .await;
    assert_eq!(again["decided"], json!([]));
    let (_, audit) = api
        .call("GET", "/v1/audit?limit=1000", Some(&a.admin), None)
        .await;
    assert!(audit.to_string().contains(&format!("campaign:{id}")));

    // Trends: counts of this organisation; the shared summary hides every small cell.
    let (s, trends) = api.call("GET", "/v1/trends", Some(&a.analyst), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(trends.to_string().contains("facebook"), "{trends}");
    let (s, csv) = api
        .call_text("GET", "/v1/trends?format=csv", Some(&a.analyst), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(csv.lines().count() > 1);
    let (s, shared) = api
        .call(
            "GET",
            "/v1/trends/shared?min_count=5",
            Some(&a.analyst),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    fn counts(v: &Value, out: &mut Vec<u64>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "count" {
                        out.extend(x.as_u64());
                    }
                    counts(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| counts(x, out)),
            _ => {}
        }
    }
    let mut shown = Vec::new();
    counts(&shared, &mut shown);
    assert!(shown.iter().all(|&n| n >= 5), "{shared}");
    let (s, _) = api
        .call("GET", "/v1/trends?format=xml", Some(&a.analyst), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, emerging) = api
        .call("GET", "/v1/trends/emerging", Some(&a.analyst), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(emerging["surges"].is_array());
    let (s, _) = api
        .call(
            "GET",
            "/v1/trends/emerging?week=soon",
            Some(&a.analyst),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn campaigns_on_sqlite() {
    common::on_sqlite(scenario).await;
}

#[tokio::test]
async fn campaigns_on_postgres() {
    common::on_postgres(scenario).await;
}
