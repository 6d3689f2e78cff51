//! `kill -9` of `breakwater serve` in the middle of concurrent batch ingests loses no item
//! whose batch was acknowledged: on SQLite (configured by a file) and on PostgreSQL.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Concurrent ingesting clients.
const WORKERS: usize = 4;
const BATCH: usize = 20;
/// Acknowledged items to wait for before the kill.
const ACKED_BEFORE_KILL: usize = 200;

const TEXTS: [&str; 4] = [
    "Boat to UK tonight from Calais, 100% guaranteed, pay on arrival, WhatsApp +44 7911 123456",
    "Family dinner at grandma's tonight, bring the kids",
    "Where can I find someone to take me to Italy? I can pay",
    "Red Cross volunteers warn: never trust anyone offering a boat crossing",
];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// Runs `breakwater` to completion in `cwd`; returns its standard output.
fn breakwater(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(args)
        .current_dir(cwd)
        .env_remove("BREAKWATER_CONFIG")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "breakwater {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `breakwater serve` in `cwd` with `args` and waits until it listens.
fn start(cwd: &Path, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .arg("--data")
        .arg(data_dir())
        .arg("serve")
        .args(args)
        .current_dir(cwd)
        .env_remove("BREAKWATER_CONFIG")
        .env("BREAKWATER_QUIET", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keeps draining, so that the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server says where it listens");
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> Result<(u16, Value), hyper_util::client::legacy::Error> {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {key}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await?;
    let status = response.status().as_u16();
    // A body cut off by the kill is not an acknowledgement.
    let bytes = match response.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok((0, Value::Null)),
    };
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Every external id stored in the organisation, read page by page.
async fn stored_ids(client: &HttpClient, base: &str, key: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/v1/items?limit=1000&cursor={c}"),
            None => format!("{base}/v1/items?limit=1000"),
        };
        let (status, page) = request(client, "GET", &url, key, None).await.unwrap();
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            ids.insert(item["external_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

/// Posts batches from several clients, kills the server with SIGKILL once enough have been
/// acknowledged, restarts it with `restart` and checks that every acknowledged id is there.
async fn ingest_kill_restart(server: Server, key: &str, restart: impl FnOnce() -> Server) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
        let url = format!("{}/v1/items", server.base);
        let key = key.to_string();
        workers.push(tokio::spawn(async move {
            let mut failures = 0;
            for b in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let batch: Vec<Value> = (0..BATCH)
                    .map(|i| json!({"id": format!("w{w}-b{b}-i{i}"), "text": TEXTS[(b + i) % TEXTS.len()]}))
                    .collect();
                match request(&client, "POST", &url, &key, Some(json!(batch))).await {
                    Ok((201 | 200, body)) => {
                        let ids: Vec<String> = body["items"]
                            .as_array()
                            .expect("an acknowledged batch lists its items")
                            .iter()
                            .map(|i| i["external_id"].as_str().unwrap().to_string())
                            .collect();
                        assert_eq!(ids.len(), BATCH);
                        acked.lock().unwrap().extend(ids);
                    }
                    Ok((0, _)) | Err(_) => {
                        // The server is gone: this batch was never acknowledged.
                        failures += 1;
                        if failures > 3 {
                            break;
                        }
                    }
                    Ok((status, body)) => panic!("unexpected answer {status}: {body}"),
                }
            }
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "only {} items acknowledged in 240 s",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL while the clients are still posting: no shutdown, no flush.
    let mut server = server;
    server.child.kill().unwrap();
    let status = server.child.wait().unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    drop(server);

    let server = restart();
    // Idle connections of the old server are dead; start afresh.
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let stored = stored_ids(&client, &server.base, key).await;
    eprintln!(
        "acknowledged {} items before the kill; {} stored",
        acked.len(),
        stored.len()
    );
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged items lost after kill -9, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    // The restarted server takes ingests again, idempotently for what was stored.
    let (status, body) = request(
        &client,
        "POST",
        &format!("{}/v1/items", server.base),
        key,
        Some(json!([{"id": acked[0], "text": TEXTS[0]}])),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "already stored: {body}");
    assert_eq!(body["items"][0]["created"], false);
}

/// An organisation and an admin key, made with `breakwater admin`.
fn org_and_key(cwd: &Path, db: &[&str]) -> String {
    let mut args = vec!["admin", "create-org", "crash test", "--kind", "platform"];
    args.extend_from_slice(db);
    let org = breakwater(cwd, &args);
    let mut args = vec!["admin", "create-key", "--org", &org, "--role", "admin"];
    args.extend_from_slice(db);
    breakwater(cwd, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_no_acknowledged_item_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    // Configured by breakwater.toml in the working directory, as an operator would.
    std::fs::write(
        cwd.join("breakwater.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[database]\ndir = \"state\"\n\n\
         [webhooks]\nenabled = false\n",
    )
    .unwrap();
    let key = org_and_key(&cwd, &[]);
    assert!(
        cwd.join("state/breakwater.db").exists(),
        "admin used the file"
    );
    let server = start(&cwd, &[]);
    ingest_kill_restart(server, &key, || start(&cwd, &[])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_no_acknowledged_item_on_postgres() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let db = format!("bw_crash_{}_{nanos}", std::process::id());
    let admin = sqlx::PgPool::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL must be reachable at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let outcome = tokio::spawn(async move {
        let flags = ["--database-url", url.as_str()];
        let key = org_and_key(&cwd, &flags);
        let args = ["--listen", "127.0.0.1:0", "--database-url", url.as_str()];
        let server = start(&cwd, &args);
        ingest_kill_restart(server, &key, || start(&cwd, &args)).await;
    })
    .await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
