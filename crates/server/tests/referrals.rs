//! Referrals and the interventions API through the router, on SQLite and PostgreSQL:
//! a referral across organisations with de-confliction, deadlines, the timeline, 404s for
//! everyone else, limits by role and organisation kind; messages in the reader's language
//! with fallbacks, counters, and catalogue versions.

mod common;

use axum::http::StatusCode;
use breakwater_store::{day_of, now_ms, OrgKind, Role, Store};
use common::{on_postgres, on_sqlite, Api};
use serde_json::{json, Value};

/// An organisation of a kind, with a key per role.
struct Org {
    id: i64,
    admin: String,
    analyst: String,
    reviewer: String,
    ingest: String,
}

async fn org(store: &Store, name: &str, kind: OrgKind) -> Org {
    let o = store.create_organisation(name, kind).await.unwrap();
    let key = |role: Role| async move {
        store
            .create_key(o.id, role, role.as_str(), "test")
            .await
            .unwrap()
            .1
    };
    Org {
        id: o.id,
        admin: key(Role::Admin).await,
        analyst: key(Role::Analyst).await,
        reviewer: key(Role::Reviewer).await,
        ingest: key(Role::Ingest).await,
    }
}

fn refer(platform: i64, items: Value, deadline_hours: f64) -> Value {
    json!({
        "platform_organisation_id": platform,
        "items": items,
        "legal_basis": "Online Safety Act 2023",
        "category": "smuggling_service",
        "deadline_hours": deadline_hours,
    })
}

fn ids(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

async fn referrals(store: Store) {
    let api = Api::new(store.clone());
    let nca = org(&store, "NCA", OrgKind::Government).await;
    let police = org(&store, "Police", OrgKind::Government).await;
    let platform = org(&store, "Platform", OrgKind::Platform).await;
    let third = org(&store, "Another platform", OrgKind::Platform).await;
    let other_unit = org(&store, "Another unit", OrgKind::Government).await;

    // Who may refer: government organisations' admins and analysts only.
    let body = refer(
        platform.id,
        json!([{"url": "https://x.example/ad/1"}]),
        24.0,
    );
    for key in [&platform.admin, &third.analyst, &nca.reviewer, &nca.ingest] {
        let (status, err) = api
            .call("POST", "/v1/referrals", Some(key), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    }

    // One request, two targets.
    let (status, made) = api
        .call(
            "POST",
            "/v1/referrals",
            Some(&nca.analyst),
            Some(refer(
                platform.id,
                json!([{"url": "https://www.x.example/ad/1?utm_medium=social"},
                       {"text": "Boat to UK tonight, pay on arrival"}]),
                24.0,
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let made = made["referrals"].as_array().unwrap().clone();
    assert_eq!(made.len(), 2);
    assert!(made.iter().all(|r| r["created"] == true));
    let id = made[0]["referral"]["id"].as_i64().unwrap();
    let text_id = made[1]["referral"]["id"].as_i64().unwrap();
    assert_eq!(made[0]["referral"]["status"], "open");
    assert_eq!(made[0]["referral"]["overdue"], false);

    // A second unit refers the same URL: it joins the first referral.
    let (status, webhook) = api
        .call(
            "PUT",
            "/v1/webhook",
            Some(&police.admin),
            Some(json!({"url": "https://police.example/hook", "secret": "0123456789abcdef0123"})),
        )
        .await;
    assert!(status.is_success(), "{webhook}");
    let (status, joined) = api
        .call(
            "POST",
            "/v1/referrals",
            Some(&police.admin),
            Some(refer(
                platform.id,
                json!([{"url": "http://x.example/ad/1/"}]),
                48.0,
            )),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let joined = &joined["referrals"][0];
    assert_eq!(joined["joined"], true);
    assert_eq!(joined["created"], false);
    assert_eq!(joined["referral"]["id"], id);
    let referrers: Vec<i64> = joined["referral"]["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["organisation_id"].as_i64().unwrap())
        .collect();
    assert_eq!(referrers, vec![nca.id, police.id]);

    // Nobody else learns that the referral exists, on any endpoint.
    for key in [&third.admin, &other_unit.admin] {
        let paths = [
            ("GET", format!("/v1/referrals/{id}"), None),
            ("POST", format!("/v1/referrals/{id}/acknowledge"), None),
            (
                "POST",
                format!("/v1/referrals/{id}/decision"),
                Some(json!({"outcome": "removed"})),
            ),
        ];
        for (method, path, body) in paths {
            let (status, err) = api.call(method, &path, Some(key), body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(err["error"]["code"], "not_found");
        }
        let (status, list) = api.call("GET", "/v1/referrals", Some(key), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ids(&list).is_empty());
    }
    let (status, _) = api
        .call("GET", "/v1/referrals/not-a-number", Some(&nca.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Referrers see it but cannot act for the platform.
    for key in [&nca.admin, &police.analyst] {
        let (status, _) = api
            .call(
                "POST",
                &format!("/v1/referrals/{id}/acknowledge"),
                Some(key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = api
            .call(
                "POST",
                &format!("/v1/referrals/{id}/decision"),
                Some(key),
                Some(json!({"outcome": "removed"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // The platform: its inbox, then acknowledgement and decision.
    let (_, inbox) = api
        .call(
            "GET",
            "/v1/referrals?role=received",
            Some(&platform.reviewer),
            None,
        )
        .await;
    assert_eq!(ids(&inbox), vec![text_id, id]);
    let (_, sent) = api
        .call(
            "GET",
            "/v1/referrals?role=sent",
            Some(&platform.reviewer),
            None,
        )
        .await;
    assert!(ids(&sent).is_empty());
    let (status, acked) = api
        .call(
            "POST",
            &format!("/v1/referrals/{id}/acknowledge"),
            Some(&platform.reviewer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["status"], "acknowledged");
    let (status, err) = api
        .call(
            "POST",
            &format!("/v1/referrals/{id}/decision"),
            Some(&platform.reviewer),
            Some(json!({"outcome": "no_violation"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, decided) = api
        .call(
            "POST",
            &format!("/v1/referrals/{id}/decision"),
            Some(&platform.reviewer),
            Some(json!({"outcome": "removed", "reason": "smuggling advert"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "removed");
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/referrals/{id}/decision"),
            Some(&platform.reviewer),
            Some(json!({"outcome": "restricted"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Each referrer sees every step, in order, with its time.
    for key in [&nca.analyst, &police.reviewer] {
        let (status, seen) = api
            .call("GET", &format!("/v1/referrals/{id}"), Some(key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let timeline = seen["timeline"].as_array().unwrap();
        let steps: Vec<(&str, i64)> = timeline
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap(),
                    e["organisation_id"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                ("created", nca.id),
                ("joined", police.id),
                ("acknowledged", platform.id),
                ("decided", platform.id)
            ]
        );
        let times: Vec<i64> = timeline.iter().map(|e| e["at"].as_i64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(seen["acknowledged_at"].as_i64(), Some(times[2]));
        assert_eq!(seen["decided_at"].as_i64(), Some(times[3]));
        assert_eq!(seen["reason"], "smuggling advert");
    }

    // The decision went to the referrer that has a webhook.
    let (_, deliveries) = api
        .call("GET", "/v1/deliveries", Some(&police.admin), None)
        .await;
    let events: Vec<&Value> = deliveries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["event"])
        .collect();
    assert_eq!(events.len(), 1, "{deliveries}");
    assert_eq!(events[0]["type"], "referral.decided");
    assert_eq!(events[0]["outcome"], "removed");
    assert_eq!(events[0]["referral_id"], id);

    // A tiny deadline: overdue as soon as it passes, for both sides, until decided.
    let (_, late) = api
        .call(
            "POST",
            "/v1/referrals",
            Some(&nca.admin),
            Some(refer(
                platform.id,
                json!([{"url": "https://x.example/ad/late"}]),
                0.000_001,
            )),
        )
        .await;
    let late = late["referrals"][0]["referral"]["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (_, seen) = api
        .call(
            "GET",
            &format!("/v1/referrals/{late}"),
            Some(&nca.admin),
            None,
        )
        .await;
    assert_eq!(seen["overdue"], true);
    for key in [&nca.admin, &platform.admin] {
        let (_, overdue) = api
            .call("GET", "/v1/referrals?overdue=true", Some(key), None)
            .await;
        assert_eq!(ids(&overdue), vec![late]);
        let (_, on_time) = api
            .call("GET", "/v1/referrals?overdue=false", Some(key), None)
            .await;
        assert_eq!(ids(&on_time), vec![text_id, id]);
    }
    let (_, open) = api
        .call(
            "GET",
            "/v1/referrals?role=sent&status=open",
            Some(&nca.admin),
            None,
        )
        .await;
    assert_eq!(ids(&open), vec![late, text_id]);
    // The police unit sent one referral (the joined one) and received none.
    let (_, police_sent) = api
        .call("GET", "/v1/referrals?role=sent", Some(&police.admin), None)
        .await;
    assert_eq!(ids(&police_sent), vec![id]);

    // Bad requests.
    let bad = [
        refer(
            platform.id,
            json!([{"url": "https://a.example/1", "text": "x"}]),
            1.0,
        ),
        refer(platform.id, json!([]), 1.0),
        refer(platform.id, json!([{"url": "mailto:x@example.com"}]), 1.0),
        refer(platform.id, json!([{"url": "https://a.example/1"}]), -1.0),
        refer(other_unit.id, json!([{"url": "https://a.example/1"}]), 1.0),
        json!({"platform_organisation_id": platform.id, "items": [{"url": "https://a.example/1"}],
               "legal_basis": "x", "category": "not_a_category"}),
    ];
    for body in bad {
        let (status, err) = api
            .call(
                "POST",
                "/v1/referrals",
                Some(&nca.admin),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} {err}");
    }
    for query in ["role=both", "status=gone", "overdue=maybe", "colour=red"] {
        let (status, _) = api
            .call(
                "GET",
                &format!("/v1/referrals?{query}"),
                Some(&nca.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }

    // Everything is in the audit logs, and the chains hold.
    for o in [nca.id, police.id, platform.id] {
        assert!(store.verify_audit(o).await.unwrap().is_ok());
    }
    let (_, audit) = api
        .call("GET", "/v1/audit", Some(&platform.admin), None)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| a.starts_with("referral."))
        .collect();
    assert_eq!(
        actions,
        [
            "referral.receive",
            "referral.receive",
            "referral.receive",
            "referral.acknowledge",
            "referral.decide",
            "referral.receive"
        ]
    );
}

const SEEKER: &str = "anyone know someone who can take me to UK from Dunkirk? I have 2000";

async fn intervene(api: &Api, key: &str, text: &str, lang: Option<&str>) -> Value {
    let mut body = json!({ "text": text });
    if let Some(l) = lang {
        body["lang"] = json!(l);
    }
    let (status, out) = api
        .call("POST", "/v1/interventions", Some(key), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    out
}

async fn interventions(store: Store) {
    let api = Api::new(store.clone());
    let platform = org(&store, "Platform", OrgKind::Platform).await;
    let ngo = org(&store, "NGO", OrgKind::Ngo).await;
    let io = org(&store, "IOM", OrgKind::InternationalOrganisation).await;

    // Someone looking for a crossing gets a message in their language, about their route.
    let en = intervene(&api, &platform.ingest, SEEKER, None).await;
    assert_eq!(en["show"], true, "{en}");
    assert_eq!(en["reason"], "solicitation");
    assert_eq!(en["intervention"]["language"], "en");
    assert_eq!(en["intervention"]["version"], 0);
    let channel_en = en["intervention"]["id"].as_str().unwrap().to_string();
    assert!(channel_en.starts_with("channel-"), "{en}");
    let ar = intervene(&api, &platform.ingest, SEEKER, Some("ar")).await;
    assert_eq!(ar["intervention"]["language"], "ar", "{ar}");
    assert!(ar["intervention"]["id"]
        .as_str()
        .unwrap()
        .starts_with("channel-"));
    // Egyptian Arabic has no messages of its own: Arabic. Somali has none: English.
    let eg = intervene(&api, &platform.ingest, SEEKER, Some("AR-eg")).await;
    assert_eq!(eg["language"], "ar-EG");
    assert_eq!(eg["intervention"]["id"], ar["intervention"]["id"]);
    let so = intervene(&api, &platform.ingest, SEEKER, Some("so")).await;
    assert_eq!(so["intervention"]["id"], channel_en.as_str());
    // An ordinary post gets nothing.
    let benign = intervene(
        &api,
        &platform.ingest,
        "Family dinner at grandma's tonight",
        None,
    )
    .await;
    assert_eq!(benign["show"], false, "{benign}");
    assert!(benign.get("intervention").is_none());
    for body in [
        json!({"text": "  "}),
        json!({"text": "x", "lang": "not a tag"}),
    ] {
        let (status, _) = api
            .call(
                "POST",
                "/v1/interventions",
                Some(&platform.ingest),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    // Counters: per message, language and day; the reader's language when given.
    let ar_id = ar["intervention"]["id"].as_str().unwrap().to_string();
    for (path, body) in [
        (format!("/v1/interventions/{ar_id}/impression"), None),
        (format!("/v1/interventions/{ar_id}/impression"), None),
        (format!("/v1/interventions/{ar_id}/dismissal"), None),
        (
            format!("/v1/interventions/{ar_id}/impression"),
            Some(json!({"lang": "ar-EG"})),
        ),
    ] {
        let (status, _) = api.call("POST", &path, Some(&platform.ingest), body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
    }
    let (status, _) = api
        .call(
            "POST",
            "/v1/interventions/no-such-message/impression",
            Some(&platform.ingest),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let today = day_of(now_ms());
    let counts = store
        .intervention_counts(platform.id, today - 1, today + 2)
        .await
        .unwrap();
    let counts: Vec<(&str, &str, i64, i64)> = counts
        .iter()
        .map(|c| {
            (
                c.message_id.as_str(),
                c.language.as_str(),
                c.impressions,
                c.dismissals,
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            (ar_id.as_str(), "ar", 2, 1),
            (ar_id.as_str(), "ar-EG", 1, 0)
        ]
    );

    // Editing the catalogue: NGOs and international organisations, admins and analysts.
    let (_, current) = api
        .call(
            "GET",
            &format!("/v1/interventions/catalogue/{channel_en}"),
            Some(&platform.ingest),
            None,
        )
        .await;
    let mut edit = current["current"].clone();
    for field in ["id", "version", "active", "updated_at", "updated_by"] {
        edit.as_object_mut().unwrap().remove(field);
    }
    edit["title"] = json!("Edited: the Channel is deadly");
    edit["base_version"] = json!(0);
    let path = format!("/v1/interventions/catalogue/{channel_en}");
    for key in [&platform.admin, &ngo.reviewer, &ngo.ingest] {
        let (status, _) = api.call("PUT", &path, Some(key), Some(edit.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, v1) = api
        .call("PUT", &path, Some(&ngo.analyst), Some(edit.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["updated_by"], ngo.id);
    // The live selection uses the edit at once.
    let now = intervene(&api, &platform.ingest, SEEKER, None).await;
    assert_eq!(
        now["intervention"]["title"],
        "Edited: the Channel is deadly"
    );
    assert_eq!(now["intervention"]["version"], 1);
    // An edit based on a stale version is refused; one based on the latest goes in.
    let (status, _) = api
        .call("PUT", &path, Some(&io.admin), Some(edit.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    edit["base_version"] = json!(1);
    edit["title"] = json!("Second edit");
    let (status, v2) = api
        .call("PUT", &path, Some(&io.admin), Some(edit.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(v2["version"], 2);
    let (_, history) = api.call("GET", &path, Some(&platform.ingest), None).await;
    let versions: Vec<(i64, &str)> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["title"].as_str().unwrap()))
        .collect();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[0].0, 0);
    assert_eq!(
        versions[1..],
        [(1, "Edited: the Channel is deadly"), (2, "Second edit")]
    );
    assert_eq!(history["current"]["version"], 2);

    // Withdrawn, it is no longer selected, but stays listed and counted.
    edit["active"] = json!(false);
    edit.as_object_mut().unwrap().remove("base_version");
    let (status, _) = api
        .call("PUT", &path, Some(&ngo.admin), Some(edit.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let after = intervene(&api, &platform.ingest, SEEKER, None).await;
    assert_ne!(after["intervention"]["id"], channel_en.as_str(), "{after}");
    assert_eq!(after["intervention"]["language"], "en");
    let (_, listed) = api
        .call(
            "GET",
            "/v1/interventions/catalogue?lang=en",
            Some(&platform.ingest),
            None,
        )
        .await;
    let listed = listed["messages"].as_array().unwrap();
    assert!(listed.iter().all(|m| m["language"] == "en"));
    let withdrawn = listed
        .iter()
        .find(|m| m["id"] == channel_en.as_str())
        .unwrap();
    assert_eq!(
        (withdrawn["active"].clone(), withdrawn["version"].clone()),
        (json!(false), json!(3))
    );
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/interventions/{channel_en}/impression"),
            Some(&platform.ingest),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A new message, in a language the bundle lacks, is selected for its readers.
    let new = json!({
        "language": "so", "routes": ["channel"], "topics": ["small_boat"],
        "title": "Badda Channel", "body": "Doonyaha yaryar waa khatar.",
        "help": [{"name": "UNHCR", "url": "https://help.unhcr.org"}], "source": "IOM",
    });
    let (status, created) = api
        .call(
            "PUT",
            "/v1/interventions/catalogue/channel-so-1",
            Some(&ngo.analyst),
            Some(new.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let so = intervene(&api, &platform.ingest, SEEKER, Some("so")).await;
    assert_eq!(so["intervention"]["id"], "channel-so-1");
    // Bad edits are refused with the field at fault.
    let mut bad = new.clone();
    bad["help"] = json!([{"name": "x", "url": "javascript:alert(1)"}]);
    let (status, err) = api
        .call(
            "PUT",
            "/v1/interventions/catalogue/channel-so-1",
            Some(&ngo.analyst),
            Some(bad),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("help"));
    let (status, _) = api
        .call(
            "GET",
            "/v1/interventions/catalogue/no-such-message",
            Some(&ngo.analyst),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = api.call("GET", "/v1/audit", Some(&ngo.admin), None).await;
    let edits = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "intervention.update")
        .count();
    assert_eq!(edits, 3);
}

#[tokio::test]
async fn referrals_on_sqlite() {
    on_sqlite(referrals).await;
}

#[tokio::test]
async fn referrals_on_postgres() {
    on_postgres(referrals).await;
}

#[tokio::test]
async fn interventions_on_sqlite() {
    on_sqlite(interventions).await;
}

#[tokio::test]
async fn interventions_on_postgres() {
    on_postgres(interventions).await;
}
