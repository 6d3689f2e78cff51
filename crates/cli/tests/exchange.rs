//! `breakwater exchange` between two running `breakwater serve` processes (two data
//! directories, two ports): list, push, pull into a bank that matches, feedback, and the
//! errors a partner can cause.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .arg("--data")
        .arg(data_dir())
        .args(args)
        .current_dir(cwd)
        .env_remove("BREAKWATER_CONFIG")
        .env_remove("BREAKWATER_PARTNER_KEY")
        .output()
        .expect("the binary runs")
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = run(cwd, args);
    assert!(
        out.status.success(),
        "breakwater {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(cwd: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .arg("--data")
        .arg(data_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(cwd)
        .env_remove("BREAKWATER_CONFIG")
        .env("BREAKWATER_QUIET", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("it listens");
    Server(child, format!("http://{addr}/taxii2/api/"))
}

fn org(cwd: &Path, name: &str, kind: &str) -> String {
    ok(cwd, &["admin", "create-org", name, "--kind", kind])
}

fn key(cwd: &Path, org: &str) -> String {
    ok(
        cwd,
        &["admin", "create-key", "--org", org, "--role", "analyst"],
    )
}

#[test]
fn exchange_between_two_servers() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (a, b) = (a_dir.path(), b_dir.path());

    // A: a unit with a bank shared with everyone, and an account for B.
    let unit = org(a, "Unit-A", "government");
    let partner_on_a = org(a, "Platform-B", "platform");
    let b_key = key(a, &partner_on_a);
    ok(a, &["bank", "create", "uk", "--org", &unit]);
    let signals = a.join("signals.csv");
    std::fs::write(
        &signals,
        "kind,value,source\nphone,+44 7911 123456,unit-a\n",
    )
    .unwrap();
    ok(
        a,
        &[
            "bank",
            "import",
            "uk",
            signals.to_str().unwrap(),
            "--org",
            &unit,
        ],
    );
    let shared = ok(
        a,
        &[
            "bank", "share", "uk", "--with", "*", "--tlp", "green", "--org", &unit,
        ],
    );
    assert!(shared.contains("TLP:GREEN"), "{shared}");
    let refused = run(
        a,
        &["bank", "share", "uk", "--tlp", "purple", "--org", &unit],
    );
    assert_eq!(refused.status.code(), Some(1));
    let server_a = serve(a);

    // B lists what A shares with it, then pulls it into a local bank.
    let listed = ok(
        b,
        &[
            "exchange",
            "collections",
            "--url",
            &server_a.1,
            "--key",
            &b_key,
        ],
    );
    let line = listed
        .lines()
        .find(|l| l.ends_with("Unit-A: uk"))
        .expect(&listed);
    let collection = line.split('\t').next().unwrap().to_string();
    let platform = org(b, "Platform-B", "platform");
    let pulled = ok(
        b,
        &[
            "exchange",
            "pull",
            "--org",
            &platform,
            "--url",
            &server_a.1,
            "--collection",
            &collection,
            "--into",
            "from-a",
            "--key",
            &b_key,
        ],
    );
    assert!(pulled.contains("1 added"), "{pulled}");
    let found = ok(
        b,
        &[
            "bank",
            "lookup",
            "phone",
            "+447911123456",
            "--org",
            &platform,
        ],
    );
    assert!(found.contains("\tfrom-a\tunit-a"), "{found}");
    // Pulling again (all feeds of the organisation) adds nothing.
    let again = ok(b, &["exchange", "pull", "--org", &platform]);
    assert!(again.contains("0 added"), "{again}");

    // Feedback from B reaches A.
    let fb = ok(
        b,
        &[
            "exchange",
            "feedback",
            "--url",
            &server_a.1,
            "--key",
            &b_key,
            "--collection",
            &collection,
            "--owner",
            "Unit-A",
            "phone",
            "+447911123456",
            "false_positive",
            "--note",
            "a taxi firm",
        ],
    );
    assert!(fb.contains("recorded"));

    // B pushes a bank of its own to A's collection: refused, B is not the owner there.
    ok(b, &["bank", "create", "mine", "--org", &platform]);
    ok(
        b,
        &[
            "bank",
            "add",
            "mine",
            "handle",
            "telegram:boza",
            "--org",
            &platform,
        ],
    );
    let pushed = run(
        b,
        &[
            "exchange",
            "push",
            "--org",
            &platform,
            "--bank",
            "mine",
            "--url",
            &server_a.1,
            "--collection",
            &collection,
            "--key",
            &b_key,
        ],
    );
    assert_eq!(pushed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&pushed.stderr).contains("only the owner"));

    // Wrong key, unreachable partner, bad verdict: clear errors.
    let wrong = run(
        b,
        &[
            "exchange",
            "collections",
            "--url",
            &server_a.1,
            "--key",
            "bw_nope",
        ],
    );
    assert_eq!(wrong.status.code(), Some(1));
    drop(server_a);
    let gone = run(b, &["exchange", "pull", "--org", &platform]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&gone.stderr).is_empty());
    let bad = run(
        b,
        &[
            "exchange",
            "feedback",
            "--url",
            "http://127.0.0.1:9/taxii2/api/",
            "--key",
            "k",
            "--collection",
            "c",
            "--owner",
            "o",
            "phone",
            "+447911123456",
            "maybe",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));

    // The tally is on A's signal.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = breakwater_store::Store::open(
            a.join("breakwater-data/breakwater.db").to_str().unwrap(),
        )
        .await
        .unwrap();
        let signal =
            breakwater_core::Signal::parse(breakwater_core::SignalKind::Phone, "+447911123456")
                .unwrap();
        let entries = store
            .lookup_signal(unit.parse().unwrap(), &signal)
            .await
            .unwrap();
        assert_eq!(entries[0].disputed, 1);
        store.close().await;
    });
}

#[test]
fn lexicon_exports_as_stix_phrase_indicators() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lexicon.json");
    let out = run(
        dir.path(),
        &[
            "exchange",
            "lexicon",
            "--owner",
            "Unit",
            "--lang",
            "sv",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let indicators: Vec<&serde_json::Value> = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .collect();
    assert!(indicators.len() > 20, "{}", indicators.len());
    assert!(indicators.iter().all(|i| {
        let labels = i["labels"].to_string();
        labels.contains("lexicon") && labels.contains("lang:sv")
    }));
    // A partner reads them back as phrase signals with their categories.
    let import = breakwater_share::stix::import_document(&doc, &Default::default()).unwrap();
    assert_eq!(import.signals.len(), indicators.len());
    assert!(import
        .signals
        .iter()
        .all(|s| s.signal.kind == breakwater_core::SignalKind::Phrase));
    assert!(import.signals.iter().any(|s| s.category.is_some()));
    // An unknown language is a usage error.
    let none = run(
        dir.path(),
        &["exchange", "lexicon", "--owner", "U", "--lang", "xx"],
    );
    assert_eq!(none.status.code(), Some(2));
}
