//! The dashboard's charts: SVG columns and bars drawn on the server (no script), each with the
//! same figures in a table beside it, and how changes and hours read.

use chrono::{Datelike, Duration};
use maud::{html, Markup};
use signpost_domain::stats::Summary;
use std::collections::HashMap;

pub(super) fn change(now: f64, before: f64) -> String {
    if before == 0.0 {
        return if now == 0.0 { "no change".into() } else { "new this period".into() };
    }
    let pct = (now - before) / before * 100.0;
    if pct.abs() < 0.5 {
        "no change".into()
    } else {
        format!("{}{:.0}%", if pct > 0.0 { "+" } else { "−" }, pct.abs())
    }
}

pub(super) fn hours(minutes: i64) -> String {
    format!("{:.1}", minutes as f64 / 60.0)
}

/// Referrals over time, by day for up to 3 months, by week up to 2 years, else by month.
pub(super) fn over_time(s: &Summary) -> Vec<(String, i64)> {
    let days = (s.to - s.from).num_days() + 1;
    let per_day: HashMap<&str, i64> = s.by_day.iter().map(|c| (c.key.as_str(), c.count)).collect();
    let mut out: Vec<(String, i64)> = Vec::new();
    let mut d = s.from;
    while d <= s.to {
        let (label, start) = if days <= 92 {
            (d.format("%d %b").to_string(), d)
        } else if days <= 730 {
            let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
            (format!("w/c {}", monday.max(s.from).format("%d %b %Y")), monday)
        } else {
            (d.format("%b %Y").to_string(), d.with_day(1).unwrap_or(d))
        };
        let n = per_day.get(d.format("%Y-%m-%d").to_string().as_str()).copied().unwrap_or(0);
        match out.last_mut() {
            Some((l, c)) if *l == label => *c += n,
            _ => out.push((label, n)),
        }
        let _ = start;
        d += Duration::days(1);
    }
    out
}

/// A vertical bar chart (time series) as SVG, described for screen readers; the table beside it
/// holds the same figures.
pub(super) fn column_chart(id: &str, title: &str, points: &[(String, i64)]) -> Markup {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let (w, h, pad) = (720.0, 220.0, 30.0);
    let n = points.len().max(1) as f64;
    let bw = (w - pad) / n;
    let desc = format!("{} periods; highest {}; total {}", points.len(), max, points.iter().map(|p| p.1).sum::<i64>());
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

/// A horizontal bar chart of a breakdown as SVG.
pub(super) fn bar_chart(id: &str, title: &str, rows: &[(String, String, i64, i64)]) -> Markup {
    let shown: Vec<&(String, String, i64, i64)> = rows.iter().filter(|r| r.2 > 0).take(12).collect();
    let max = shown.iter().map(|r| r.2).max().unwrap_or(1).max(1);
    let (label_w, bar_w, row_h) = (260.0, 400.0, 26.0);
    let height = row_h * shown.len().max(1) as f64;
    let desc = shown.iter().map(|r| format!("{}: {}", r.1, r.2)).collect::<Vec<_>>().join("; ");
    html! {
        svg class="signpost-chart" role="img" aria-labelledby=(format!("{id}-title {id}-desc")) viewBox=(format!("0 0 {} {height}", label_w + bar_w + 60.0)) width="100%" {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (if desc.is_empty() { "No referrals in this period".to_owned() } else { desc }) }
            @for (i, r) in shown.iter().enumerate() {
                @let y = i as f64 * row_h;
                @let bw = (r.2 as f64) / (max as f64) * bar_w;
                text x=(label_w - 8.0) y=(y + 17.0) font-size="13" fill="#0b0c0c" text-anchor="end" {
                    (r.1.chars().take(36).collect::<String>())
                }
                rect x=(label_w) y=(y + 4.0) width=(format!("{:.1}", bw.max(1.0))) height=(row_h - 8.0) fill="#1d70b8" {}
                text x=(format!("{:.1}", label_w + bw + 6.0)) y=(y + 17.0) font-size="13" fill="#0b0c0c" { (r.2) }
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
}
