//! The HTML gallery: one self-contained page (thumbnails inlined as `data:` URIs, no external
//! CSS or scripts) with each image's ranked captions as probability bars, and, for `tandem ab`,
//! the A/B comparison with a small inline SVG chart.

use std::fmt::Write as _;

use crate::ab::AbReport;
use crate::inputs::InputRef;
use crate::records::{ErrorRecord, ImageResult};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;background:#fafafa;color:#222}\
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1em}\
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:8px;padding:1em}\
figure img{max-width:100%;display:block;margin:auto}\
.noimg{height:80px;display:flex;align-items:center;justify-content:center;background:#eee;color:#777}\
ol{padding-left:1.4em}li{margin:.35em 0}\
.bar{height:6px;background:#4a7bd0;border-radius:3px}.p{color:#555;font-variant-numeric:tabular-nums}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}\
.arm{font-size:.8em;color:#fff;background:#888;border-radius:4px;padding:0 .4em}";

/// Renders the page. `top_k` captions are shown per image (all are in the JSON Lines).
pub fn render(
    title: &str,
    results: &[ImageResult],
    errors: &[ErrorRecord],
    top_k: usize,
    ab: Option<&AbReport>,
) -> String {
    let mut h = String::new();
    let _ = write!(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n", escape(title));
    let _ = writeln!(h, "<h1>{}</h1>", escape(title));
    let _ = writeln!(
        h,
        "<p>{} images captioned, {} failed.</p>",
        results.len(),
        errors.len()
    );
    if let Some(report) = ab {
        h.push_str(&crate::ab_html::html_section(report));
    }
    h.push_str("<main>\n");
    for r in results {
        let name = InputRef::display_name(&r.image);
        let _ = writeln!(
            h,
            "<figure class=\"card\" data-image=\"{}\">",
            escape(&r.image)
        );
        match &r.thumbnail {
            Some(uri) => {
                let _ = writeln!(h, "<img src=\"{}\" alt=\"{}\">", escape(uri), escape(&name));
            }
            None => {
                let _ = writeln!(h, "<div class=\"noimg\">no preview</div>");
            }
        }
        let _ = write!(h, "<figcaption>\n<h2>{}", escape(&name));
        if let Some(arm) = &r.arm {
            let _ = write!(h, " <span class=\"arm\">{}</span>", escape(arm));
        }
        let _ = writeln!(h, "</h2>\n<ol>");
        for c in r.captions.iter().take(top_k) {
            let pct = (c.probability.clamp(0.0, 1.0) * 100.0).round();
            let _ = writeln!(
                h,
                "<li><span class=\"caption\">{}</span> <span class=\"p\">{:.2}</span><div class=\"bar\" style=\"width:{pct}%\"></div></li>",
                escape(&c.caption),
                c.probability
            );
        }
        h.push_str("</ol>\n</figcaption>\n</figure>\n");
    }
    h.push_str("</main>\n");
    if !errors.is_empty() {
        h.push_str("<section id=\"errors\">\n<h2>Failed inputs</h2>\n<ul>\n");
        for e in errors {
            let _ = writeln!(
                h,
                "<li data-image=\"{}\"><code>{}</code> [{}]: {}</li>",
                escape(&e.image),
                escape(&e.image),
                escape(&e.stage),
                escape(&e.reason)
            );
        }
        h.push_str("</ul>\n</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Fills in missing thumbnails (results of earlier runs read back from `--out`) by opening
/// local files again; URLs and unreadable files stay without a preview.
pub fn add_missing_thumbnails(
    results: &mut [ImageResult],
    side: u32,
    limits: &crate::images::ImageLimits,
) {
    for r in results.iter_mut().filter(|r| r.thumbnail.is_none()) {
        let path = crate::inputs::path_from_key(&r.image);
        if !path.is_file() {
            continue;
        }
        let input = InputRef {
            id: r.image.clone(),
            source: crate::inputs::InputSource::File(path),
        };
        if let Ok((_, img)) = crate::images::load(&input, limits) {
            r.thumbnail = crate::images::thumbnail_data_uri(&img.0, side);
        }
    }
}
