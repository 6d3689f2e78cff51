//! The OASIS peers against the real service (store-backed TAXII): `taxii2-client` lists,
//! pages, reads and adds as a partner would, and `stix2-validator` accepts what a bank
//! exports. Needs `target/interop-venv` (`bash bench/setup-interop-venv.sh`); without it
//! the test says so and passes, except under CI, where it fails.

mod common;

use breakwater_core::{Signal, SignalKind};
use breakwater_server::app;
use breakwater_server::taxii::collection_id;
use breakwater_share::stix::{bundle, definitions, to_objects};
use breakwater_share::{SharedSignal, Timestamp, Tlp};
use breakwater_store::{NewBank, NewSignal, OrgKind, Role, Store};
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn venv() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop-venv/bin");
    if bin.join("python").exists() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "target/interop-venv is missing under CI"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: no target/interop-venv");
    None
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../share/tests/interop")
        .join(name)
}

fn python(bin: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(bin.join("python"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the peer prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oasis_peers_against_the_service() {
    let Some(bin) = venv() else { return };
    std::env::set_var("BREAKWATER_QUIET", "1");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bw.db").to_str().unwrap())
        .await
        .unwrap();
    let unit = store
        .create_organisation("Unit", OrgKind::Government)
        .await
        .unwrap()
        .id;
    let (_, key) = store
        .create_key(unit, Role::Analyst, "peer", "t")
        .await
        .unwrap();
    let bank = store
        .create_bank(unit, &NewBank::named("uk"), "t")
        .await
        .unwrap();
    let kinds = [
        (
            SignalKind::Pdq,
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        ),
        (SignalKind::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
        (SignalKind::Phone, "+447700900123"),
        (SignalKind::Handle, "telegram:boza_vip"),
        (SignalKind::Url, "https://boats-uk.example/book"),
        (SignalKind::Domain, "boats-uk.example"),
        (SignalKind::Phrase, "safe crossing, pay on arrival"),
    ];
    let signals: Vec<NewSignal> = kinds
        .iter()
        .map(|(k, v)| NewSignal::new(Signal::parse(*k, v).unwrap()))
        .collect();
    store.add_signals(unit, "uk", &signals, "t").await.unwrap();
    store
        .remove_signal(unit, "uk", &signals[1].signal, "t")
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(common::state(store.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await });

    // A bundle a partner adds: one new indicator of ours.
    let new = SharedSignal::new(
        Signal::parse(SignalKind::Phone, "+447700900999").unwrap(),
        "Unit",
        Tlp::Amber,
        Timestamp::now(),
    );
    let file = dir.path().join("add.json");
    std::fs::write(&file, bundle(to_objects(&[new])).to_string()).unwrap();
    let collection = collection_id(bank.id);
    let discovery = format!("http://{addr}/taxii2/");
    let s = tokio::task::spawn_blocking({
        let bin = bin.clone();
        let file = file.clone();
        let collection = collection.clone();
        move || {
            python(
                &bin,
                &[
                    script("taxii2client_peer.py").to_str().unwrap(),
                    &discovery,
                    "unit",
                    &key,
                    &collection,
                    file.to_str().unwrap(),
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(s["collections"][0]["id"], collection.as_str(), "{s}");
    let seen: usize = s["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_array().unwrap().len())
        .sum();
    // 7 indicators (one revoked), the owner's identity and the TLP:AMBER marking.
    assert_eq!(seen, 9, "{s}");
    assert_eq!(s["manifest_count"], 9);
    assert_eq!(s["status"]["success_count"], 1, "{s}");
    let added = store
        .lookup_signal(
            unit,
            &Signal::parse(SignalKind::Phone, "+447700900999").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1);

    // What the bank exports (with the extension definition) passes the validator.
    let exported: Vec<Value> = {
        let v = breakwater_store::VisibleBank {
            bank: store.bank_by_name(unit, "uk").await.unwrap().unwrap(),
            owner: "Unit".into(),
        };
        let shared: Vec<SharedSignal> = store
            .all_signals(v.bank.id)
            .await
            .unwrap()
            .iter()
            .map(|s| breakwater_server::taxii::shared_signal(&v, s))
            .collect();
        let mut objects = to_objects(&shared);
        objects.extend(definitions());
        objects
    };
    let export = dir.path().join("export.json");
    std::fs::write(&export, bundle(exported).to_string()).unwrap();
    let report = tokio::task::spawn_blocking(move || {
        python(
            &bin,
            &[
                script("validate.py").to_str().unwrap(),
                export.to_str().unwrap(),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["valid"], true);
}
