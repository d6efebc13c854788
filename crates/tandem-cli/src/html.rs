//! The HTML gallery: one self-contained page (thumbnails inlined as `data:` URIs, no external
//! CSS or scripts) with each image's ranked captions as probability bars, and, for `tandem ab`,
//! the A/B comparison with a small inline SVG chart.
//!
//! Written with `maud` templates: every interpolated value (captions are model output, file
//! names and error reasons come from the user's inputs) is HTML-escaped by the template
//! engine; only the constant style sheet is inserted verbatim.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::ab::AbReport;
use crate::inputs::InputRef;
use crate::records::{ErrorRecord, ImageResult};

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
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                p { (results.len()) " images captioned, " (errors.len()) " failed." }
                @if let Some(report) = ab {
                    (crate::ab_html::ab_section(report))
                }
                main {
                    @for r in results {
                        (card(r, top_k))
                    }
                }
                @if !errors.is_empty() {
                    section id="errors" {
                        h2 { "Failed inputs" }
                        ul {
                            @for e in errors {
                                li data-image=(e.image) {
                                    code { (e.image) } " [" (e.stage) "]: " (e.reason)
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

/// One image: thumbnail, name, arm badge and its top captions with probability bars.
fn card(r: &ImageResult, top_k: usize) -> Markup {
    let name = InputRef::display_name(&r.image);
    html! {
        figure.card data-image=(r.image) {
            @match &r.thumbnail {
                Some(uri) => { img src=(uri) alt=(name); }
                None => { div.noimg { "no preview" } }
            }
            figcaption {
                h2 {
                    (name)
                    @if let Some(arm) = &r.arm {
                        " " span.arm { (arm) }
                    }
                }
                ol {
                    @for c in r.captions.iter().take(top_k) {
                        li {
                            span.caption { (c.caption) } " "
                            span.p { (format!("{:.2}", c.probability)) }
                            div.bar style=(format!("width:{}%", (c.probability.clamp(0.0, 1.0) * 100.0).round())) {}
                        }
                    }
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ScoredCaption;

    const HOSTILE: &str = "<script>alert(\"x\")</script> & 'quoted'";

    fn result(image: &str, caption: &str, arm: Option<&str>) -> ImageResult {
        ImageResult {
            image: image.into(),
            captions: vec![ScoredCaption {
                caption: caption.into(),
                probability: 0.75,
            }],
            caption_model: None,
            rank_model: "clip".into(),
            arm: arm.map(String::from),
            thumbnail: None,
        }
    }

    #[test]
    fn model_output_and_inputs_are_escaped() {
        let results = [result("photos/a\"b<c>.jpg", HOSTILE, Some("<b>arm</b>"))];
        let errors = [ErrorRecord {
            image: "x&y.png".into(),
            stage: "ReadImages".into(),
            reason: HOSTILE.into(),
        }];
        let page = render("<title> & \"co\"", &results, &errors, 3, None);
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b>arm"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'quoted'"));
        assert!(
            page.contains("data-image=\"photos/a&quot;b&lt;c&gt;.jpg\""),
            "{page}"
        );
        assert!(
            page.contains("<title>&lt;title&gt; &amp; &quot;co&quot;</title>"),
            "{page}"
        );
        assert!(page.contains("<code>x&amp;y.png</code>"), "{page}");
        // The probability bar and the constant style sheet are intact.
        assert!(page.contains("style=\"width:75%\""), "{page}");
        assert!(page.contains("figure img{max-width:100%"));
    }

    #[test]
    fn shows_top_k_captions_and_the_ab_section() {
        let mut r = result("a.png", "first", None);
        r.captions.push(ScoredCaption {
            caption: "second".into(),
            probability: 0.25,
        });
        let page = render("t", &[r], &[], 1, None);
        assert!(page.contains("first") && !page.contains("second"));

        let results = [
            result("a", "x", Some(crate::ab::CHAMPION)),
            result("b", "y", Some(crate::ab::CHALLENGER)),
        ];
        let report = crate::ab::report(&results, ["<m1>", "m2"], [50, 50], 0.95);
        let section = crate::ab_html::ab_section(&report).into_string();
        assert!(
            section.contains("<svg") && section.contains("id=\"ab\""),
            "{section}"
        );
        assert!(section.contains("[&lt;m1&gt;]"), "{section}");
    }
}
