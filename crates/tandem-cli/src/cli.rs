//! Command-line arguments (clap derive), shared by the binary and its tests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::backend::Device;

/// Multi-model image captioning: BLIP proposes captions, CLIP ranks them.
#[derive(Debug, Parser)]
#[command(name = "tandem", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Caption images: BLIP generates candidates, CLIP ranks them (the cascade).
    Caption(CaptionArgs),
    /// Rank given texts for each image with CLIP alone (zero-shot).
    Rank(RankArgs),
    /// A/B test two CLIP checkpoints ranking the same BLIP candidates.
    Ab(AbArgs),
    /// Start N local processes of one timely run of a command (tandem launch -n 3 caption ...).
    Launch(crate::launch::LaunchArgs),
}

/// Inputs, outputs and runtime settings every command takes.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub runner: crate::launch::RunnerArgs,
    /// Images, folders (their image files), globs ("photos/*.jpg"), URLs, or @FILE listing one path/URL per line.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// JSON Lines with every candidate caption and probability; appended, and images already in it are skipped (resume).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// JSON Lines of inputs that failed, with the stage and reason.
    #[arg(long)]
    pub errors: Option<PathBuf>,
    /// A self-contained HTML gallery (thumbnails and probability bars).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Captions shown per image.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Where the models run.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub backend: Device,
    /// CPU threads for the model kernels (default: all cores; at least 1).
    #[arg(long)]
    pub threads: Option<usize>,
    /// CLIP checkpoint directory (default: openai/clip-vit-base-patch32, fetched into $TANDEM_HOME on first use).
    #[arg(long)]
    pub clip_model: Option<PathBuf>,
    /// Images per CLIP batch (at least 1).
    #[arg(long, default_value_t = 8)]
    pub clip_batch: usize,
    /// Largest accepted image file or download, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_bytes: u64,
    /// Largest accepted width × height (decompression-bomb guard).
    #[arg(long, default_value_t = 89_478_485)]
    pub max_pixels: u64,
    /// Seconds allowed to download one URL input (connecting included) before it becomes a dead letter.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub url_timeout: u64,
    /// Do not print the ranked captions on stdout.
    #[arg(long, short)]
    pub quiet: bool,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// How BLIP decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Decoding {
    /// Greedy search: the single most likely token at each step (one caption: -n 1).
    Greedy,
    /// Nucleus/top-k sampling: diverse candidates (the reference notebook's choice).
    Sample,
    /// Beam search: the most likely candidates (--num-beams, at least -n).
    Beam,
}

/// When beam search stops (transformers' `early_stopping`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EarlyStoppingArg {
    /// `False`: stop when no running beam can beat the finished ones (the default).
    False,
    /// `True`: stop as soon as --num-beams captions are finished.
    True,
    /// `"never"`: the canonical criterion, run until no beam can improve.
    Never,
}

/// BLIP settings.
#[derive(Debug, Args, Clone)]
pub struct BlipArgs {
    /// BLIP checkpoint directory (default: Salesforce/blip-image-captioning-base, fetched into $TANDEM_HOME on first use).
    #[arg(long)]
    pub blip_model: Option<PathBuf>,
    /// Candidate captions generated per image.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub captions_per_image: usize,
    #[arg(long, value_enum, default_value_t = Decoding::Sample)]
    pub decoding: Decoding,
    /// Sampling temperature (above 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Sample only among the K most likely tokens (0: no limit).
    #[arg(long, default_value_t = 50)]
    pub sample_top_k: usize,
    /// Sample only within the top-p probability mass (in (0, 1]).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub sample_top_p: f32,
    /// Beams for --decoding beam (default and minimum: --captions-per-image).
    #[arg(long)]
    pub num_beams: Option<usize>,
    /// Maximum caption length in tokens (prompt included; at most the model's positions).
    #[arg(long, default_value_t = 30)]
    pub max_length: usize,
    /// Minimum caption length in tokens (at most --max-length).
    #[arg(long, default_value_t = 5)]
    pub min_length: usize,
    /// Penalty on tokens already in the caption (transformers' repetition_penalty; 1: none).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub repetition_penalty: f32,
    /// No n-gram of this size appears twice in a caption (transformers' no_repeat_ngram_size; 0: off).
    #[arg(long, default_value_t = 0)]
    pub no_repeat_ngram_size: usize,
    /// Beam search: exponent of the length dividing a caption's log-probability (transformers' length_penalty).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub length_penalty: f32,
    /// Beam search: when to stop (transformers' early_stopping).
    #[arg(long, value_enum, default_value_t = EarlyStoppingArg::False)]
    pub early_stopping: EarlyStoppingArg,
    /// Conditional captioning: every caption continues this text, e.g. "a picture of".
    #[arg(long)]
    pub prompt: Option<String>,
    /// Seed of the sampling streams (same seed, same captions).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per BLIP batch (at least 1).
    #[arg(long, default_value_t = 4)]
    pub blip_batch: usize,
}

#[derive(Debug, Args)]
pub struct CaptionArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub blip: BlipArgs,
}

#[derive(Debug, Args)]
pub struct RankArgs {
    #[command(flatten)]
    pub common: Common,
    /// Texts to rank for every image.
    #[arg(long, num_args = 1.., required_unless_present = "captions_file")]
    pub captions: Vec<String>,
    /// A file with one text per line.
    #[arg(long)]
    pub captions_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AbArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub blip: BlipArgs,
    /// The challenger's CLIP checkpoint directory (the champion is --clip-model).
    #[arg(long)]
    pub challenger_clip_model: PathBuf,
    /// Traffic split champion:challenger, e.g. 50:50 or 90:10.
    #[arg(long, default_value = "50:50")]
    pub split: String,
    /// Confidence level of the interval.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
}
