//! Key management, the webhook setting and delivery status, on SQLite and PostgreSQL.

mod common;

use axum::http::StatusCode;
use breakwater_store::Store;
use common::{on_postgres, on_sqlite, org, Api};
use serde_json::{json, Value};

fn key_id(keys: &Value, label: &str) -> i64 {
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .unwrap_or_else(|| panic!("no key {label} in {keys}"))["id"]
        .as_i64()
        .unwrap()
}

async fn audit_actions(api: &Api, key: &str) -> Vec<Value> {
    let (status, audit) = api.call("GET", "/v1/audit", Some(key), None).await;
    assert_eq!(status, StatusCode::OK);
    audit["items"].as_array().unwrap().clone()
}

async fn keys_scenario(store: Store) {
    let api = Api::new(store.clone());
    let a = org(&store, "A").await;
    let b = org(&store, "B").await;

    // Listing: admins and analysts; never a secret or its hash.
    let (status, text) = api
        .call_text("GET", "/v1/keys", Some(&a.analyst), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !text.contains("secret") && !text.contains(&a.admin[3..]),
        "{text}"
    );
    let keys: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 4);
    let admin_id = key_id(&keys, "admin");
    for key in [&a.reviewer, &a.ingest] {
        assert_eq!(
            api.call("GET", "/v1/keys", Some(key), None).await.0,
            StatusCode::FORBIDDEN
        );
    }

    // Creating: admins only, a known role and a label.
    let new = json!({"role": "ingest", "label": "crawler"});
    assert_eq!(
        api.call("POST", "/v1/keys", Some(&a.analyst), Some(new.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"role": "superuser", "label": "x"}),
        json!({"role": "ingest", "label": "  "}),
        json!({"role": "ingest"}),
        json!({"role": "ingest", "label": "x", "org": b.id}),
    ] {
        let (status, body) = api
            .call("POST", "/v1/keys", Some(&a.admin), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, created) = api
        .call("POST", "/v1/keys", Some(&a.admin), Some(new))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("bw_") && secret.len() > 40, "{created}");
    assert_eq!(created["key"]["role"], "ingest");
    assert_eq!(created["key"]["active"], true);
    let new_id = created["key"]["id"].as_i64().unwrap();
    let classify = json!({"id": "c", "text": "hello"});
    assert_eq!(
        api.call(
            "POST",
            "/v1/classify",
            Some(&secret),
            Some(classify.clone())
        )
        .await
        .0,
        StatusCode::OK,
        "the new key works at once"
    );
    let (_, text) = api.call_text("GET", "/v1/keys", Some(&a.admin), None).await;
    assert!(
        text.contains("crawler") && !text.contains(&secret[3..]),
        "{text}"
    );

    // Revoking: not another organisation's key, not by a non-admin.
    let path = format!("/v1/keys/{new_id}");
    assert_eq!(
        api.call("DELETE", &path, Some(&b.admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call("DELETE", &path, Some(&a.analyst), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(
            "POST",
            "/v1/classify",
            Some(&secret),
            Some(classify.clone())
        )
        .await
        .0,
        StatusCode::OK,
        "failed revocations leave the key working"
    );
    assert_eq!(
        api.call("DELETE", &path, Some(&a.admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = api
        .call("POST", "/v1/classify", Some(&secret), Some(classify))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once: {body}");
    assert_eq!(
        api.call("DELETE", &path, Some(&a.admin), None).await.0,
        StatusCode::NO_CONTENT,
        "revoking twice is harmless"
    );
    for missing in ["/v1/keys/999999", "/v1/keys/abc"] {
        assert_eq!(
            api.call("DELETE", missing, Some(&a.admin), None).await.0,
            StatusCode::NOT_FOUND
        );
    }
    let (_, keys) = api.call("GET", "/v1/keys", Some(&a.admin), None).await;
    let revoked = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id)
        .unwrap();
    assert_eq!(revoked["active"], false);
    assert!(revoked["revoked_at"].is_i64(), "{revoked}");
    // B's list is B's own.
    let (_, keys_b) = api.call("GET", "/v1/keys", Some(&b.admin), None).await;
    assert!(keys_b["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["id"] != new_id));

    // Both changes are in A's audit log, by the admin key, exactly once each.
    let entries = audit_actions(&api, &a.admin).await;
    let subject = format!("key:{new_id}");
    for action in ["key.create", "key.revoke"] {
        let found: Vec<_> = entries
            .iter()
            .filter(|e| e["action"] == action && e["subject"] == subject)
            .collect();
        assert_eq!(found.len(), 1, "{action}: {entries:?}");
        assert_eq!(found[0]["actor"], format!("key:{admin_id}"));
    }
    assert!(audit_actions(&api, &b.admin)
        .await
        .iter()
        .all(|e| e["subject"] != subject));
    assert!(store.verify_audit(a.id).await.unwrap().is_ok());

    // Revoking one's own key is allowed, and takes effect on the next request.
    let own = format!("/v1/keys/{admin_id}");
    assert_eq!(
        api.call("DELETE", &own, Some(&a.admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call("GET", "/v1/keys", Some(&a.admin), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn deliveries_scenario(store: Store) {
    let api = Api::new(store.clone());
    let a = org(&store, "A").await;
    let b = org(&store, "B").await;

    // The webhook: write-only secret, admins set it, URLs checked, the change audited.
    assert_eq!(
        api.call("GET", "/v1/webhook", Some(&a.admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    let secret = "an-adequately-long-shared-secret";
    let hook = json!({"url": "https://hooks.example.org/bw", "secret": secret});
    assert_eq!(
        api.call("PUT", "/v1/webhook", Some(&a.analyst), Some(hook.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    for bad in [
        json!({"url": "ftp://hooks.example.org/bw", "secret": secret}),
        json!({"url": "hooks.example.org/bw", "secret": secret}),
        json!({"url": "https://hooks.example.org/bw", "secret": "short"}),
        json!({"url": "https://hooks.example.org/bw"}),
    ] {
        let (status, body) = api
            .call("PUT", "/v1/webhook", Some(&a.admin), Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, body) = api
        .call("PUT", "/v1/webhook", Some(&a.admin), Some(hook))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, text) = api
        .call_text("GET", "/v1/webhook", Some(&a.analyst), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"url": "https://hooks.example.org/bw"})
    );
    assert!(!text.contains(secret));
    assert_eq!(
        store.webhook(a.id).await.unwrap().unwrap().secret,
        secret,
        "the sender gets the secret"
    );
    assert_eq!(
        api.call("GET", "/v1/webhook", Some(&b.admin), None).await.0,
        StatusCode::NOT_FOUND
    );
    let entries = audit_actions(&api, &a.admin).await;
    let set = entries
        .iter()
        .find(|e| e["action"] == "webhook.set")
        .expect("the webhook change is audited");
    assert_eq!(set["details"]["url"], "https://hooks.example.org/bw");
    assert!(!set.to_string().contains(secret));

    // Deliveries: three of A's (one given up), one of B's.
    let event = |n: i64| json!({"type": "item.decide", "n": n});
    let mut a_ids = Vec::new();
    for n in 0..3 {
        a_ids.push(store.enqueue_delivery(a.id, &event(n)).await.unwrap());
    }
    let b_id = store.enqueue_delivery(b.id, &event(9)).await.unwrap();
    store
        .mark_failed(a_ids[1], None, "receiver answered 410 Gone")
        .await
        .unwrap();

    let api_ref = &api;
    let list = move |query: &'static str, key: &str| {
        let path = format!("/v1/deliveries{query}");
        let key = key.to_string();
        async move { api_ref.call("GET", &path, Some(&key), None).await }
    };
    let (status, all) = list("", &a.analyst).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let ids: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![a_ids[2], a_ids[1], a_ids[0]],
        "newest first, A's only"
    );
    let (_, dead) = list("?state=dead", &a.admin).await;
    assert_eq!(dead["items"].as_array().unwrap().len(), 1);
    assert_eq!(dead["items"][0]["id"], a_ids[1]);
    assert_eq!(dead["items"][0]["state"], "dead");
    assert_eq!(dead["items"][0]["last_error"], "receiver answered 410 Gone");
    let (_, pending) = list("?state=pending", &a.admin).await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        list("?state=lost", &a.admin).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(list("?limit=0", &a.admin).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        list("?colour=red", &a.admin).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(list("", &a.reviewer).await.0, StatusCode::FORBIDDEN);

    // Paging, and a cursor is no use to another organisation.
    let (_, first) = list("?limit=2", &a.admin).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (status, second) = api
        .call(
            "GET",
            &format!("/v1/deliveries?limit=2&cursor={cursor}"),
            Some(&a.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["id"], a_ids[0]);
    assert!(second["next_cursor"].is_null());
    assert_eq!(
        api.call(
            "GET",
            &format!("/v1/deliveries?cursor={cursor}"),
            Some(&b.admin),
            None
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    // One delivery.
    let (status, one) = api
        .call(
            "GET",
            &format!("/v1/deliveries/{}", a_ids[0]),
            Some(&a.analyst),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["state"], "pending");
    assert_eq!(one["attempts"], 0);
    assert_eq!(one["event"], event(0));
    for (path, key) in [
        (format!("/v1/deliveries/{b_id}"), &a.admin),
        (format!("/v1/deliveries/{}", a_ids[0]), &b.admin),
        ("/v1/deliveries/abc".to_string(), &a.admin),
    ] {
        assert_eq!(
            api.call("GET", &path, Some(key), None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        api.call("GET", "/v1/deliveries", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn keys_on_sqlite() {
    on_sqlite(keys_scenario).await;
}

#[tokio::test]
async fn keys_on_postgres() {
    on_postgres(keys_scenario).await;
}

#[tokio::test]
async fn deliveries_on_sqlite() {
    on_sqlite(deliveries_scenario).await;
}

#[tokio::test]
async fn deliveries_on_postgres() {
    on_postgres(deliveries_scenario).await;
}
