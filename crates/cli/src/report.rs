//! `breakwater report`: an organisation's transparency report for a period, as Markdown,
//! HTML or JSON. The figures come from the store ([`Store::transparency_report`]); this
//! module only lays them out, once, for both text formats.

use crate::serve::DatabaseArgs;
use crate::UsageError;
use anyhow::Context;
use breakwater_core::{format_rfc3339_ms, parse_rfc3339_ms};
use breakwater_store::{ReferralFigures, StoreError, TransparencyReport};
use std::collections::BTreeMap;
use std::process::ExitCode;

const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The organisation reported on.
    #[arg(long)]
    org: i64,
    /// Start of the period: a date (`2026-01-01`, midnight UTC) or an RFC 3339 time.
    #[arg(long)]
    from: String,
    /// End of the period: a date is included whole; an RFC 3339 time is excluded.
    #[arg(long)]
    to: String,
    #[arg(long, value_enum, default_value = "markdown")]
    format: Format,
    #[command(flatten)]
    db: DatabaseArgs,
}

/// The period's bounds in Unix ms, `from` included and `to` excluded.
fn period(from: &str, to: &str) -> Result<(i64, i64), UsageError> {
    let parse = |flag: &str, s: &str| {
        parse_rfc3339_ms(s).ok_or_else(|| {
            UsageError(format!(
                "{flag} `{s}` is not a date (YYYY-MM-DD) or RFC 3339 time"
            ))
        })
    };
    let start = parse("--from", from)?;
    let mut end = parse("--to", to)?;
    if to.trim().len() == 10 {
        end += DAY_MS;
    }
    if end <= start {
        return Err(UsageError("--to must be after --from".into()));
    }
    Ok((start, end))
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = period(&args.from, &args.to)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(async {
        let store = args.db.open().await?;
        match store.transparency_report(args.org, from, to).await {
            Err(StoreError::NotFound) => {
                Err(UsageError(format!("there is no organisation {}", args.org)).into())
            }
            other => other.map_err(anyhow::Error::from),
        }
    })?;
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Markdown => markdown(&sections(&report), &title(&report)),
        Format::Html => html(&sections(&report), &title(&report)),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A titled table; both text formats render the same list of them.
struct Section {
    title: &'static str,
    note: Option<&'static str>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn title(r: &TransparencyReport) -> (String, String) {
    (
        format!("Transparency report: {}", r.organisation.name),
        format!(
            "Organisation {} ({}), from {} (included) to {} (excluded), UTC.",
            r.organisation.id,
            r.organisation.kind.as_str(),
            format_rfc3339_ms(r.from),
            format_rfc3339_ms(r.to)
        ),
    )
}

/// `1 h 05 min`, `42 s`, `350 ms`: readable at every scale, exact in the JSON.
fn duration(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "–".into() };
    match ms {
        ..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
        3_600_000..DAY_MS => format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
        _ => format!("{} d {:02} h", ms / DAY_MS, ms % DAY_MS / 3_600_000),
    }
}

fn counts(map: &BTreeMap<String, i64>, label: &str) -> Section {
    Section {
        title: "",
        note: None,
        header: vec![label.into(), "count".into()],
        rows: map
            .iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect(),
    }
}

fn referral_rows(received: &ReferralFigures, sent: &ReferralFigures) -> Vec<Vec<String>> {
    let outcome = |f: &ReferralFigures, k: &str| f.by_outcome.get(k).copied().unwrap_or(0);
    let mut rows = vec![
        ("referrals", received.total, sent.total),
        ("joined another unit's referral", 0, sent.joined),
        (
            "removed",
            outcome(received, "removed"),
            outcome(sent, "removed"),
        ),
        (
            "restricted",
            outcome(received, "restricted"),
            outcome(sent, "restricted"),
        ),
        (
            "no violation found",
            outcome(received, "no_violation"),
            outcome(sent, "no_violation"),
        ),
        (
            "undecided at the end of the period",
            outcome(received, "open"),
            outcome(sent, "open"),
        ),
        (
            "of which past their deadline",
            received.overdue,
            sent.overdue,
        ),
    ]
    .into_iter()
    .map(|(k, a, b)| vec![k.to_string(), a.to_string(), b.to_string()])
    .collect::<Vec<_>>();
    rows.push(vec![
        "time to action, median".into(),
        duration(received.time_to_action.median_ms),
        duration(sent.time_to_action.median_ms),
    ]);
    rows.push(vec![
        "time to action, 90th percentile".into(),
        duration(received.time_to_action.p90_ms),
        duration(sent.time_to_action.p90_ms),
    ]);
    let categories: std::collections::BTreeSet<&String> = received
        .by_category
        .keys()
        .chain(sent.by_category.keys())
        .collect();
    for c in categories {
        let n = |f: &ReferralFigures| f.by_category.get(c).copied().unwrap_or(0).to_string();
        rows.push(vec![format!("category: {c}"), n(received), n(sent)]);
        let median = |f: &ReferralFigures| {
            duration(
                f.time_to_action_by_category
                    .get(c)
                    .and_then(|t| t.median_ms),
            )
        };
        rows.push(vec![
            format!("category: {c}, time to action, median"),
            median(received),
            median(sent),
        ]);
    }
    rows
}

fn sections(r: &TransparencyReport) -> Vec<Section> {
    let mut items = counts(&r.items_by_verdict, "verdict");
    items.title = "Items assessed";
    items
        .rows
        .push(vec!["total".into(), r.items_total.to_string()]);

    let mut decision_rows = Vec::new();
    for (category, actions) in &r.decisions_by_category {
        for (action, n) in actions {
            decision_rows.push(vec![category.clone(), action.clone(), n.to_string()]);
        }
    }
    decision_rows.push(vec![
        "total".into(),
        String::new(),
        r.decisions_total.to_string(),
    ]);

    let mut delivered = counts(&r.actions_delivered.delivered_by_action, "action or event");
    delivered.title = "Actions delivered";
    delivered.note = Some("Signed webhook deliveries that reached their endpoint.");
    delivered.rows.push(vec![
        "total delivered".into(),
        r.actions_delivered.delivered.to_string(),
    ]);
    delivered.rows.push(vec![
        "given up after retries".into(),
        r.actions_delivered.failed.to_string(),
    ]);

    let a = &r.appeals;
    let i = &r.interventions;
    let mut shown = vec![
        vec!["impressions".into(), i.impressions.to_string()],
        vec!["dismissals".into(), i.dismissals.to_string()],
    ];
    shown.extend(
        i.impressions_by_language
            .iter()
            .map(|(l, n)| vec![format!("impressions in `{l}`"), n.to_string()]),
    );
    shown.extend(
        i.impressions_by_message
            .iter()
            .map(|(m, n)| vec![format!("impressions of `{m}`"), n.to_string()]),
    );

    vec![
        items,
        Section {
            title: "Decisions",
            note: Some("Review decisions by category and action; appeals are counted below."),
            header: vec!["category".into(), "action".into(), "decisions".into()],
            rows: decision_rows,
        },
        delivered,
        Section {
            title: "Referrals",
            note: Some(
                "Outcomes as they stood at the end of the period (or now, if it has not ended). Time to action runs from \
                 the referral to the platform's decision (nearest-rank percentiles).",
            ),
            header: vec!["".into(), "received".into(), "sent".into()],
            rows: referral_rows(&r.referrals_received, &r.referrals_sent),
        },
        Section {
            title: "Appeals",
            note: Some("An appeal is upheld when it ends in the action appealed against."),
            header: vec!["".into(), "count".into()],
            rows: [
                ("filed", a.filed),
                ("decided", a.decided),
                ("upheld", a.upheld),
                ("overturned", a.overturned),
            ]
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.to_string()])
            .collect(),
        },
        Section {
            title: "Risk-awareness messages shown",
            note: Some("Counted per message, language and day; no personal data is kept."),
            header: vec!["".into(), "count".into()],
            rows: shown,
        },
    ]
}

fn markdown(sections: &[Section], (title, subtitle): &(String, String)) -> String {
    // Pipes would end a cell early.
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!("# {}\n\n{}\n", cell(title), cell(subtitle));
    for s in sections {
        out.push_str(&format!("\n## {}\n\n", s.title));
        if let Some(note) = s.note {
            out.push_str(note);
            out.push_str("\n\n");
        }
        let header: Vec<String> = s.header.iter().map(|h| cell(h)).collect();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(s.header.len())));
        for row in &s.rows {
            let row: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(sections: &[Section], (title, subtitle): &(String, String)) -> String {
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2rem .6rem}}\
         td:not(:first-child){{text-align:right}}</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{s}</p>\n",
        t = escape(title),
        s = escape(subtitle)
    );
    for s in sections {
        out.push_str(&format!("<h2>{}</h2>\n", escape(s.title)));
        if let Some(note) = s.note {
            out.push_str(&format!("<p>{}</p>\n", escape(note)));
        }
        out.push_str("<table>\n<tr>");
        for h in &s.header {
            out.push_str(&format!("<th>{}</th>", escape(h)));
        }
        out.push_str("</tr>\n");
        for row in &s.rows {
            out.push_str("<tr>");
            for c in row {
                out.push_str(&format!("<td>{}</td>", escape(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_include_whole_end_dates() {
        assert_eq!(
            period("2026-01-01", "2026-01-31").unwrap(),
            (1_767_225_600_000, 1_767_225_600_000 + 31 * DAY_MS)
        );
        let (from, to) = period("2026-01-01", "2026-01-01T12:00:00Z").unwrap();
        assert_eq!(to - from, DAY_MS / 2);
        assert!(period("2026-02-01", "2026-01-01").is_err());
        assert!(period("yesterday", "2026-01-01").is_err());
    }

    #[test]
    fn durations_read_at_every_scale() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(350)), "350 ms");
        assert_eq!(duration(Some(42_000)), "42.0 s");
        assert_eq!(duration(Some(3_900_000)), "1 h 05 min");
        assert_eq!(duration(Some(2 * DAY_MS + 3_600_000)), "2 d 01 h");
    }
}
