//! Trend tables: weekly counts of assessed items by category, language, route and platform,
//! and the summary that may be shared with partners.
//!
//! Each item counts once in every dimension (an item with no route counts under `none`, one
//! with several under their joined names), so within a week each dimension's cells add up
//! to the week's total. That is what a partner could subtract with, and what
//! [`TrendTable::summary_for_sharing`] protects against:
//!
//! - a week whose total is under the minimum is withheld whole;
//! - every cell under the minimum is suppressed (primary suppression);
//! - within a dimension, suppressed cells are known only through their sum (the total minus
//!   the published cells) and to be at least 1 each, being listed. More cells are suppressed,
//!   smallest first, until that sum leaves every suppressed cell a range of values that
//!   reaches the minimum: no suppressed cell can be worked out, nor shown to be under the
//!   minimum (secondary suppression). When no cell is left to suppress, the dimension is
//!   withheld for that week.
//!
//! No totals across weeks are published, so there are no other sums to subtract from.

use crate::week::Week;
use breakwater_core::{Assessment, EntityKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What items are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Category,
    Language,
    Route,
    Platform,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Category,
        Dimension::Language,
        Dimension::Route,
        Dimension::Platform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Language => "language",
            Dimension::Route => "route",
            Dimension::Platform => "platform",
        }
    }
}

/// The values of one item in each dimension, in [`Dimension::ALL`] order.
pub type Values<'a> = [&'a str; 4];

#[derive(Debug, Clone, Default, PartialEq)]
struct WeekTable {
    total: u64,
    cells: [BTreeMap<String, u64>; 4],
}

/// Weekly counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrendTable {
    weeks: BTreeMap<Week, WeekTable>,
}

/// One count: a week's total (`dimension` and `value` empty) or one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendRow {
    pub week: Week,
    pub dimension: Option<Dimension>,
    pub value: String,
    pub count: u64,
}

impl TrendTable {
    pub fn new() -> Self {
        TrendTable::default()
    }

    /// Counts an assessed item seen at `at_ms` (Unix milliseconds). The caller chooses what
    /// to count (typically items that are not benign). Items without a category count under
    /// `none`, without a platform under `unknown`.
    pub fn add(&mut self, at_ms: i64, assessment: &Assessment, platform: Option<&str>) {
        let mut routes: Vec<&str> = assessment
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::Route)
            .map(|e| e.value.as_str())
            .collect();
        routes.sort_unstable();
        routes.dedup();
        let route = if routes.is_empty() {
            "none".to_string()
        } else {
            routes.join("; ")
        };
        let category = assessment.category.map_or("none", |c| c.as_str());
        let language = if assessment.language.is_empty() {
            "und"
        } else {
            assessment.language.as_str()
        };
        self.add_values(
            at_ms,
            [category, language, &route, platform.unwrap_or("unknown")],
        );
    }

    /// Counts an item by its values in each dimension.
    pub fn add_values(&mut self, at_ms: i64, values: Values<'_>) {
        let week = self.weeks.entry(Week::of(at_ms)).or_default();
        week.total += 1;
        for (cells, value) in week.cells.iter_mut().zip(values) {
            match cells.get_mut(value) {
                Some(n) => *n += 1,
                None => {
                    cells.insert(value.to_string(), 1);
                }
            }
        }
    }

    /// Every count, week by week: the total first, then the cells of each dimension.
    pub fn rows(&self) -> Vec<TrendRow> {
        let mut rows = Vec::new();
        for (&week, table) in &self.weeks {
            rows.push(TrendRow {
                week,
                dimension: None,
                value: String::new(),
                count: table.total,
            });
            for (dimension, cells) in Dimension::ALL.into_iter().zip(&table.cells) {
                for (value, &count) in cells {
                    rows.push(TrendRow {
                        week,
                        dimension: Some(dimension),
                        value: value.clone(),
                        count,
                    });
                }
            }
        }
        rows
    }

    /// `week,dimension,value,count`, the week's total with dimension `total`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("week,dimension,value,count\n");
        for row in self.rows() {
            let dimension = row.dimension.map_or("total", Dimension::as_str);
            let _ = writeln!(
                out,
                "{},{},{},{}",
                row.week,
                dimension,
                csv_field(&row.value),
                row.count
            );
        }
        out
    }

    /// `{"weeks": [{"week", "total", "category": {value: count}, "language": …}]}`.
    pub fn to_json(&self) -> Value {
        let weeks: Vec<Value> = self
            .weeks
            .iter()
            .map(|(week, table)| {
                let mut entry = json!({"week": week, "total": table.total});
                for (dimension, cells) in Dimension::ALL.into_iter().zip(&table.cells) {
                    entry[dimension.as_str()] = json!(cells);
                }
                entry
            })
            .collect();
        json!({ "weeks": weeks })
    }

    /// The counts that may be shared: see the module documentation for the rules.
    pub fn summary_for_sharing(&self, min_count: u64) -> SharedSummary {
        let k = min_count.max(1);
        let weeks = self
            .weeks
            .iter()
            .map(|(&week, table)| {
                if table.total < k {
                    return SharedWeek {
                        week,
                        total: None,
                        groups: Dimension::ALL
                            .into_iter()
                            .map(|dimension| SharedGroup {
                                dimension,
                                withheld: true,
                                cells: Vec::new(),
                            })
                            .collect(),
                    };
                }
                let groups = Dimension::ALL
                    .into_iter()
                    .zip(&table.cells)
                    .map(|(dimension, cells)| protect(dimension, cells, k))
                    .collect();
                SharedWeek {
                    week,
                    total: Some(table.total),
                    groups,
                }
            })
            .collect();
        SharedSummary {
            min_count: k,
            weeks,
        }
    }
}

/// Suppresses the cells of one dimension of one week (whose total is published).
fn protect(dimension: Dimension, cells: &BTreeMap<String, u64>, k: u64) -> SharedGroup {
    let mut suppressed: Vec<bool> = cells.values().map(|&n| n < k).collect();
    let counts: Vec<u64> = cells.values().copied().collect();
    // Suppressed cells are known to sum to `sum` and each to be at least 1, so each lies in
    // [1, sum − (m − 1)]; that range must reach k.
    let safe = |suppressed: &[bool]| {
        let m = suppressed.iter().filter(|&&s| s).count() as u64;
        let sum: u64 = counts
            .iter()
            .zip(suppressed)
            .filter(|(_, &s)| s)
            .map(|(&n, _)| n)
            .sum();
        m == 0 || sum >= k + m - 1
    };
    while !safe(&suppressed) {
        let smallest = (0..counts.len())
            .filter(|&i| !suppressed[i])
            .min_by_key(|&i| counts[i]);
        match smallest {
            Some(i) => suppressed[i] = true,
            None => {
                return SharedGroup {
                    dimension,
                    withheld: true,
                    cells: Vec::new(),
                }
            }
        }
    }
    SharedGroup {
        dimension,
        withheld: false,
        cells: cells
            .keys()
            .zip(counts.iter().zip(&suppressed))
            .map(|(value, (&count, &hidden))| SharedCell {
                value: value.clone(),
                count: (!hidden).then_some(count),
            })
            .collect(),
    }
}

/// Trend counts safe to share with partners.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedSummary {
    pub min_count: u64,
    pub weeks: Vec<SharedWeek>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedWeek {
    pub week: Week,
    /// `None` when the week is withheld (fewer items than the minimum).
    pub total: Option<u64>,
    pub groups: Vec<SharedGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedGroup {
    pub dimension: Dimension,
    /// The whole dimension is withheld this week; `cells` is empty.
    pub withheld: bool,
    pub cells: Vec<SharedCell>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedCell {
    pub value: String,
    /// `None` when suppressed.
    pub count: Option<u64>,
}

impl SharedSummary {
    /// `week,dimension,value,count,status` with status `shown`, `suppressed` (count empty) or
    /// `withheld` (the whole dimension, or the week's total).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("week,dimension,value,count,status\n");
        for week in &self.weeks {
            match week.total {
                Some(n) => {
                    let _ = writeln!(out, "{},total,,{n},shown", week.week);
                }
                None => {
                    let _ = writeln!(out, "{},total,,,withheld", week.week);
                }
            }
            for group in &week.groups {
                let dimension = group.dimension.as_str();
                if group.withheld {
                    let _ = writeln!(out, "{},{dimension},,,withheld", week.week);
                    continue;
                }
                for cell in &group.cells {
                    let value = csv_field(&cell.value);
                    match cell.count {
                        Some(n) => {
                            let _ = writeln!(out, "{},{dimension},{value},{n},shown", week.week);
                        }
                        None => {
                            let _ = writeln!(out, "{},{dimension},{value},,suppressed", week.week);
                        }
                    }
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break, and with a leading
/// apostrophe when a spreadsheet would read it as a formula (values come from user content).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Rng;

    const WEEK_MS: i64 = 7 * 86_400_000;
    const START: i64 = 1_767_571_200_000;

    fn table() -> TrendTable {
        let mut t = TrendTable::new();
        for (n, values) in [
            (
                40,
                ["smuggling_service", "en", "Calais → Dover", "facebook"],
            ),
            (12, ["smuggling_service", "ar", "none", "tiktok"]),
            (2, ["document_fraud", "en", "none", "facebook"]),
            (1, ["solicitation", "ps", "none", "telegram"]),
        ] {
            for _ in 0..n {
                t.add_values(START, values);
            }
        }
        t.add_values(START + WEEK_MS, ["document_fraud", "en", "none", "x"]);
        t
    }

    #[test]
    fn exports_counts_as_csv_and_json() {
        let t = table();
        let csv = t.to_csv();
        assert!(csv.starts_with("week,dimension,value,count\n2026-01-05,total,,55\n"));
        assert!(csv.contains("2026-01-05,route,Calais → Dover,40\n"));
        assert!(csv.contains("2026-01-12,platform,x,1\n"));
        let json = t.to_json();
        assert_eq!(json["weeks"][0]["language"]["ar"], 12);
        assert_eq!(json["weeks"][1]["total"], 1);
    }

    #[test]
    fn suppresses_small_cells_and_their_complements() {
        let summary = table().summary_for_sharing(5);
        let first = &summary.weeks[0];
        assert_eq!(first.total, Some(55));
        let category = &first.groups[0];
        let shown: Vec<(&str, Option<u64>)> = category
            .cells
            .iter()
            .map(|c| (c.value.as_str(), c.count))
            .collect();
        // 2 and 1 are under 5; their sum 3 would tell that both are small, so the smallest
        // other cell goes too.
        assert_eq!(
            shown,
            [
                ("document_fraud", None),
                ("smuggling_service", None),
                ("solicitation", None)
            ]
        );
        // Week two has one item: withheld whole.
        assert_eq!(summary.weeks[1].total, None);
        assert!(summary.weeks[1].groups.iter().all(|g| g.withheld));
        let csv = summary.to_csv();
        assert!(csv.contains("2026-01-05,category,document_fraud,,suppressed\n"));
        assert!(csv.contains("2026-01-12,total,,,withheld\n"));
        assert!(!csv.contains(",1,shown") && !csv.contains(",2,shown"));
    }

    /// Every assignment of values to the suppressed cells of a group that agrees with what
    /// is published (each at least 1, summing to the total minus the shown cells).
    fn feasible_values(cells: &[u64], hidden: &[bool], total: u64) -> Vec<Vec<u64>> {
        let shown: u64 = cells
            .iter()
            .zip(hidden)
            .filter(|(_, &h)| !h)
            .map(|(c, _)| c)
            .sum();
        let m = hidden.iter().filter(|&&h| h).count();
        let sum = total - shown;
        let mut out = Vec::new();
        fn walk(left: u64, slots: usize, current: &mut Vec<u64>, out: &mut Vec<Vec<u64>>) {
            if slots == 1 {
                if left >= 1 {
                    current.push(left);
                    out.push(current.clone());
                    current.pop();
                }
                return;
            }
            for v in 1..left {
                current.push(v);
                walk(left - v, slots - 1, current, out);
                current.pop();
            }
        }
        if m > 0 {
            walk(sum, m, &mut Vec::new(), &mut out);
        }
        out
    }

    #[test]
    fn no_shared_cell_is_small_and_no_suppressed_cell_can_be_worked_out() {
        let mut rng = Rng::new(5);
        for round in 0..300 {
            let mut t = TrendTable::new();
            let k = rng.between(3, 10) as u64;
            let items = rng.between(0, 40);
            let categories = ["a", "b", "c", "d", "e"];
            for _ in 0..items {
                // Skewed, so that small cells are common.
                let spread = rng.between(1, 5);
                let c = categories[rng.below(spread)];
                let l = categories[rng.below(3)];
                t.add_values(START, [c, l, "none", "p"]);
            }
            let summary = t.summary_for_sharing(k);
            for (week, shared) in t.weeks.values().zip(&summary.weeks) {
                match shared.total {
                    None => {
                        assert!(week.total < k);
                        assert!(shared
                            .groups
                            .iter()
                            .all(|g| g.withheld && g.cells.is_empty()));
                        continue;
                    }
                    Some(n) => assert!(n >= k && n == week.total),
                }
                for (group, cells) in shared.groups.iter().zip(&week.cells) {
                    if group.withheld {
                        continue;
                    }
                    let counts: Vec<u64> = cells.values().copied().collect();
                    let hidden: Vec<bool> = group.cells.iter().map(|c| c.count.is_none()).collect();
                    for cell in &group.cells {
                        assert!(cell.count.is_none_or(|n| n >= k), "round {round}: {cell:?}");
                    }
                    let solutions = feasible_values(&counts, &hidden, week.total);
                    let hidden_at: Vec<usize> = (0..hidden.len()).filter(|&i| hidden[i]).collect();
                    for (slot, &i) in hidden_at.iter().enumerate() {
                        let values: std::collections::BTreeSet<u64> =
                            solutions.iter().map(|s| s[slot]).collect();
                        assert!(values.contains(&counts[i]));
                        assert!(values.len() >= 2, "round {round}: cell {i} recoverable");
                        assert!(
                            values.iter().any(|&v| v >= k),
                            "round {round}: cell {i} shown to be under {k}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
