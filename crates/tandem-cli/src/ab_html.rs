//! The A/B report as an HTML section of the gallery page.

use std::fmt::Write as _;

use crate::ab::{text, AbReport};
use crate::html::escape;

/// The report as an HTML section with an inline SVG chart: each arm's mean as a bar with its
/// ±1.96·SE whisker.
pub fn html_section(r: &AbReport) -> String {
    let (w, bar_h, gap, left) = (420.0, 26.0, 14.0, 90.0);
    let scale = |v: f64| left + v.clamp(0.0, 1.0) * (w - left - 10.0);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"per-arm means\">", 2.0 * (bar_h + gap) + 20.0);
    for (i, (arm, colour)) in [(&r.champion, "#4a7bd0"), (&r.challenger, "#d07b4a")]
        .into_iter()
        .enumerate()
    {
        let y = 10.0 + i as f64 * (bar_h + gap);
        let se = if arm.stats.n > 0 {
            (arm.stats.variance / arm.stats.n as f64).sqrt()
        } else {
            0.0
        };
        let (lo, hi) = (
            scale(arm.stats.mean - 1.96 * se),
            scale(arm.stats.mean + 1.96 * se),
        );
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"13\">{}</text><rect x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{colour}\"/><line x1=\"{lo:.1}\" x2=\"{hi:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#222\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{:.3}</text>",
            y + bar_h * 0.65,
            escape(&arm.name),
            scale(arm.stats.mean) - left,
            y + bar_h / 2.0,
            y + bar_h / 2.0,
            scale(arm.stats.mean).min(w - 60.0) + 4.0,
            y + bar_h * 0.65 - 14.0,
            arm.stats.mean
        );
    }
    svg.push_str("</svg>");
    format!(
        "<section id=\"ab\">\n<h2>A/B test</h2>\n{svg}\n<pre>{}</pre>\n</section>\n",
        escape(&text(r))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ab::{report, CHALLENGER, CHAMPION};
    use crate::records::{ImageResult, ScoredCaption};

    #[test]
    fn section_has_the_chart_and_the_escaped_report() {
        let result = |arm: &str, p: f32| ImageResult {
            image: format!("{arm}.jpg"),
            captions: vec![ScoredCaption {
                caption: "x".into(),
                probability: p,
            }],
            caption_model: None,
            rank_model: "m".into(),
            arm: Some(arm.into()),
            thumbnail: None,
        };
        let results = [result(CHAMPION, 0.5), result(CHALLENGER, 0.9)];
        let r = report(&results, ["<a>", "B"], [50, 50], 0.95);
        let html = html_section(&r);
        assert!(html.contains("<svg"), "{html}");
        assert!(html.contains("[&lt;a&gt;]"), "{html}");
    }
}
