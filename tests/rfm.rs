//! RFM segmentation (CAMPAIGN.md §8): `[rfm]`, the RFM values and `quantile` in segments,
//! through the JIT and the interpreter alike, the grid of `segment --explain`, and what is
//! refused, where.

mod support;

use std::collections::HashMap;
use std::path::Path;

use support::{callscript, scratch};
use tempfile::TempDir;

const EXAMPLE: &str = "examples/wealth_marketing";

/// A copy of the wealth marketing example in a folder of its own (removed with the guard), with
/// `edit` applied to its campaign file and `csv` to its list.
fn example(name: &str, edit: &dyn Fn(String) -> String, csv: &dyn Fn(String) -> String) -> TempDir {
    let tmp = scratch(&format!("rfm-{name}"));
    let dir = tmp.path();
    std::fs::copy(format!("{EXAMPLE}/wealth_marketing.call"), dir.join("wealth_marketing.call")).unwrap();
    let list = std::fs::read_to_string(format!("{EXAMPLE}/customers.csv")).unwrap();
    std::fs::write(dir.join("customers.csv"), csv(list)).unwrap();
    let campaign = std::fs::read_to_string(format!("{EXAMPLE}/campaign.toml")).unwrap();
    std::fs::write(dir.join("campaign.toml"), edit(campaign)).unwrap();
    tmp
}

/// The example's campaign with another segment.
fn with_segment(segment: &str) -> impl Fn(String) -> String + '_ {
    move |campaign: String| {
        let line = campaign.lines().find(|l| l.starts_with("segment = ")).unwrap().to_string();
        campaign.replace(&line, &format!("segment = {segment:?}"))
    }
}

/// The ids the campaign's segment keeps, in list order.
fn kept(campaign: &Path) -> Vec<String> {
    let (plan, _) = callscript::campaign::plan(campaign, None, None).unwrap();
    (0..plan.customers.len()).map(|i| plan.customers.id(i).to_string()).collect()
}

/// Each value's quintile by sorting: ties take the middle of the places they hold.
fn quintiles(values: &[i64]) -> Vec<u32> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let n = sorted.len() as f64;
    values
        .iter()
        .map(|v| {
            let first = sorted.iter().position(|x| x == v).unwrap() as f64;
            let last = sorted.iter().rposition(|x| x == v).unwrap() as f64;
            let middle = (first + last + 1.0) / 2.0;
            1 + (middle * 5.0 / n).floor() as u32
        })
        .collect()
}

/// Whether R, F and M scores are in a segment.
type Keep = dyn Fn(u32, u32, u32) -> bool;

/// Per customer id of the example: its R, F and M scores, from the list alone.
fn scores() -> HashMap<String, (u32, u32, u32)> {
    let list = std::fs::read_to_string(format!("{EXAMPLE}/customers.csv")).unwrap();
    let mut lines = list.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let days = |d: &str| callscript_compiler::value::Date::parse(d).unwrap().days();
    let money = |m: &str| callscript_compiler::value::Money::parse(m).unwrap().cents();
    let r = quintiles(&rows.iter().map(|r| days(r[col("last_txn_date")])).collect::<Vec<_>>());
    let f = quintiles(&rows.iter().map(|r| r[col("txn_count")].parse().unwrap()).collect::<Vec<_>>());
    let m = quintiles(&rows.iter().map(|r| money(r[col("txn_amount")])).collect::<Vec<_>>());
    rows.iter().enumerate().map(|(i, row)| (row[col("id")].to_string(), (r[i], f[i], m[i]))).collect()
}

/// The segments over RFM values keep what the scores computed from the list alone say, the
/// same whether the JIT runs them or the interpreter (text joined with `+` is never compiled,
/// so `rfm_score + ""` runs every row in the interpreter).
#[test]
fn rfm_segments_keep_the_customers_their_scores_say_in_the_jit_and_the_interpreter() {
    let scores = scores();
    let ids = |keep: &Keep| -> Vec<String> {
        let list = std::fs::read_to_string(format!("{EXAMPLE}/customers.csv")).unwrap();
        list.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .filter(|id| {
                let (r, f, m) = scores[id];
                keep(r, f, m)
            })
            .collect()
    };
    let cases: [(&str, &str, &Keep); 3] = [
        ("rfm_score == \"555\"", "rfm_score + \"\" == \"555\"", &|r, f, m| (r, f, m) == (5, 5, 5)),
        ("r_score >= 4 and m_score >= 3", "r_score >= 4 and m_score >= 3 and rfm_score + \"\" != \"\"", &|r, _, m| {
            r >= 4 && m >= 3
        }),
        ("f_score == 1 or rfm_score == \"155\"", "f_score == 1 or rfm_score + \"\" == \"155\"", &|r, f, m| {
            f == 1 || (r, f, m) == (1, 5, 5)
        }),
    ];
    for (i, (jit, interpreted, keep)) in cases.into_iter().enumerate() {
        let expected = ids(keep);
        assert!(!expected.is_empty(), "{jit} keeps some");
        for segment in [jit, interpreted] {
            let dir = example(&format!("agree{i}"), &with_segment(segment), &|csv| csv);
            assert_eq!(kept(&dir.path().join("campaign.toml")), expected, "{segment}");
        }
    }
    // Values and quantiles: the JIT and the interpreter agree.
    for (i, (jit, interpreted)) in [
        (
            "recency_days <= 30 and frequency >= 10",
            "recency_days <= 30 and frequency >= 10 and rfm_score + \"\" != \"\"",
        ),
        (
            "monetary > 50000.00 or quantile(min_amount, 4) == 1",
            "(monetary > 50000.00 or quantile(min_amount, 4) == 1) and rfm_score + \"\" != \"\"",
        ),
        (
            "quantile(recency_days, 10) <= 2 and quantile(term_days, 3) != 2",
            "quantile(recency_days, 10) <= 2 and quantile(term_days, 3) != 2 and rfm_score + \"\" != \"\"",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let jit_dir = example(&format!("jit{i}"), &with_segment(jit), &|csv| csv);
        let interpreted_dir = example(&format!("interpreted{i}"), &with_segment(interpreted), &|csv| csv);
        let (a, b) = (kept(&jit_dir.path().join("campaign.toml")), kept(&interpreted_dir.path().join("campaign.toml")));
        assert!(!a.is_empty() && a.len() < 3000, "{jit}: {}", a.len());
        assert_eq!(a, b, "{jit}");
    }
}

/// `segment --explain` with `[rfm]`: the grid of R by F (customers, then monetary sums) and
/// each score's values, before the plan. Times vary and are masked.
#[test]
fn segment_explain_prints_the_rfm_grid() {
    let out = callscript(&["segment", &format!("{EXAMPLE}/campaign.toml"), "--explain"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            // Every duration on the line (`1.25 ms`) as `[time]`.
            let mut l = l.to_string();
            while let Some(at) = l.find(" ms") {
                let start = l[..at].rfind(' ').unwrap() + 1;
                l.replace_range(start..at + 3, "[time]");
            }
            format!("{l}\n")
        })
        .collect();
    insta::assert_snapshot!("segment_rfm_explain", text);
}

/// What is refused, and where it is reported: `[rfm]` settings and the segment by `check` (at
/// the value in the campaign file, or the place in the segment), list columns by `segment` and
/// `run` (at the `[rfm]` key or the list's cell).
#[test]
fn bad_rfm_settings_segments_and_cells_are_reported_where_they_are() {
    let mut report = String::new();
    let mut case = |title: &str, edit: &dyn Fn(String) -> String, csv: &dyn Fn(String) -> String, command: &str| {
        let dir = example("refused", edit, csv);
        let campaign = dir.path().join("campaign.toml");
        let out = callscript(&[command, campaign.to_str().unwrap()]);
        let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
            .replace(&dir.path().display().to_string(), "[dir]");
        report.push_str(&format!("## {title} ({command}: exit {:?})\n{shown}\n", out.status.code()));
    };
    let keep = |csv: String| csv;
    case("an unknown key", &|c| c.replace("as_of = ", "as_off = "), &keep, "check");
    case(
        "columns that cannot be measures, and a day that is not one",
        &|c| {
            c.replace("recency = \"last_txn_date\"", "recency = \"phone\"")
                .replace("monetary = \"txn_amount\"", "monetary = \"txn_count\"")
                .replace("as_of = \"2026-11-24\"", "as_of = \"2026-11-31\"")
        },
        &keep,
        "check",
    );
    case(
        "an [rfm] that names nothing",
        &|c| {
            let start = c.find("recency = ").unwrap();
            let end = c.find("\n\n[schedule]").unwrap();
            format!("{}{}", &c[..start], &c[end..])
        },
        &keep,
        "check",
    );
    case(
        "a value [rfm] does not declare, and bad calls",
        &|c| {
            with_segment("rfm_score == \"555\" and quantile(customer_name, 4) == 1 and quantile(min_amount, 200) == 1")(
                c.replace("recency = \"last_txn_date\"", "# no recency"),
            )
        },
        &keep,
        "check",
    );
    case("a column the list does not have", &|c| c.replace("\"txn_count\"", "\"txn_total\""), &keep, "segment");
    case(
        "cells that are not values of their measure",
        &|c| c,
        &|csv| csv.replacen(",2026-10-15,1,2961.06", ",2026-10-32,-1,2961.065", 1),
        "run",
    );
    case(
        "a row without a value the segment reads",
        &|c| c,
        &|csv| csv.replacen(",2026-05-26,3,9151.23", ",,3,9151.23", 1),
        "segment",
    );
    insta::assert_snapshot!("rfm_refused", report);
}
