//! The TAXII router over `MemoryBackend`, driven in-process request by request.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use breakwater_core::{Category, Signal, SignalKind};
use breakwater_share::stix::{indicator_object, to_objects};
use breakwater_share::taxii::{router, MemoryBackend, TaxiiConfig, TAXII_MEDIA_TYPE};
use breakwater_share::{SharedSignal, Timestamp, Tlp};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const RW: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
const HIDDEN: &str = "52892447-4d7e-4f70-b94d-d7f22742ff63";
/// `alice:secret`
const ALICE: &str = "Basic YWxpY2U6c2VjcmV0";
/// `bob:pw`, who may read but not write.
const BOB: &str = "Basic Ym9iOnB3";

fn signal(i: usize) -> SharedSignal {
    let mut s = SharedSignal::new(
        Signal::parse(SignalKind::Phone, &format!("+4477009001{i:02}")).unwrap(),
        "UK OIC Unit",
        Tlp::Green,
        Timestamp::parse("2024-05-01T10:00:00Z").unwrap(),
    );
    s.category = Some(Category::SmugglingService);
    s
}

/// Five indicators, their marking and their owner's identity in one collection.
fn app_with(config: TaxiiConfig) -> (Router, MemoryBackend) {
    let b = MemoryBackend::new();
    b.add_user("alice", "secret");
    b.add_user("bob", "pw");
    b.add_api_key("key-1", "alice");
    b.add_collection(RW, "Signals", Some("shared signals"));
    b.grant(RW, "alice", true, true);
    b.grant(RW, "bob", true, false);
    b.add_collection(HIDDEN, "Hidden", None);
    let signals: Vec<SharedSignal> = (0..5).map(signal).collect();
    let status = b.insert(RW, to_objects(&signals)).unwrap();
    assert_eq!(status.success_count, 7);
    (router(b.clone(), config), b)
}

fn app() -> (Router, MemoryBackend) {
    app_with(TaxiiConfig {
        max_page_size: 3,
        max_content_length: 16 * 1024,
        ..TaxiiConfig::default()
    })
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn send(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {bytes:?}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

async fn get_as(app: &Router, auth: &str, uri: &str) -> Reply {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, auth)
        .header(header::ACCEPT, TAXII_MEDIA_TYPE)
        .header(header::HOST, "share.example:8080")
        .body(Body::empty())
        .unwrap();
    send(app, req).await
}

async fn get(app: &Router, uri: &str) -> Reply {
    get_as(app, ALICE, uri).await
}

async fn post(app: &Router, auth: &str, uri: &str, content_type: &str, body: &Value) -> Reply {
    let req = Request::post(uri)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, req).await
}

fn objects_url(rest: &str) -> String {
    format!("/taxii2/api/collections/{RW}/objects/{rest}")
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_taxii_error(r: &Reply, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], TAXII_MEDIA_TYPE);
    assert_eq!(r.body["http_status"], status.as_str());
    assert!(r.body["title"].is_string() && r.body["description"].is_string());
}

#[tokio::test]
async fn discovery_and_api_root_answer_with_and_without_the_slash() {
    let (app, _) = app();
    for uri in ["/taxii2/", "/taxii2"] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.headers[header::CONTENT_TYPE], TAXII_MEDIA_TYPE);
        assert_eq!(
            r.body["api_roots"],
            json!(["http://share.example:8080/taxii2/api/"])
        );
        assert_eq!(r.body["default"], "http://share.example:8080/taxii2/api/");
        assert!(r.body["title"].is_string());
    }
    for uri in ["/taxii2/api/", "/taxii2/api"] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.body["versions"], json!([TAXII_MEDIA_TYPE]));
        assert_eq!(r.body["max_content_length"], 16 * 1024);
    }
    // A configured name and public URL.
    let (app, _) = app_with(TaxiiConfig {
        api_root: "signals".into(),
        base_url: Some("https://share.example/".into()),
        ..TaxiiConfig::default()
    });
    let r = get(&app, "/taxii2/").await;
    assert_eq!(
        r.body["api_roots"],
        json!(["https://share.example/taxii2/signals/"])
    );
    assert_eq!(
        get(&app, "/taxii2/signals/collections").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/taxii2/api/").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn strangers_get_401_with_a_basic_challenge_and_keys_work() {
    let (app, _) = app();
    let anonymous = Request::get("/taxii2/api/collections/")
        .body(Body::empty())
        .unwrap();
    let r = send(&app, anonymous).await;
    assert_taxii_error(&r, StatusCode::UNAUTHORIZED);
    assert!(r.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    // Wrong password, unknown key, garbage.
    for auth in [
        "Basic YWxpY2U6d3Jvbmc=",
        "Bearer nope",
        "Basic !!!",
        "Digest x",
    ] {
        let r = get_as(&app, auth, "/taxii2/").await;
        assert_taxii_error(&r, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        get_as(&app, "Bearer key-1", "/taxii2/").await.status,
        StatusCode::OK
    );
    let with_key = Request::get("/taxii2/")
        .header("x-api-key", "key-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, with_key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn collections_show_only_what_the_principal_may_see() {
    let (app, _) = app();
    let r = get(&app, "/taxii2/api/collections/").await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.body["collections"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], RW);
    assert_eq!(list[0]["can_write"], true);
    assert_eq!(
        list[0]["media_types"],
        json!(["application/stix+json;version=2.1"])
    );

    let r = get_as(&app, BOB, &format!("/taxii2/api/collections/{RW}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["can_read"].clone(), r.body["can_write"].clone()),
        (json!(true), json!(false))
    );

    for id in [HIDDEN, "no-such-collection"] {
        let r = get(&app, &format!("/taxii2/api/collections/{id}/")).await;
        assert_taxii_error(&r, StatusCode::NOT_FOUND);
        let r = get(&app, &format!("/taxii2/api/collections/{id}/objects/")).await;
        assert_taxii_error(&r, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn objects_page_through_limit_and_next_without_gaps_or_repeats() {
    let (app, _) = app();
    // The server caps the page at max_page_size (3) whatever limit asks.
    let r = get(&app, &objects_url("?limit=100")).await;
    assert_eq!(ids(&r).len(), 3);
    assert_eq!(r.body["more"], true);

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    let mut last_added = String::new();
    loop {
        let q = match &next {
            Some(n) => format!("?limit=2&next={n}"),
            None => "?limit=2".to_string(),
        };
        let r = get(&app, &objects_url(&q)).await;
        assert_eq!(r.status, StatusCode::OK);
        pages += 1;
        let first = r.headers["x-taxii-date-added-first"]
            .to_str()
            .unwrap()
            .to_string();
        let last = r.headers["x-taxii-date-added-last"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(Timestamp::parse(&first).unwrap() <= Timestamp::parse(&last).unwrap());
        assert!(
            last_added.is_empty()
                || Timestamp::parse(&last_added).unwrap() <= Timestamp::parse(&first).unwrap()
        );
        last_added = last;
        seen.extend(ids(&r));
        if r.body["more"] == false {
            assert!(r.body.get("next").is_none());
            break;
        }
        next = Some(r.body["next"].as_str().unwrap().to_string());
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 7);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 7);

    let r = get(&app, &objects_url("?next=bogus")).await;
    assert_taxii_error(&r, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn filters_select_by_type_id_version_spec_version_and_date() {
    let (app, backend) = app();
    let r = get(&app, &objects_url("?match[type]=indicator")).await;
    assert_eq!(ids(&r).len(), 3);
    assert_eq!(r.body["more"], true);
    let r = get(
        &app,
        &objects_url("?match[type]=identity,marking-definition"),
    )
    .await;
    assert_eq!(ids(&r).len(), 2, "one identity and one marking");

    let id = signal(2).stix_id();
    let r = get(&app, &objects_url(&format!("?match%5Bid%5D={id}"))).await;
    assert_eq!(ids(&r), [id.as_str()]);

    // A second version of signal 2, added later.
    let mut v2 = signal(2);
    v2.modified = Timestamp::parse("2024-06-01T00:00:00Z").unwrap();
    let checkpoint = get(&app, &objects_url("?limit=3")).await.headers["x-taxii-date-added-last"]
        .to_str()
        .unwrap()
        .to_string();
    backend.insert(RW, vec![indicator_object(&v2)]).unwrap();

    let versions_of = |r: &Reply| -> Vec<String> {
        r.body["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["modified"].as_str().unwrap().to_string())
            .collect()
    };
    let r = get(&app, &objects_url(&format!("?match[id]={id}"))).await;
    assert_eq!(
        versions_of(&r),
        ["2024-06-01T00:00:00.000Z"],
        "last by default"
    );
    let r = get(
        &app,
        &objects_url(&format!("?match[id]={id}&match[version]=first")),
    )
    .await;
    assert_eq!(versions_of(&r), ["2024-05-01T10:00:00.000Z"]);
    let r = get(
        &app,
        &objects_url(&format!("?match[id]={id}&match[version]=all")),
    )
    .await;
    assert_eq!(versions_of(&r).len(), 2);
    let r = get(
        &app,
        &objects_url(&format!(
            "?match[id]={id}&match[version]=2024-05-01T10:00:00.000Z"
        )),
    )
    .await;
    assert_eq!(versions_of(&r), ["2024-05-01T10:00:00.000Z"]);

    let r = get(&app, &objects_url("?match[spec_version]=2.0")).await;
    assert!(ids(&r).is_empty());
    assert_eq!(r.body["more"], false);
    assert!(r.headers.get("x-taxii-date-added-first").is_none());

    // One add request is one date_added: after the checkpoint there is only the new version.
    let r = get(&app, &objects_url(&format!("?added_after={checkpoint}"))).await;
    assert_eq!(ids(&r), [id.as_str()]);
    assert_eq!(versions_of(&r), ["2024-06-01T00:00:00.000Z"]);
    assert_eq!(
        r.headers["x-taxii-date-added-first"],
        r.headers["x-taxii-date-added-last"]
    );

    for bad in [
        "?added_after=yesterday",
        "?match[version]=newest",
        "?limit=many",
        "?match[color]=red",
    ] {
        let r = get(&app, &objects_url(bad)).await;
        assert_taxii_error(&r, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn an_object_its_versions_and_the_manifest() {
    let (app, backend) = app_with(TaxiiConfig::default());
    let id = signal(0).stix_id();
    let mut v2 = signal(0);
    v2.modified = Timestamp::parse("2024-07-01T00:00:00Z").unwrap();
    backend.insert(RW, vec![indicator_object(&v2)]).unwrap();

    for slash in ["/", ""] {
        let r = get(&app, &objects_url(&format!("{id}{slash}"))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(ids(&r), [id.as_str()]);
        assert_eq!(r.body["objects"][0]["modified"], "2024-07-01T00:00:00.000Z");

        let r = get(&app, &objects_url(&format!("{id}/versions{slash}"))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.body["versions"],
            json!(["2024-05-01T10:00:00.000Z", "2024-07-01T00:00:00.000Z"])
        );
        assert_eq!(r.body["more"], false);
    }
    let r = get(&app, &objects_url(&format!("{id}/?match[version]=all"))).await;
    assert_eq!(ids(&r).len(), 2);

    let unknown = "indicator--00000000-0000-4000-8000-000000000000";
    assert_taxii_error(
        &get(&app, &objects_url(unknown)).await,
        StatusCode::NOT_FOUND,
    );
    assert_taxii_error(
        &get(&app, &objects_url(&format!("{unknown}/versions/"))).await,
        StatusCode::NOT_FOUND,
    );

    let r = get(
        &app,
        &format!("/taxii2/api/collections/{RW}/manifest/?match[type]=indicator&limit=10"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let entries = r.body["objects"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    for e in entries {
        assert_eq!(e["media_type"], "application/stix+json;version=2.1");
        assert!(Timestamp::parse(e["date_added"].as_str().unwrap()).is_ok());
        assert!(Timestamp::parse(e["version"].as_str().unwrap()).is_ok());
    }
    assert!(entries
        .iter()
        .any(|e| e["id"] == id && e["version"] == "2024-07-01T00:00:00.000Z"));
    assert!(r.headers.contains_key("x-taxii-date-added-last"));
    let r = get(&app, &format!("/taxii2/api/collections/{RW}/manifest")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn adding_objects_answers_202_with_a_status_that_can_be_read_back() {
    let (app, backend) = app();
    let new = signal(7);
    let envelope = json!({"objects": [
        indicator_object(&new),
        {"type": "indicator", "id": "not-an-id"},
    ]});
    let r = post(&app, ALICE, &objects_url(""), TAXII_MEDIA_TYPE, &envelope).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], TAXII_MEDIA_TYPE);
    assert_eq!(r.body["status"], "complete");
    assert_eq!(r.body["total_count"], 2);
    assert_eq!(r.body["success_count"], 1);
    assert_eq!(r.body["failure_count"], 1);
    assert_eq!(r.body["pending_count"], 0);
    assert_eq!(r.body["successes"][0]["id"], new.stix_id());
    assert!(r.body["failures"][0]["message"].is_string());
    assert!(backend.objects(RW).iter().any(|o| o.id == new.stix_id()));

    let status_id = r.body["id"].as_str().unwrap().to_string();
    for slash in ["/", ""] {
        let s = get(&app, &format!("/taxii2/api/status/{status_id}{slash}")).await;
        assert_eq!(s.status, StatusCode::OK);
        assert_eq!(s.body, r.body);
    }
    // Another user does not see alice's status; an unknown id is 404 too.
    assert_taxii_error(
        &get_as(&app, BOB, &format!("/taxii2/api/status/{status_id}")).await,
        StatusCode::NOT_FOUND,
    );
    assert_taxii_error(
        &get(&app, "/taxii2/api/status/nope/").await,
        StatusCode::NOT_FOUND,
    );

    // A STIX bundle with the STIX media type is accepted too, without a trailing slash.
    let bundle = breakwater_share::stix::bundle(vec![indicator_object(&signal(8))]);
    let r = post(
        &app,
        ALICE,
        &format!("/taxii2/api/collections/{RW}/objects"),
        "application/stix+json; version=2.1",
        &bundle,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["success_count"], 1);
}

#[tokio::test]
async fn writes_need_permission_the_right_media_type_and_a_small_enough_body() {
    let (app, _) = app();
    let envelope = json!({"objects": [indicator_object(&signal(9))]});

    let r = post(&app, BOB, &objects_url(""), TAXII_MEDIA_TYPE, &envelope).await;
    assert_taxii_error(&r, StatusCode::FORBIDDEN);
    let hidden = format!("/taxii2/api/collections/{HIDDEN}/objects/");
    assert_taxii_error(
        &post(&app, ALICE, &hidden, TAXII_MEDIA_TYPE, &envelope).await,
        StatusCode::NOT_FOUND,
    );

    for ct in [
        "application/json",
        "application/taxii+json;version=2.0",
        "text/plain",
    ] {
        let r = post(&app, ALICE, &objects_url(""), ct, &envelope).await;
        assert_taxii_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    for accept in ["application/xml", "application/taxii+json;version=2.0"] {
        let req = Request::get(objects_url(""))
            .header(header::AUTHORIZATION, ALICE)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        assert_taxii_error(&send(&app, req).await, StatusCode::NOT_ACCEPTABLE);
    }
    let req = Request::get(objects_url(""))
        .header(header::AUTHORIZATION, ALICE)
        .header(header::ACCEPT, "application/xml, */*;q=0.1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::OK);

    // Over max_content_length (16 KiB): refused on the declared length, and while reading
    // when no length is declared.
    let big = json!({"objects": [{"type": "note", "content": "x".repeat(20_000)}]}).to_string();
    let declared = Request::post(objects_url(""))
        .header(header::AUTHORIZATION, ALICE)
        .header(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    assert_taxii_error(&send(&app, declared).await, StatusCode::PAYLOAD_TOO_LARGE);
    let undeclared = Request::post(objects_url(""))
        .header(header::AUTHORIZATION, ALICE)
        .header(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)
        .body(Body::from(big))
        .unwrap();
    assert_taxii_error(&send(&app, undeclared).await, StatusCode::PAYLOAD_TOO_LARGE);

    let req = Request::builder()
        .method(Method::POST)
        .uri(objects_url(""))
        .header(header::AUTHORIZATION, ALICE)
        .header(header::CONTENT_TYPE, TAXII_MEDIA_TYPE)
        .body(Body::from("{not json"))
        .unwrap();
    assert_taxii_error(&send(&app, req).await, StatusCode::BAD_REQUEST);
    let r = post(
        &app,
        ALICE,
        &objects_url(""),
        TAXII_MEDIA_TYPE,
        &json!({"objects": 5}),
    )
    .await;
    assert_taxii_error(&r, StatusCode::BAD_REQUEST);
}
