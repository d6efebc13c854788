//! `cargo xtask fetch-weights`: downloads the default models (BLIP base captioning, CLIP
//! ViT-B/32) from the Hugging Face Hub into the Hugging Face cache (`HF_HUB_CACHE`, `HF_HOME`,
//! default `~/.cache/huggingface/hub`), where `tandem` and Python's transformers both find
//! them. Uses the same downloader as the CLI (`tandem-hub`): resumable, every LFS file checked
//! against its sha256.

use anyhow::{Context, Result};
use tandem_hub::{Hub, BLIP_BASE, CLIP_B32};

pub fn run(_args: &[String]) -> Result<()> {
    let hub = Hub::from_env()?;
    for spec in [BLIP_BASE, CLIP_B32] {
        eprintln!("{} → {}", spec.repo, hub.cache().root().display());
        let mut last_pct = u64::MAX;
        let mut progress = |file: &str, done: u64, total: Option<u64>| {
            if let Some(total) = total.filter(|t| *t > 0) {
                let pct = done * 100 / total;
                if pct != last_pct && (pct.is_multiple_of(10) || done == total) {
                    last_pct = pct;
                    eprintln!("  {file}: {pct}% of {:.1} MB", total as f64 / 1e6);
                }
            }
        };
        let dir = hub
            .fetch(&spec.repo_revision(), &spec.required(), &mut progress)
            .with_context(|| format!("fetching {} (no network? pass local checkpoints to tandem with --blip-model DIR / --clip-model DIR)", spec.repo))?;
        eprintln!("  ready in {}", dir.display());
    }
    Ok(())
}
