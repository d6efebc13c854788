//! `cargo xtask fetch-weights`: downloads the default models (BLIP base captioning, CLIP
//! ViT-B/32) from the Hugging Face Hub into `$TANDEM_HOME/models/`, the directory
//! `tandem caption` reads them from. Uses the same downloader as the CLI (`tandem-hub`):
//! resumable, every LFS file checked against the hub's sha256.

use anyhow::{Context, Result};
use tandem_hub::{default_home, Hub, BLIP_BASE, CLIP_B32};

pub fn run(_args: &[String]) -> Result<()> {
    let home = default_home()?;
    let hub = Hub::default();
    for spec in [BLIP_BASE, CLIP_B32] {
        let dir = spec.dir_in(&home);
        eprintln!("{} → {}", spec.repo, dir.display());
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
        hub.fetch_model(&spec, &dir, &mut progress)
            .with_context(|| format!("fetching {} (no network? pass local checkpoints to tandem with --blip-model DIR / --clip-model DIR)", spec.repo))?;
    }
    eprintln!("weights ready in {}", home.join("models").display());
    Ok(())
}
