//! `breakwater bench api`: an open-loop load test of the API on loopback.
//!
//! Requests are started on a fixed schedule (not when the previous one ends), so a slow
//! server shows up as latency rather than as a lower request rate.

use breakwater_server::{AppState, Metrics};
use breakwater_store::{OrgKind, Role, Store};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    Classify,
    Items,
    /// `POST /v1/interventions`: which warning to show for a query or post.
    Interventions,
}

pub fn run(
    data: Option<&Path>,
    endpoint: Endpoint,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<ExitCode> {
    let dir = breakwater_pipeline::find_data_dir(data)?;
    let pipeline = Arc::new(crate::load_pipeline(Some(&dir))?);
    let texts: Vec<String> = breakwater_text::corpus::read_dir(&dir.join("corpus"))?
        .into_iter()
        .map(|e| e.text)
        .collect();
    let work = tempfile_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = Store::open(work.join("bench.db").to_str().unwrap_or("bench.db")).await?;
        let org = store.create_organisation("bench", OrgKind::Platform).await?;
        let (_, key) = store.create_key(org.id, Role::Admin, "bench", "bench").await?;
        let state = AppState { pipeline, store, metrics: Arc::new(Metrics::default()), banks: Default::default(), campaigns: Default::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        std::env::set_var("BREAKWATER_QUIET", "1");
        tokio::spawn(breakwater_server::serve(listener, state));
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let path = match endpoint {
            Endpoint::Classify => "/v1/classify",
            Endpoint::Items => "/v1/items",
            Endpoint::Interventions => "/v1/interventions",
        };
        let total = (rate as u64 * seconds) as usize;
        let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let request = |id: String, text: &str| {
            // The interventions API takes a text alone (a search query or post), no item id.
            let body = match endpoint {
                Endpoint::Interventions => serde_json::json!({"text": text}),
                _ => serde_json::json!({"id": id, "text": text}),
            }
            .to_string();
            hyper::Request::post(format!("http://{addr}{path}"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {key}"))
                .body(Full::new(Bytes::from(body)))
        };
        // Warm up one request at a time, untimed: the first request opens database
        // connections and touches the model's pages (about 0.1 s), and on an open-loop
        // schedule the hundred requests queued behind it would be counted as the p99.
        let mut cold = Duration::ZERO;
        for (i, text) in texts.iter().take(200).enumerate() {
            let sent = Instant::now();
            let r = client.request(request(format!("warm-{i}"), text)?).await?;
            let _ = r.into_body().collect().await;
            if i == 0 {
                cold = sent.elapsed();
            }
        }
        let started = Instant::now();
        let mut handles = Vec::with_capacity(total);
        for i in 0..total {
            let due = started + interval * i as u32;
            tokio::time::sleep_until(due.into()).await;
            let request = request(format!("load-{i}"), &texts[i % texts.len()])?;
            let client = client.clone();
            handles.push(tokio::spawn(async move {
                let sent = Instant::now();
                let ok = match client.request(request).await {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.into_body().collect().await;
                        status.is_success()
                    }
                    Err(_) => false,
                };
                (sent.elapsed(), ok)
            }));
        }
        let mut latencies = Vec::with_capacity(total);
        let mut errors = 0;
        for h in handles {
            let (latency, ok) = h.await?;
            latencies.push(latency);
            errors += usize::from(!ok);
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "{path}: {total} requests at {rate}/s over {:.1}s → {:.0} req/s, {errors} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (first request, before warm-up: {:.1} ms)",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            cold.as_secs_f64() * 1e3,
        );
        let _ = std::fs::remove_dir_all(&work);
        Ok(if errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("breakwater-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
