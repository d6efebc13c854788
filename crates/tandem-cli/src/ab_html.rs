//! The A/B report as a section of the HTML gallery: an inline SVG chart of the arms' means
//! and the text report. Written with `maud`, which escapes the model names and arm labels.

use maud::{html, Markup};

use crate::ab::{AbReport, ArmReport};

/// The A/B report as a section with an inline SVG chart (each arm's mean as a bar with its
/// ±1.96·SE whisker) and the text report.
pub fn ab_section(r: &AbReport) -> Markup {
    let (w, bar_h, gap) = (420.0, 26.0, 14.0);
    let height = 2.0 * (bar_h + gap) + 20.0;
    html! {
        section id="ab" {
            h2 { "A/B test" }
            svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(height) role="img" aria-label="per-arm means" {
                @for (i, (arm, colour)) in [(&r.champion, "#4a7bd0"), (&r.challenger, "#d07b4a")].into_iter().enumerate() {
                    (arm_bar(arm, colour, 10.0 + i as f64 * (bar_h + gap), w, bar_h))
                }
            }
            pre { (crate::ab::text(r)) }
        }
    }
}

/// One arm's bar, whisker and labels, `y` pixels from the top of the chart.
fn arm_bar(arm: &ArmReport, colour: &str, y: f64, w: f64, bar_h: f64) -> Markup {
    let left = 90.0;
    let scale = |v: f64| left + v.clamp(0.0, 1.0) * (w - left - 10.0);
    let se = if arm.stats.n > 0 {
        (arm.stats.variance / arm.stats.n as f64).sqrt()
    } else {
        0.0
    };
    let (lo, hi) = (
        scale(arm.stats.mean - 1.96 * se),
        scale(arm.stats.mean + 1.96 * se),
    );
    let mid = format!("{:.1}", y + bar_h / 2.0);
    html! {
        text x="0" y=(format!("{:.1}", y + bar_h * 0.65)) font-size="13" { (arm.name) }
        rect x=(left) y=(format!("{y:.1}")) width=(format!("{:.1}", scale(arm.stats.mean) - left)) height=(bar_h) fill=(colour) {}
        line x1=(format!("{lo:.1}")) x2=(format!("{hi:.1}")) y1=(mid) y2=(mid) stroke="#222" stroke-width="2" {}
        text x=(format!("{:.1}", scale(arm.stats.mean).min(w - 60.0) + 4.0)) y=(format!("{:.1}", y + bar_h * 0.65 - 14.0)) font-size="12" { (format!("{:.3}", arm.stats.mean)) }
    }
}
