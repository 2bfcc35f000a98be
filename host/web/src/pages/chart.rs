//! The dashboard's throughput and delivery-rate chart, drawn on the server as inline SVG (no
//! chart library, no script): bars are parts accepted by carriers per bucket, the line is the
//! share of delivery reports that said "delivered" in each bucket that had reports.
//!
//! The SVG carries no outside text (only numbers and clock labels we format), so the template
//! may insert it unescaped.

use std::fmt::Write;

use store::Bucket;
use time::UtcOffset;

use super::view;

const W: f64 = 1200.0;
const H: f64 = 200.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

/// The axis maximum for a largest value `v`: four equal steps of a "nice" size (1, 2, 5 × 10ⁿ),
/// so every grid line has a whole label.
fn axis_max(v: u64) -> u64 {
    nice(v.div_ceil(4)).saturating_mul(4)
}

/// A "nice" number at or above `v` (1, 2, 5 × 10ⁿ).
fn nice(v: u64) -> u64 {
    let mut m = 1u64;
    loop {
        for f in [1, 2, 5] {
            if m.saturating_mul(f) >= v.max(1) {
                return m.saturating_mul(f);
            }
        }
        if m > u64::MAX / 10 {
            return u64::MAX;
        }
        m *= 10;
    }
}

/// The chart as an `<svg>` element.
pub(crate) fn svg(buckets: &[Bucket], offset: UtcOffset, title: &str) -> String {
    let n = buckets.len().max(1) as f64;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max = axis_max(buckets.iter().map(|b| b.submitted).max().unwrap_or(0));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">"#
    );
    // Horizontal grid with the left (parts) and right (percent) axes.
    for i in 0..=4 {
        let y = TOP + plot_h * f64::from(i) / 4.0;
        let parts = max - max / 4 * u64::from(i as u8);
        let pct = 100 - 25 * i;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{lx}" y="{ty:.1}" text-anchor="end">{parts}</text><text class="axis rate" x="{rx}" y="{ty:.1}">{pct}%</text>"#,
            x2 = W - RIGHT,
            lx = LEFT - 6.0,
            rx = W - RIGHT + 6.0,
            ty = y + 4.0,
        );
    }
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).max(1.0);
    let mut line = String::new();
    let mut points = String::new();
    let label_every = (buckets.len() / 6).max(1);
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        if b.submitted > 0 {
            let h = plot_h * b.submitted as f64 / max as f64;
            let _ = write!(
                s,
                r#"<rect class="bar" x="{bx:.1}" y="{by:.1}" width="{bar_w:.1}" height="{h:.1}"><title>{sub}</title></rect>"#,
                bx = x + (slot - bar_w) / 2.0,
                by = TOP + plot_h - h,
                sub = b.submitted,
            );
        }
        let reports = b.delivered + b.failed;
        if reports > 0 {
            let rate = b.delivered as f64 / reports as f64;
            let cx = x + slot / 2.0;
            let cy = TOP + plot_h * (1.0 - rate);
            let _ = write!(
                line,
                "{}{cx:.1},{cy:.1}",
                if line.is_empty() { "" } else { " " }
            );
            let _ = write!(
                points,
                r#"<circle class="dot" cx="{cx:.1}" cy="{cy:.1}" r="2.5"><title>{p}%</title></circle>"#,
                p = view::percent(b.delivered, reports),
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                r#"<text class="axis" x="{tx:.1}" y="{ty}" text-anchor="middle">{label}</text>"#,
                tx = x + slot / 2.0,
                ty = H - 8.0,
                label = view::clock(b.start, offset),
            );
        }
    }
    if !line.is_empty() {
        let _ = write!(s, r#"<polyline class="rate-line" points="{line}"/>"#);
    }
    s.push_str(&points);
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::UnixMillis;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(
            [0, 1, 3, 7, 11, 99, 101, 2500].map(nice),
            [1, 1, 5, 10, 20, 100, 200, 5000]
        );
    }

    #[test]
    fn bars_and_rate_points() {
        let b = |i: i64, submitted, delivered, failed| Bucket {
            start: UnixMillis(i * 60_000),
            accepted: 0,
            submitted,
            delivered,
            failed,
        };
        let svg = svg(
            &[b(0, 10, 0, 0), b(1, 0, 3, 1), b(2, 5, 0, 0)],
            UtcOffset::UTC,
            "t",
        );
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("<title>75%</title>"), "{svg}");
        assert!(svg.contains(">00:00<"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
