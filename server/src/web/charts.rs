//! The dashboard's charts: SVG columns and bars drawn on the server (no script), each with the
//! same figures in a table beside it, and how changes and hours read.

use super::lang::l;
use super::lang::tf;
use super::layout;
use super::words::say;
use chrono::{Datelike, Duration};
use maud::{html, Markup};
use signpost_domain::stats::Summary;
use std::collections::HashMap;

pub(super) fn change(now: f64, before: f64) -> String {
    if before == 0.0 {
        return if now == 0.0 {
            (l("no change", "dim newid")).into()
        } else {
            (l("new this period", "newydd yn y cyfnod hwn")).into()
        };
    }
    let pct = (now - before) / before * 100.0;
    if pct.abs() < 0.5 {
        (l("no change", "dim newid")).into()
    } else {
        format!("{}{:.0}%", if pct > 0.0 { "+" } else { "−" }, pct.abs())
    }
}

/// Volunteer hours as people read them: under an hour in minutes, so that a little time never
/// reads as "0.0" beside a rate worked out from it.
pub(super) fn hours(minutes: i64) -> String {
    match minutes {
        0 => "0".into(),
        1 => l("1 minute", "1 munud").into(),
        m if m < 60 => tf!("{m} minutes", "{m} munud"),
        m => format!("{:.1}", m as f64 / 60.0),
    }
}

/// Referrals per volunteer hour, once there is at least an hour to divide by: a rate from a few
/// minutes says nothing.
pub(super) fn per_hour(referrals: i64, minutes: i64) -> Option<f64> {
    (minutes >= 60).then(|| referrals as f64 / (minutes as f64 / 60.0))
}

/// A label cut into lines of at most `width` characters, at spaces where it can be.
fn wrapped(label: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in label.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => {
                let mut rest: Vec<char> = word.chars().collect();
                while rest.len() > width {
                    lines.push(rest.drain(..width).collect());
                }
                lines.push(rest.into_iter().collect());
            }
        }
    }
    lines
}

/// Referrals over time, by day for up to 3 months, by week up to 2 years, else by month.
/// Each point: its label on the chart, the day it starts, and its referrals.
pub(super) fn over_time(s: &Summary) -> Vec<(String, chrono::NaiveDate, i64)> {
    let days = (s.to - s.from).num_days() + 1;
    let per_day: HashMap<&str, i64> = s.by_day.iter().map(|c| (c.key.as_str(), c.count)).collect();
    let mut out: Vec<(String, chrono::NaiveDate, i64)> = Vec::new();
    let mut d = s.from;
    while d <= s.to {
        let (label, start) = if days <= 92 {
            (layout::short_day(d, false), d)
        } else if days <= 730 {
            let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
            (tf!("w/c {}", "w/d {}", layout::short_day(monday.max(s.from), true)), monday)
        } else {
            (layout::short_month(d), d.with_day(1).unwrap_or(d))
        };
        let n = per_day.get(d.format("%Y-%m-%d").to_string().as_str()).copied().unwrap_or(0);
        match out.last_mut() {
            Some((l, _, c)) if *l == label => *c += n,
            _ => out.push((label, start.max(s.from), n)),
        }
        d += Duration::days(1);
    }
    out
}

/// A vertical bar chart (time series) as SVG, described for screen readers; the table beside it
/// holds the same figures.
pub(super) fn column_chart(id: &str, title: &str, points: &[(String, chrono::NaiveDate, i64)]) -> Markup {
    let points: Vec<(String, i64)> = points.iter().map(|(l, _, n)| (l.clone(), *n)).collect();
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let (w, h, pad) = (720.0, 220.0, 30.0);
    let n = points.len().max(1) as f64;
    let bw = (w - pad) / n;
    let desc = tf!(
        "{} periods; highest {}; total {}",
        "{} cyfnod; uchaf {}; cyfanswm {}",
        points.len(),
        max,
        points.iter().map(|p| p.1).sum::<i64>()
    );
    html! {
        svg class="signpost-chart" role="img" aria-labelledby=(format!("{id}-title {id}-desc")) viewBox=(format!("0 0 {w} {}", h + 24.0)) width="100%" {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (desc) }
            line x1=(pad) y1=(h) x2=(w) y2=(h) stroke="#0b0c0c" {}
            text x="0" y="12" font-size="12" fill="#0b0c0c" { (max) }
            text x="0" y=(h) font-size="12" fill="#0b0c0c" { "0" }
            @for (i, (label, v)) in points.iter().enumerate() {
                @let bh = (*v as f64) / (max as f64) * (h - 10.0);
                rect x=(format!("{:.1}", pad + i as f64 * bw + 1.0)) y=(format!("{:.1}", h - bh)) width=(format!("{:.1}", (bw - 2.0).max(1.0))) height=(format!("{:.1}", bh)) fill="#1d70b8" {
                    title { (label) ": " (v) }
                }
            }
            @if let (Some(first), Some(last)) = (points.first(), points.last()) {
                text x=(pad) y=(h + 18.0) font-size="12" fill="#0b0c0c" { (first.0) }
                text x=(w) y=(h + 18.0) font-size="12" fill="#0b0c0c" text-anchor="end" { (last.0) }
            }
        }
    }
}

/// A horizontal bar chart of a breakdown as SVG: each name whole, on as many lines as it needs.
pub(super) fn bar_chart(id: &str, title: &str, rows: &[(String, String, i64, i64)]) -> Markup {
    type Row = (String, String, i64, i64);
    let shown: Vec<(&Row, Vec<String>)> =
        rows.iter().filter(|r| r.2 > 0).take(12).map(|r| (r, wrapped(say(&r.1), 34))).collect();
    let max = shown.iter().map(|(r, _)| r.2).max().unwrap_or(1).max(1);
    let (label_w, bar_w, line_h, pad) = (270.0, 390.0, 16.0, 10.0);
    let heights: Vec<f64> = shown.iter().map(|(_, lines)| (lines.len() as f64 * line_h + pad).max(26.0)).collect();
    let height: f64 = heights.iter().sum::<f64>().max(26.0);
    let desc = shown.iter().map(|(r, _)| format!("{}: {}", say(&r.1), r.2)).collect::<Vec<_>>().join("; ");
    let mut y = 0.0;
    let placed: Vec<(f64, f64, &Row, &Vec<String>)> = shown
        .iter()
        .zip(&heights)
        .map(|((r, lines), h)| {
            let at = y;
            y += h;
            (at, *h, *r, lines)
        })
        .collect();
    html! {
        svg class="signpost-chart" role="img" aria-labelledby=(format!("{id}-title {id}-desc")) viewBox=(format!("0 0 {} {height}", label_w + bar_w + 60.0)) width="100%" {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (if desc.is_empty() { (l("No referrals in this period", "Dim atgyfeiriadau yn y cyfnod hwn")).to_owned() } else { desc }) }
            @for (y, h, r, lines) in &placed {
                @let bw = (r.2 as f64) / (max as f64) * bar_w;
                @let first = y + (h - lines.len() as f64 * line_h) / 2.0 + 12.0;
                text x=(label_w - 8.0) y=(format!("{first:.1}")) font-size="13" fill="#0b0c0c" text-anchor="end" {
                    @for (i, line) in lines.iter().enumerate() {
                        tspan x=(label_w - 8.0) dy=(if i == 0 { "0" } else { "16" }) { (line) }
                    }
                }
                rect x=(label_w) y=(format!("{:.1}", y + h / 2.0 - 9.0)) width=(format!("{:.1}", bw.max(1.0))) height="18" fill="#1d70b8" {}
                text x=(format!("{:.1}", label_w + bw + 6.0)) y=(format!("{:.1}", y + h / 2.0 + 5.0)) font-size="13" fill="#0b0c0c" { (r.2) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_people_say_them() {
        assert_eq!(change(110.0, 100.0), "+10%");
        assert_eq!(change(90.0, 100.0), "−10%");
        assert_eq!(change(5.0, 0.0), "new this period");
        assert_eq!(change(0.0, 0.0), "no change");
    }

    #[test]
    fn little_time_never_reads_as_no_time_and_gives_no_rate() {
        assert_eq!(hours(2), "2 minutes");
        assert_eq!(hours(90), "1.5");
        assert_eq!(per_hour(15, 2), None);
        assert_eq!(per_hour(15, 60), Some(15.0));
    }

    #[test]
    fn long_names_wrap_whole_instead_of_being_cut() {
        let lines = wrapped("Referred (warm hand-over, with consent)", 34);
        assert_eq!(lines, ["Referred (warm hand-over, with", "consent)"]);
        assert_eq!(wrapped("short", 34), ["short"]);
        assert_eq!(wrapped(&"x".repeat(40), 34).len(), 2);
    }
}
