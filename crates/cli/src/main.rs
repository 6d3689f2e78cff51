//! `breakwater`: the command line.
//!
//! Exit codes: 0 when the command completed (even if some input lines were bad: they get
//! an error line each), 1 on a fatal error (unreadable data, failed write), 2 on a usage
//! error (unknown flag, missing input file).

mod bank;
mod bench;
mod campaigns;
mod config;
mod eval;
mod exchange;
mod hash;
mod load;
mod refer;
mod report;
mod scan;
mod serve;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "breakwater",
    version,
    about = "Detect, share and disrupt organised-immigration-crime content"
)]
struct Cli {
    /// Data directory (lexicons, model, corpus); default: $BREAKWATER_DATA, ./data, or the
    /// source tree's data/.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API service (embedded SQLite by default, or PostgreSQL).
    Serve(serve::ServeArgs),
    /// Create organisations and keys, verify the audit log.
    #[command(subcommand)]
    Admin(serve::AdminCommand),
    /// Print the effective configuration and check that the service can start with it.
    CheckConfig(serve::CheckConfigArgs),
    /// The audit log: `audit verify --org ID` checks its hash chain.
    #[command(subcommand)]
    Audit(serve::AuditCommand),
    /// Classify a JSONL or CSV file (or stdin) offline, one JSON line out per item.
    Scan(scan::ScanArgs),
    /// Train the classifier and its calibration on the corpus's training split.
    Train(train::TrainArgs),
    /// Measure precision, recall and false-positive rate against a `label` field.
    Eval(eval::EvalArgs),
    /// Print `pdq quality md5 sha256 path` for image files.
    Hash(hash::HashArgs),
    /// Share banks with partners over TAXII 2.1: collections, pull, push, feedback.
    #[command(subcommand)]
    Exchange(exchange::ExchangeCommand),
    /// Signal banks: create, import, add, remove, look up, export.
    #[command(subcommand)]
    Bank(bank::BankCommand),
    /// Refer a file of URLs (one a line) from a government unit to a platform.
    Refer(refer::ReferArgs),
    /// An organisation's transparency report for a period (Markdown, HTML or JSON).
    Report(report::ReportArgs),
    /// Cluster posts (scan input or output) into campaigns: members, template, contacts.
    Campaigns(campaigns::CampaignsArgs),
    /// Benchmarks, side by side with a peer implementation.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// An error in how the command was called, as opposed to a failure while running it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Writes a command's whole output to stdout. A reader that went away (`| head`) is not
/// an error: the output was wanted only in part.
pub(crate) fn print_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data = cli.data.as_deref();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(data, args),
        Command::Admin(cmd) => serve::admin(cmd),
        Command::CheckConfig(args) => serve::check_config(data, args),
        Command::Audit(cmd) => serve::audit(cmd),
        Command::Scan(args) => scan::run(data, args),
        Command::Train(args) => train::run(data, args),
        Command::Eval(args) => eval::run(data, args),
        Command::Hash(args) => hash::run(args),
        Command::Bank(cmd) => bank::run(cmd),
        Command::Exchange(cmd) => exchange::run(data, cmd),
        Command::Refer(args) => refer::run(args),
        Command::Report(args) => report::run(args),
        Command::Campaigns(args) => campaigns::run(args),
        Command::Bench(cmd) => bench::run(data, cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("breakwater: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("breakwater: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Loads the pipeline from the data directory.
pub fn load_pipeline(
    data: Option<&std::path::Path>,
) -> anyhow::Result<breakwater_pipeline::Pipeline> {
    use anyhow::Context;
    let dir = breakwater_pipeline::find_data_dir(data)?;
    breakwater_pipeline::Pipeline::load(&dir).with_context(|| format!("loading {}", dir.display()))
}
