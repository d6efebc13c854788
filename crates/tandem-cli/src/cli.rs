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
    /// More log output on stderr: -v for debug, -vv for trace (RUST_LOG, when set, decides instead).
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Caption images: BLIP generates candidates, CLIP ranks them (the cascade).
    Caption(CaptionArgs),
    /// Rank given texts for each image with CLIP alone (zero-shot).
    Rank(RankArgs),
    /// A/B test a challenger (CLIP and/or BLIP checkpoint, decoding settings) against the champion.
    Ab(Box<AbArgs>),
    /// Start N local processes of one timely run of a command (tandem launch -n 3 caption ...).
    Launch(crate::launch::LaunchArgs),
}

/// Inputs, outputs and runtime settings every command takes.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub runner: crate::launch::RunnerArgs,
    /// Images, folders (their image files), globs ("photos/*.jpg"), URLs, @FILE listing one path/URL per line (verbatim), or - to read them from stdin.
    #[arg(required = true)]
    pub inputs: Vec<std::ffi::OsString>,
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
    /// The models' compute dtype: weights converted on load, activations computed in it
    /// (f32 is exact against transformers; bf16/f16 halve the weights' memory).
    #[arg(long, value_enum, default_value_t = ComputeDtype::F32)]
    pub dtype: ComputeDtype,
    /// CPU threads for the model kernels (default: all cores; at least 1).
    #[arg(long)]
    pub threads: Option<usize>,
    /// CLIP checkpoint: a directory, or a Hugging Face Hub id OWNER/NAME[@REVISION] found in (or downloaded into) the Hugging Face cache (default: openai/clip-vit-base-patch32).
    #[arg(long, value_name = "DIR|ID")]
    pub clip_model: Option<String>,
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
    /// Serve live Prometheus metrics at http://ADDR/metrics while the run lasts, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `--dtype`: the float types the models can compute in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ComputeDtype {
    /// 32-bit floats: matches transformers' fp32 exactly.
    F32,
    /// bfloat16: f32's range with 8 bits of mantissa.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl From<ComputeDtype> for tandem_tensor::DType {
    fn from(d: ComputeDtype) -> Self {
        match d {
            ComputeDtype::F32 => tandem_tensor::DType::F32,
            ComputeDtype::Bf16 => tandem_tensor::DType::BF16,
            ComputeDtype::F16 => tandem_tensor::DType::F16,
        }
    }
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
    /// BLIP checkpoint: a directory, or a Hugging Face Hub id OWNER/NAME[@REVISION] found in (or downloaded into) the Hugging Face cache (default: Salesforce/blip-image-captioning-base).
    #[arg(long, value_name = "DIR|ID")]
    pub blip_model: Option<String>,
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
    /// Keep every BLIP candidate as generated, empty and repeated ones included (by default
    /// they are trimmed, and empty and repeated candidates dropped before CLIP ranks them).
    #[arg(long)]
    pub keep_all_candidates: bool,
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
    #[command(flatten)]
    pub challenger: ChallengerArgs,
    /// Shadow mode: run both arms on every image and compare them per image (paired t interval,
    /// sign test, top-1 caption agreement) instead of splitting the traffic.
    #[arg(long, conflicts_with = "split")]
    pub shadow: bool,
    /// Traffic split champion:challenger, e.g. 50:50 or 90:10.
    #[arg(long, default_value = "50:50")]
    pub split: String,
    /// Confidence level of the interval.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
}

/// How the challenger differs from the champion (the other flags): each setting left out is
/// the champion's.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Challenger (each defaults to the champion's setting)")]
pub struct ChallengerArgs {
    /// The challenger's CLIP checkpoint (directory or hub id).
    #[arg(long, value_name = "DIR|ID")]
    pub challenger_clip_model: Option<String>,
    /// The challenger's BLIP checkpoint (directory or hub id).
    #[arg(long, value_name = "DIR|ID")]
    pub challenger_blip_model: Option<String>,
    /// The challenger's --captions-per-image.
    #[arg(long)]
    pub challenger_captions_per_image: Option<usize>,
    /// The challenger's --decoding.
    #[arg(long, value_enum)]
    pub challenger_decoding: Option<Decoding>,
    /// The challenger's --temperature.
    #[arg(long, allow_negative_numbers = true)]
    pub challenger_temperature: Option<f32>,
    /// The challenger's --sample-top-k.
    #[arg(long)]
    pub challenger_sample_top_k: Option<usize>,
    /// The challenger's --sample-top-p.
    #[arg(long, allow_negative_numbers = true)]
    pub challenger_sample_top_p: Option<f32>,
    /// The challenger's --num-beams (with --challenger-decoding beam).
    #[arg(long)]
    pub challenger_num_beams: Option<usize>,
    /// The challenger's --max-length.
    #[arg(long)]
    pub challenger_max_length: Option<usize>,
    /// The challenger's --min-length.
    #[arg(long)]
    pub challenger_min_length: Option<usize>,
    /// The challenger's --repetition-penalty.
    #[arg(long, allow_negative_numbers = true)]
    pub challenger_repetition_penalty: Option<f32>,
    /// The challenger's --prompt.
    #[arg(long)]
    pub challenger_prompt: Option<String>,
    /// The challenger's --seed.
    #[arg(long)]
    pub challenger_seed: Option<u64>,
}

impl ChallengerArgs {
    /// The challenger's BLIP settings: `champion`'s with every given `--challenger-*` setting
    /// in place. A challenger that changes `--decoding` does not inherit the champion's
    /// `--num-beams` (it applies to beam search only).
    pub fn blip(&self, champion: &BlipArgs) -> BlipArgs {
        let mut b = champion.clone();
        if let Some(d) = self.challenger_decoding {
            if d != champion.decoding {
                b.num_beams = None;
            }
            b.decoding = d;
        }
        let set = |field: &mut usize, v: Option<usize>| *field = v.unwrap_or(*field);
        set(
            &mut b.captions_per_image,
            self.challenger_captions_per_image,
        );
        set(&mut b.sample_top_k, self.challenger_sample_top_k);
        set(&mut b.max_length, self.challenger_max_length);
        set(&mut b.min_length, self.challenger_min_length);
        b.blip_model = self.challenger_blip_model.clone().or(b.blip_model);
        b.num_beams = self.challenger_num_beams.or(b.num_beams);
        b.temperature = self.challenger_temperature.unwrap_or(b.temperature);
        b.sample_top_p = self.challenger_sample_top_p.unwrap_or(b.sample_top_p);
        b.repetition_penalty = self
            .challenger_repetition_penalty
            .unwrap_or(b.repetition_penalty);
        b.prompt = self.challenger_prompt.clone().or(b.prompt);
        b.seed = self.challenger_seed.unwrap_or(b.seed);
        b
    }
}
