//! End-to-end tests of the `breakwater` binary on the bundled data.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

fn breakwater(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .arg("--data")
        .arg(data_dir())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l}: {e}")))
        .collect()
}

#[test]
fn bad_lines_get_errors_and_nothing_else_is_lost() {
    let mut input = Vec::new();
    input.extend_from_slice(br#"{"id": "ok-1", "text": "Boat to UK tonight from Calais, pay on arrival, WhatsApp +44 7911 123456"}"#);
    input.extend_from_slice(b"\n{\"id\": \"utf8\", \"text\": \"caf\xff\"}\n");
    input.extend_from_slice(b"{\"id\": \"json\", \"text\": \n");
    input.extend_from_slice(br#"{"id": "types", "text": 42}"#);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(br#"{"id": "empty", "text": ""}"#);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(
        format!(
            "{{\"id\": \"huge\", \"text\": \"{}\"}}\n",
            "a".repeat(10 << 20)
        )
        .as_bytes(),
    );
    input.extend_from_slice(
        br#"{"id": "extra", "text": "hello friends, see you at the match", "colour": "red"}"#,
    );
    input.extend_from_slice(b"\n");
    input.extend_from_slice(br#"[1, 2, 3]"#);
    input.extend_from_slice(b"\n\n");
    input.extend_from_slice(
        br#"{"id": "ok-2", "text": "Lovely ferry trip from Dover to Calais with the kids"}"#,
    );
    let output = breakwater(&["scan", "-"], &input);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = lines(&output);
    let codes: Vec<Option<&str>> = out.iter().map(|v| v["error"]["code"].as_str()).collect();
    assert_eq!(
        codes,
        [
            None,
            Some("invalid_utf8"),
            Some("invalid_json"),
            Some("invalid_item"),
            Some("invalid_item"),
            Some("line_too_long"),
            None,
            Some("invalid_item"),
            None
        ]
    );
    assert_eq!(out[0]["id"], "ok-1");
    assert_eq!(out[3]["id"], "types");
    assert!(out[3]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`text` must be a string"));
    assert_eq!(out[6]["warnings"][0], "unknown field `colour` ignored");
    assert_eq!(out[8]["id"], "ok-2");
    assert_eq!(out[8]["line"], Value::Null);
}

#[test]
fn adverts_are_explained_with_spans_into_the_original_text() {
    let text = "🚤 G4me every night from Gravelines to UK, 100% guaranteed, pay on arrival. W.h.a.t.s.A.p.p +44 7911 123456";
    let input = serde_json::json!({"id": "ad", "text": text}).to_string();
    let out = lines(&breakwater(&["scan"], input.as_bytes()));
    let ad = &out[0];
    assert_eq!(ad["verdict"], "violating", "{ad}");
    assert_eq!(ad["category"], "smuggling_service");
    let chars: Vec<char> = text.chars().collect();
    let indicators = ad["indicators"].as_array().unwrap();
    assert!(indicators.len() >= 3, "{ad}");
    for item in indicators.iter().chain(ad["entities"].as_array().unwrap()) {
        let (s, e) = (
            item["start"].as_u64().unwrap() as usize,
            item["end"].as_u64().unwrap() as usize,
        );
        let shown: String = chars[s..e].iter().collect();
        assert_eq!(shown, item["text"].as_str().unwrap(), "{item}");
    }
    let phone = ad["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "phone")
        .expect("a phone");
    assert_eq!(phone["value"], "+447911123456");
    assert_eq!(phone["country"], "GB");
    assert_eq!(phone["platform"], "whatsapp");
}

#[test]
fn look_alikes_stay_up_and_seekers_get_help() {
    let input = [
        serde_json::json!({"id": "ngo", "text": "WARNING: smugglers promise '100% safe crossing, pay on arrival'. It is a lie. People drowned near Calais this month. Call the Refugee Council for free advice."}),
        serde_json::json!({"id": "seek", "text": "how much is the boat from Libya to Italy? anyone know a smuggler, please tell me"}),
        serde_json::json!({"id": "seek-ar", "text": "كم سعر الحرقة من صفاقس الى لمبدوزا؟"}),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>();
    let out = lines(&breakwater(&["scan"], input.as_bytes()));
    assert_ne!(out[0]["verdict"], "violating", "{}", out[0]);
    for seek in &out[1..] {
        assert_eq!(seek["category"], "solicitation", "{seek}");
        assert_ne!(seek["verdict"], "violating");
        assert!(
            seek["intervention"]["body"]
                .as_str()
                .is_some_and(|b| !b.is_empty()),
            "{seek}"
        );
    }
    assert_eq!(out[2]["language"], "ar");
}

#[test]
fn csv_input_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("posts.csv");
    std::fs::write(&csv, "id,text,platform\n1,\"Fake passports and visas for sale, delivery in 3 days, Telegram @docs_fast\",telegram\n2,Family dinner tonight,facebook\n").unwrap();
    let out_path = dir.path().join("out.jsonl");
    let output = breakwater(
        &[
            "scan",
            csv.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Vec<Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["category"], "document_fraud", "{}", out[0]);
    assert_eq!(out[1]["verdict"], "benign");
}

#[test]
fn usage_errors_exit_2() {
    let output = breakwater(&["scan", "/no/such/file.jsonl"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open"));
    assert_eq!(
        breakwater(&["scan", "--no-such-flag"], b"").status.code(),
        Some(2)
    );
}

#[test]
fn eval_reports_quality_on_the_held_out_split() {
    let output = breakwater(&["eval", "--json"], b"");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let overall = &report["overall"];
    // Regression guards, well below the measured figures in the closing notes: a broken
    // stage (normalisation, lexicons, model loading) falls far below them.
    assert!(
        overall["flagged_recall"].as_f64().unwrap() >= 0.65,
        "{overall}"
    );
    assert!(
        overall["false_positive_rate"].as_f64().unwrap() <= 0.06,
        "{overall}"
    );
    // Seeking and offering share their words: a short query can read as an advert. Rare,
    // but a person seeking a crossing must almost never be taken for a smuggler.
    assert!(
        overall["solicitations_violating"].as_f64().unwrap()
            <= 0.01 * overall["solicitations"].as_f64().unwrap(),
        "{overall}"
    );
    assert!(report["by_language"].as_object().unwrap().len() >= 18);
}

#[test]
fn scan_matches_bank_files_and_local_images() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pdq/pdq/data/bridge-mods");
    let hashed = breakwater(
        &["hash", bridge.join("aaa-orig.jpg").to_str().unwrap()],
        b"",
    );
    let pdq = String::from_utf8(hashed.stdout).unwrap();
    let pdq = pdq.split_whitespace().next().unwrap().to_string();
    let bank = dir.path().join("known.csv");
    std::fs::write(
        &bank,
        format!("kind,value,source\nphone,+44 7911 123456,unit\npdq,{pdq},partner\n"),
    )
    .unwrap();
    let input = format!(
        "{}\n{}\n{}\n",
        r#"{"id": "t", "text": "message me +44 7911 123456"}"#,
        r#"{"id": "i", "text": "we arrived", "media": ["blur-a-little.jpg", "missing.jpg", "https://cdn.example/x.jpg"]}"#,
        r#"{"id": "n", "text": "nothing to see"}"#
    );
    let out = breakwater(
        &[
            "scan",
            "--bank",
            bank.to_str().unwrap(),
            "--images",
            "--media-root",
            bridge.to_str().unwrap(),
        ],
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out);
    assert_eq!(got[0]["matches"][0]["bank"], "known");
    assert_eq!(got[0]["matches"][0]["source"], "unit");
    let image = &got[1];
    assert_eq!(image["matches"][0]["signal_kind"], "pdq", "{image}");
    assert!(image["matches"][0]["distance"].as_u64().unwrap() <= 31);
    assert_eq!(image["media"].as_array().unwrap().len(), 3);
    assert!(image["media"][1]["error"].is_string());
    assert!(image["media"][2]["error"]
        .as_str()
        .unwrap()
        .contains("remote"));
    assert_eq!(got[2]["matches"], serde_json::json!([]));

    // A bad bank file is a clear error before anything is scanned.
    std::fs::write(&bank, "kind,value\nphone,123\n").unwrap();
    let out = breakwater(
        &["scan", "--bank", bank.to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}
