//! The three commands, from parsed arguments to an exit code.

// `with_backend!` expands one body for every backend; `b.clone()` is needed for the wgpu
// backend and is a copy for the CPU one.
#![allow(clippy::clone_on_copy)]

use std::path::PathBuf;
use std::process::ExitCode;

use tandem_blip::{BlipConfig, EarlyStopping, GenerationConfig};
use tandem_hub::{BLIP_BASE, CLIP_B32};
use tandem_tensor::DType;

use crate::cascade::{self, BlipStage, ClipStage};
use crate::cli::{AbArgs, BlipArgs, CaptionArgs, Common, Decoding, EarlyStoppingArg, RankArgs};
use crate::error::CliError;
use crate::images::ImageLimits;
use crate::inputs::{self, InputRef, StdinCounts, StdinInputs};
use crate::records::ImageResult;
use crate::run::{self, InputStream, RunOptions, RunOutcome};
use crate::{ab, html, output_paths, resume, shadow, weights, with_backend};

/// Exit code when the run finished but some inputs failed (see `--errors`).
pub const EXIT_SOME_FAILED: u8 = 2;

/// Exit code after a graceful interrupt (SIGINT/SIGTERM): 128 + SIGINT, as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

const THUMBNAIL_SIDE: u32 = 256;

fn argument(option: &'static str, reason: impl Into<String>) -> CliError {
    CliError::Argument {
        option,
        reason: reason.into(),
    }
}

/// Generation settings from the command line, exactly as given: a setting that cannot be
/// honoured is refused, naming its flag, never changed.
pub fn generation_config(b: &BlipArgs) -> Result<GenerationConfig, CliError> {
    let n = b.captions_per_image;
    if n == 0 {
        return Err(argument("--captions-per-image", "must be at least 1"));
    }
    if b.blip_batch == 0 {
        return Err(argument("--blip-batch", "must be at least 1"));
    }
    if !(b.temperature.is_finite() && b.temperature > 0.0) {
        return Err(argument(
            "--temperature",
            format!("{} is not a number above 0", b.temperature),
        ));
    }
    if !(b.sample_top_p > 0.0 && b.sample_top_p <= 1.0) {
        return Err(argument(
            "--sample-top-p",
            format!("{} is not in (0, 1]", b.sample_top_p),
        ));
    }
    if !(b.repetition_penalty.is_finite() && b.repetition_penalty > 0.0) {
        return Err(argument(
            "--repetition-penalty",
            format!("{} is not a number above 0", b.repetition_penalty),
        ));
    }
    if !b.length_penalty.is_finite() {
        return Err(argument(
            "--length-penalty",
            format!("{} is not a finite number", b.length_penalty),
        ));
    }
    if b.max_length < 2 {
        return Err(argument(
            "--max-length",
            format!(
                "{} leaves no room for a token after BLIP's [DEC]",
                b.max_length
            ),
        ));
    }
    if b.min_length > b.max_length {
        return Err(argument(
            "--min-length",
            format!("{} is above --max-length {}", b.min_length, b.max_length),
        ));
    }
    if b.num_beams.is_some() && b.decoding != Decoding::Beam {
        return Err(argument("--num-beams", "applies only to --decoding beam"));
    }
    let mut cfg = GenerationConfig {
        max_length: b.max_length,
        min_length: b.min_length,
        temperature: b.temperature,
        top_k: b.sample_top_k,
        top_p: b.sample_top_p,
        repetition_penalty: b.repetition_penalty,
        no_repeat_ngram_size: b.no_repeat_ngram_size,
        length_penalty: b.length_penalty,
        early_stopping: match b.early_stopping {
            EarlyStoppingArg::False => EarlyStopping::Heuristic,
            EarlyStoppingArg::True => EarlyStopping::WhenFull,
            EarlyStoppingArg::Never => EarlyStopping::Never,
        },
        prompt: b.prompt.clone(),
        num_return_sequences: n,
        seed: b.seed,
        ..GenerationConfig::default()
    };
    match b.decoding {
        Decoding::Greedy if n > 1 => {
            return Err(argument(
                "--captions-per-image",
                format!("greedy decoding gives 1 caption, not {n} (use --decoding sample or beam)"),
            ))
        }
        Decoding::Greedy => {}
        Decoding::Sample => cfg.do_sample = true,
        Decoding::Beam => {
            let beams = b.num_beams.unwrap_or(n);
            if beams < n {
                return Err(argument(
                    "--num-beams",
                    format!("{beams} beams cannot return --captions-per-image {n} captions"),
                ));
            }
            // num_beams 1 is greedy search, as in transformers: one beam, nothing changed.
            cfg.num_beams = beams;
        }
    }
    cfg.validate()
        .map_err(|e| argument("generation settings", e.to_string()))?;
    Ok(cfg)
}

/// Refuses a `--max-length` above the BLIP checkpoint's positions, before any input is read.
fn check_max_length(blip_dir: &std::path::Path, cfg: &GenerationConfig) -> Result<(), CliError> {
    let config =
        BlipConfig::from_file(blip_dir.join("config.json")).map_err(|e| CliError::Model {
            dir: blip_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
    let positions = config.text_config.max_position_embeddings;
    if cfg.max_length > positions {
        return Err(argument(
            "--max-length",
            format!(
                "{} is above the model's max_position_embeddings {positions} ({})",
                cfg.max_length,
                blip_dir.display()
            ),
        ));
    }
    Ok(())
}

/// Checks the settings every command shares, before anything is read or written.
fn check_common(c: &Common) -> Result<(), CliError> {
    if c.clip_batch == 0 {
        return Err(argument("--clip-batch", "must be at least 1"));
    }
    if c.threads == Some(0) {
        return Err(argument("--threads", "must be at least 1"));
    }
    if c.url_timeout == 0 {
        return Err(argument("--url-timeout", "must be at least 1 second"));
    }
    if c.max_bytes == 0 {
        return Err(argument("--max-bytes", "must be at least 1"));
    }
    if c.max_pixels == 0 {
        return Err(argument("--max-pixels", "must be at least 1"));
    }
    Ok(())
}

fn limits(c: &Common) -> ImageLimits {
    ImageLimits {
        max_bytes: c.max_bytes,
        max_pixels: c.max_pixels,
        url_timeout: std::time::Duration::from_secs(c.url_timeout),
    }
}

/// Inputs left to do after resuming from `--out`, and the results already there.
struct Plan {
    todo: Todo,
    /// Earlier results from `--out` (kept in memory only when the HTML page needs them).
    previous: Vec<ImageResult>,
    /// Inputs skipped because `--out` already has them (for a list; stdin counts as it reads).
    resumed: usize,
    /// Inputs given more than once, merged (for a list; stdin counts as it reads).
    duplicates: usize,
    skipped_non_images: usize,
    /// Records already in `--out` of images that are not complete (a shadow run killed
    /// between an image's two arms): the image runs again and these are not written twice.
    written: run::Written,
    /// The lock on `--out`, held until the run ends.
    _out_lock: Option<resume::OutLock>,
}

/// What is left to read.
enum Todo {
    List(Vec<InputRef>),
    Stdin(StdinCounts, std::collections::HashSet<String>),
}

impl Plan {
    fn is_empty(&self) -> bool {
        matches!(&self.todo, Todo::List(l) if l.is_empty())
    }

    /// The inputs as a pipeline source (stdin is read as it arrives).
    fn stream(&mut self) -> InputStream {
        match &mut self.todo {
            Todo::List(list) => InputStream::List(list.clone()),
            Todo::Stdin(counts, done) => {
                InputStream::Stdin(StdinInputs::new(std::mem::take(done), counts.clone()))
            }
        }
    }

    /// How the inputs given were accounted for besides results and failures.
    fn accounted(&self) -> run::InputCounts {
        match &self.todo {
            Todo::List(_) => run::InputCounts {
                resumed: self.resumed,
                duplicates: self.duplicates,
            },
            Todo::Stdin(counts, _) => {
                let (_, resumed, duplicates) = counts.get();
                run::InputCounts {
                    resumed,
                    duplicates,
                }
            }
        }
    }
}

/// `keep_previous`: keep earlier results in memory even without `--html` (the A/B report
/// covers them). `records_per_input`: the records an image ends as (2 in shadow mode, one
/// per arm); an image is done when `--out` has that many of its records (distinct arms).
/// Checks the output files and locks `--out` before reading it.
fn plan(c: &Common, keep_previous: bool, records_per_input: usize) -> Result<Plan, CliError> {
    let stdin = c.inputs.iter().any(|i| i.to_str() == Some(inputs::STDIN));
    if stdin && c.inputs.len() > 1 {
        return Err(CliError::Argument {
            option: "inputs",
            reason: format!(
                "`{}` (read paths and URLs from stdin) cannot be combined with other inputs",
                inputs::STDIN
            ),
        });
    }
    // On a timely run, process 0 checks, locks and writes the output files; the others only
    // read `--out` to skip the inputs it already has, exactly as process 0 does (the sources
    // split the remaining list by position, so every process must see the same list).
    let primary = c.runner.is_primary();
    if primary {
        output_paths::check(c)?;
    }
    let keep_previous = keep_previous || c.html.is_some();
    let (previous, out_lock) = match &c.out {
        Some(out) if !primary => (resume::read_unlocked(out)?, None),
        Some(out) => {
            let resumed = resume::open_out(out)?;
            if resumed.torn_bytes > 0 {
                tracing::warn!(
                    "{}: cut off a torn last line ({} bytes) left by an interrupted run; that image is done again",
                    out.display(),
                    resumed.torn_bytes
                );
            }
            if resumed.damaged > 0 {
                tracing::warn!(
                    "{}: skipped {} damaged lines left by interrupted runs; those images are done again",
                    out.display(),
                    resumed.damaged
                );
            }
            (resumed.results, Some(resumed.lock))
        }
        None => (Vec::new(), None),
    };
    let mut arms: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in &previous {
        *arms.entry(r.image.as_str()).or_default() += 1;
    }
    let complete = |image: &str| arms.get(image).is_some_and(|&n| n >= records_per_input);
    let done: std::collections::HashSet<String> = previous
        .iter()
        .filter(|r| complete(&r.image))
        .map(|r| r.image.clone())
        .collect();
    let written = run::Written::new(
        previous
            .iter()
            .filter(|r| !complete(&r.image))
            .map(|r| (r.image.clone(), r.arm.clone())),
    );
    let keep = |previous: Vec<ImageResult>| if keep_previous { previous } else { Vec::new() };
    if stdin {
        return Ok(Plan {
            todo: Todo::Stdin(StdinCounts::default(), done),
            previous: keep(previous),
            resumed: 0,
            duplicates: 0,
            skipped_non_images: 0,
            written,
            _out_lock: out_lock,
        });
    }
    let expanded = inputs::expand(&c.inputs)?;
    if expanded.inputs.is_empty() {
        return Err(CliError::NoInputs(format!(
            "{} matched no image files ({} other files skipped)",
            c.inputs
                .iter()
                .map(|i| inputs::os_key(i))
                .collect::<Vec<_>>()
                .join(" "),
            expanded.skipped_non_images.len()
        )));
    }
    let total = expanded.inputs.len();
    let todo: Vec<InputRef> = expanded
        .inputs
        .into_iter()
        .filter(|i| !done.contains(i.id.as_str()))
        .collect();
    let resumed = total - todo.len();
    Ok(Plan {
        todo: Todo::List(todo),
        previous: keep(previous),
        resumed,
        duplicates: expanded.duplicates,
        skipped_non_images: expanded.skipped_non_images.len(),
        written,
        _out_lock: out_lock,
    })
}

fn setup_threads(c: &Common) {
    if let Some(n) = c.threads {
        // Fails only if the pool was already built; the setting then simply does not apply.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}

fn run_options(c: &Common, keep_results: bool) -> RunOptions {
    RunOptions {
        out: c.out.clone(),
        errors: c.errors.clone(),
        print: !c.quiet,
        top_k: c.top_k,
        progress: !c.no_progress,
        keep_results: keep_results || c.html.is_some(),
        stop: run::process_stop_handle(),
        metrics_addr: c.metrics_addr.map(|a| c.runner.metrics_addr(a)),
        records_per_input: 1,
        runner: c.runner.clone(),
        written: run::Written::default(),
    }
}

/// Writes the HTML page, the summary, and picks the exit code.
fn finish(
    c: &Common,
    plan: Plan,
    outcome: &RunOutcome,
    title: &str,
    ab_report: Option<&ab::AbReport>,
) -> Result<ExitCode, CliError> {
    if !c.runner.is_primary() {
        // Process 0 of a timely run writes the outputs and the summary.
        tracing::info!(
            "timely process {} done ({:.2}s); process 0 writes the outputs and the summary",
            c.runner.process_index,
            outcome.report.wall_time.as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &c.html {
        // By image and arm: a shadow image resumed with one arm has the other from --out.
        let current: std::collections::HashSet<(&str, Option<&str>)> = outcome
            .results
            .iter()
            .map(|r| (r.image.as_str(), r.arm.as_deref()))
            .collect();
        let mut all: Vec<ImageResult> = plan
            .previous
            .iter()
            .filter(|r| !current.contains(&(r.image.as_str(), r.arm.as_deref())))
            .cloned()
            .collect();
        all.extend(outcome.results.iter().cloned());
        html::add_missing_thumbnails(&mut all, THUMBNAIL_SIDE, &limits(c));
        let page = html::render(title, &all, &outcome.errors, c.top_k, ab_report);
        std::fs::write(path, page).map_err(|e| CliError::io(path, e))?;
    }
    eprint!(
        "{}",
        run::summary(outcome, plan.accounted(), c.errors.as_deref())
    );
    if plan.skipped_non_images > 0 {
        eprintln!(
            "{} files in folders/globs without an image extension were not read",
            plan.skipped_non_images
        );
    }
    Ok(if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if outcome.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SOME_FAILED)
    })
}

fn nothing_to_do(c: &Common, plan: Plan) -> Result<ExitCode, CliError> {
    eprintln!(
        "nothing to do: all {} inputs are already in {}",
        plan.resumed,
        c.out
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    if let Some(path) = &c.html {
        let mut all = plan.previous;
        html::add_missing_thumbnails(&mut all, THUMBNAIL_SIDE, &limits(c));
        std::fs::write(
            path,
            html::render("Tandem captions", &all, &[], c.top_k, None),
        )
        .map_err(|e| CliError::io(path, e))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `tandem caption`.
pub fn caption(args: CaptionArgs) -> Result<ExitCode, CliError> {
    let c = &args.common;
    check_common(c)?;
    setup_threads(c);
    let generation = generation_config(&args.blip)?;
    let mut plan = plan(c, false, 1)?;
    if plan.is_empty() {
        return nothing_to_do(c, plan);
    }
    let blip_dir = weights::resolve(args.blip.blip_model.as_deref(), &BLIP_BASE, "--blip-model")?;
    check_max_length(&blip_dir, &generation)?;
    let clip_dir = weights::resolve(c.clip_model.as_deref(), &CLIP_B32, "--clip-model")?;
    let thumbnail = c.html.as_ref().map(|_| THUMBNAIL_SIDE);
    let lim = limits(c);
    let todo = plan.stream();
    let outcome = with_backend!(c.backend, |b| {
        let blip = BlipStage {
            dir: blip_dir.clone(),
            backend: b.clone(),
            dtype: DType::from(c.dtype),
            batch_size: args.blip.blip_batch,
            generation: generation.clone(),
            keep_all_candidates: args.blip.keep_all_candidates,
        };
        let clip = ClipStage {
            dir: clip_dir.clone(),
            backend: b.clone(),
            dtype: DType::from(c.dtype),
            batch_size: c.clip_batch,
            thumbnail,
        };
        run::execute(todo, &run_options(c, false), |inputs| {
            cascade::build(inputs, lim, &blip, &clip)
        })
    })?;
    finish(c, plan, &outcome, "Tandem captions", None)
}

/// Reads `--captions` / `--captions-file`.
fn rank_texts(args: &RankArgs) -> Result<Vec<String>, CliError> {
    let mut texts = args.captions.clone();
    if let Some(path) = &args.captions_file {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
        texts.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    if texts.is_empty() {
        return Err(CliError::Argument {
            option: "--captions",
            reason: "no texts to rank".into(),
        });
    }
    Ok(texts)
}

/// `tandem rank`: read images → pair with the given texts → CLIP preprocess →
/// RunInference(CLIP) → rank → write.
pub fn rank(args: RankArgs) -> Result<ExitCode, CliError> {
    let c = &args.common;
    check_common(c)?;
    setup_threads(c);
    let texts = rank_texts(&args)?;
    let mut plan = plan(c, false, 1)?;
    if plan.is_empty() {
        return nothing_to_do(c, plan);
    }
    let clip_dir = weights::resolve(c.clip_model.as_deref(), &CLIP_B32, "--clip-model")?;
    let thumbnail = c.html.as_ref().map(|_| THUMBNAIL_SIDE);
    let lim = limits(c);
    let todo = plan.stream();
    let outcome = with_backend!(c.backend, |b| {
        let clip = ClipStage {
            dir: clip_dir.clone(),
            backend: b.clone(),
            dtype: DType::from(c.dtype),
            batch_size: c.clip_batch,
            thumbnail,
        };
        let texts = texts.clone();
        run::execute(todo, &run_options(c, false), move |inputs| {
            let (images, read_errors) = cascade::read_images(inputs, lim);
            let pairs = images
                .map("PairWithTexts", move |(k, img)| (k, (img, texts.clone())))
                .output();
            let (ranked, clip_errors) = cascade::rank_captions(&pairs, &clip, None, None, "");
            (
                ranked,
                read_errors.flatten_with("AllErrors", &[&clip_errors]),
            )
        })
    })?;
    finish(c, plan, &outcome, "Tandem zero-shot ranking", None)
}

fn parse_split(s: &str) -> Result<[u32; 2], CliError> {
    let bad = || CliError::Argument {
        option: "--split",
        reason: format!("`{s}` is not CHAMPION:CHALLENGER, e.g. 50:50 or 90:10"),
    };
    let (a, b) = s.split_once([':', '/']).ok_or_else(bad)?;
    let (a, b): (u32, u32) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a == 0 || b == 0 {
        return Err(bad());
    }
    Ok([a, b])
}

/// `tandem ab`.
pub fn ab(args: AbArgs) -> Result<ExitCode, CliError> {
    let c = &args.common;
    check_common(c)?;
    setup_threads(c);
    let weights_split = parse_split(&args.split)?;
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(CliError::Argument {
            option: "--confidence",
            reason: format!("{} is not in (0, 1)", args.confidence),
        });
    }
    let generation = generation_config(&args.blip)?;
    let challenger_blip = args.challenger.blip(&args.blip);
    let challenger_generation = generation_config(&challenger_blip).map_err(|e| match e {
        CliError::Argument { option, reason } => argument(
            "challenger settings",
            format!("{option} (the --challenger-* flag, or the champion's value it defaults to): {reason}"),
        ),
        other => other,
    })?;
    let mut plan = plan(c, true, if args.shadow { 2 } else { 1 })?;
    let blip_dir = weights::resolve(args.blip.blip_model.as_deref(), &BLIP_BASE, "--blip-model")?;
    check_max_length(&blip_dir, &generation)?;
    let challenger_blip_dir = match &args.challenger.challenger_blip_model {
        Some(m) => weights::resolve(Some(m.as_str()), &BLIP_BASE, "--challenger-blip-model")?,
        None => blip_dir.clone(),
    };
    check_max_length(&challenger_blip_dir, &challenger_generation)?;
    let champion_dir = weights::resolve(c.clip_model.as_deref(), &CLIP_B32, "--clip-model")?;
    let challenger_dir = match &args.challenger.challenger_clip_model {
        Some(m) => weights::resolve(Some(m.as_str()), &CLIP_B32, "--challenger-clip-model")?,
        None => champion_dir.clone(),
    };
    let blips_differ = blip_dir != challenger_blip_dir || generation != challenger_generation;
    if !blips_differ && champion_dir == challenger_dir {
        tracing::warn!("the challenger has the champion's models and settings: an A/A test");
    }
    let thumbnail = c.html.as_ref().map(|_| THUMBNAIL_SIDE);
    let lim = limits(c);
    let todo = plan.stream();
    let mut opts = run_options(c, true);
    opts.records_per_input = if args.shadow { 2 } else { 1 };
    opts.written = plan.written.clone();
    let outcome = with_backend!(c.backend, |b| {
        let blip = |dir: &PathBuf, generation: &GenerationConfig| BlipStage {
            dir: dir.clone(),
            backend: b.clone(),
            dtype: DType::from(c.dtype),
            batch_size: args.blip.blip_batch,
            generation: generation.clone(),
            keep_all_candidates: args.blip.keep_all_candidates,
        };
        let blips = [
            blip(&blip_dir, &generation),
            blip(&challenger_blip_dir, &challenger_generation),
        ];
        let clip = |dir: &PathBuf| ClipStage {
            dir: dir.clone(),
            backend: b.clone(),
            dtype: DType::from(c.dtype),
            batch_size: c.clip_batch,
            thumbnail,
        };
        let clips = [clip(&champion_dir), clip(&challenger_dir)];
        run::execute(todo, &opts, |inputs| {
            let (blips, clips) = ([&blips[0], &blips[1]], [&clips[0], &clips[1]]);
            if args.shadow {
                shadow::build(inputs, lim, blips, clips)
            } else {
                ab::build_cascades(inputs, lim, blips, clips, weights_split)
            }
        })
    })?;
    // The comparison covers this run and any earlier results resumed from --out.
    let mut all: Vec<ImageResult> = plan.previous.clone();
    all.extend(outcome.results.iter().cloned());
    let label = |blip_dir: &std::path::Path, b: &BlipArgs, clip_dir: &std::path::Path| {
        if blips_differ {
            format!(
                "BLIP {} ({:?}, n={}) + CLIP {}",
                blip_dir.display(),
                b.decoding,
                b.captions_per_image,
                clip_dir.display()
            )
        } else {
            clip_dir.display().to_string()
        }
    };
    let models = [
        label(&blip_dir, &args.blip, &champion_dir),
        label(&challenger_blip_dir, &challenger_blip, &challenger_dir),
    ];
    let report = if args.shadow {
        shadow::report(&all, [&models[0], &models[1]], args.confidence)
    } else {
        ab::report(
            &all,
            [&models[0], &models[1]],
            weights_split,
            args.confidence,
        )
    };
    println!("{}", ab::text(&report));
    finish(c, plan, &outcome, "Tandem A/B test", Some(&report))
}

/// Prints an error the way the binary reports it.
pub fn report_error(e: &CliError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
