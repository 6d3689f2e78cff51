//! `breakwater refer`: a government unit refers a file of URLs to a platform, on the
//! service's database. Every URL is checked before anything is stored.

use crate::serve::DatabaseArgs;
use crate::UsageError;
use anyhow::Context;
use breakwater_core::Category;
use breakwater_store::{
    normalise_url, NewReferral, ReferralTarget, StoreError, DEFAULT_REFERRAL_DEADLINE_HOURS,
    MAX_REFERRAL_DEADLINE_MS, MAX_REFERRAL_TARGETS,
};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ReferArgs {
    /// A file of URLs, one per line (blank lines and lines starting with `#` are skipped);
    /// `-` reads standard input.
    file: PathBuf,
    /// The referring (government) organisation.
    #[arg(long)]
    from_org: i64,
    /// The platform organisation referred to.
    #[arg(long)]
    to_org: i64,
    /// The law or policy the referral rests on.
    #[arg(long)]
    legal_basis: String,
    /// The category of the content, e.g. smuggling_service.
    #[arg(long)]
    category: String,
    /// Hours the platform has to decide.
    #[arg(long, default_value_t = DEFAULT_REFERRAL_DEADLINE_HOURS)]
    deadline_hours: f64,
    #[command(flatten)]
    db: DatabaseArgs,
}

/// The URLs of the file, with their line numbers, or every bad line at once.
fn read_urls(args: &ReferArgs) -> anyhow::Result<Vec<String>> {
    let mut text = String::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text = std::fs::read_to_string(&args.file)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", args.file.display())))?;
    }
    let mut urls = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if normalise_url(line).is_some() {
            urls.push(line.to_string());
        } else {
            bad.push(format!("line {}: `{line}` is not an http(s) URL", n + 1));
        }
    }
    if !bad.is_empty() {
        return Err(UsageError(bad.join("\n")).into());
    }
    if urls.is_empty() {
        return Err(UsageError(format!("{} holds no URL", args.file.display())).into());
    }
    Ok(urls)
}

pub fn run(args: ReferArgs) -> anyhow::Result<ExitCode> {
    let category: Category = args
        .category
        .parse()
        .map_err(|e| UsageError(format!("{e}")))?;
    let max_hours = MAX_REFERRAL_DEADLINE_MS as f64 / 3_600_000.0;
    if !(args.deadline_hours.is_finite() && (0.0..=max_hours).contains(&args.deadline_hours)) {
        return Err(UsageError(format!(
            "--deadline-hours must be between 0 and {max_hours}"
        ))
        .into());
    }
    let urls = read_urls(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let store = args.db.open().await?;
        let (mut created, mut joined, mut already) = (0, 0, 0);
        println!("referral\tstate\turl");
        // Each request is all or nothing; a file larger than one request is sent in parts.
        for chunk in urls.chunks(MAX_REFERRAL_TARGETS) {
            let new = NewReferral {
                platform_id: args.to_org,
                targets: chunk.iter().cloned().map(ReferralTarget::Url).collect(),
                legal_basis: args.legal_basis.clone(),
                category,
                deadline_ms: (args.deadline_hours * 3_600_000.0).round() as i64,
            };
            let referred = match store.create_referrals(args.from_org, "cli", &new).await {
                Ok(r) => r,
                // Wrong organisations or legal basis: how the command was called.
                Err(StoreError::Invalid(m)) => return Err(UsageError(m).into()),
                Err(StoreError::NotFound) => {
                    return Err(
                        UsageError(format!("there is no organisation {}", args.from_org)).into(),
                    )
                }
                Err(e) => return Err(e.into()),
            };
            for (url, r) in chunk.iter().zip(&referred) {
                let state = if r.created {
                    created += 1;
                    "new"
                } else if r.joined {
                    joined += 1;
                    "joined"
                } else {
                    already += 1;
                    "already referred"
                };
                println!("{}\t{state}\t{url}", r.referral.id);
            }
        }
        eprintln!(
            "{} URLs: {created} new referrals, {joined} joined another unit's, {already} already referred",
            urls.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}
