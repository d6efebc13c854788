//! Beam search with the exact rules of `transformers`' (≥ 4.50) vectorised `_beam_search`
//! for `num_beams`, `length_penalty`, `early_stopping` ∈ {false, true, "never"}, min/max length
//! and `num_return_sequences`:
//!
//! - every step keeps the `2·num_beams` best continuations of all beams (accumulated
//!   log-probabilities); the best `num_beams` that did not just end are the next beams;
//! - a continuation ending with `[SEP]` (or reaching `max_length`) among the first
//!   `num_beams` candidates competes for the finished list with score
//!   `logp / generated_len^length_penalty` (generated length excludes the decoder prompt);
//! - the early-stop heuristic and the stopping rules are those of `_check_early_stop_heuristic`
//!   and `_beam_search_has_unfinished_sequences`, evaluated per image.
//!
//! Scores are kept in `f32` with the same operation order, so near-ties resolve alike. Images
//! whose search has ended leave the batch; the beams of each image share its image keys/values.

use super::config::{EarlyStopping, GenerationConfig};
use super::logits;
use super::{row_groups, DecodeStep};
use crate::error::Result;
use std::cmp::Ordering;
use tandem_tensor::Backend;

const NEG: f32 = -1.0e9;

#[derive(Clone)]
struct Beam {
    tokens: Vec<u32>,
    score: f32,
    row: usize,
}

#[derive(Clone)]
struct Hypothesis {
    tokens: Vec<u32>,
    score: f32,
    finished: bool,
}

impl Hypothesis {
    /// `n` empty slots of the finished list: the prompt, scored below anything real.
    fn unfinished(n: usize, prompt: &[u32]) -> Vec<Hypothesis> {
        (0..n)
            .map(|_| Hypothesis {
                tokens: prompt.to_vec(),
                score: NEG,
                finished: false,
            })
            .collect()
    }
}

struct ImageSearch {
    image: usize,
    running: Vec<Beam>,
    finished: Vec<Hypothesis>,
    improvable: bool,
    done: bool,
}

/// Indices of the `k` largest `scores`, best first; ties go to the lower index.
fn top_indices(scores: &[f32], k: usize) -> Vec<usize> {
    let cmp =
        |a: &usize, b: &usize| -> Ordering { scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)) };
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(idx.len());
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

fn penalty_denominator(len: usize, length_penalty: f32) -> f32 {
    (len as f64).powf(f64::from(length_penalty)) as f32
}

struct Candidate {
    beam: usize,
    token: u32,
    score: f32,
    ends: bool,
}

impl ImageSearch {
    /// One step of one image: `rows` are the logits of its current beams.
    fn advance(
        &mut self,
        logits_of: impl Fn(usize) -> Vec<f32>,
        cfg: &GenerationConfig,
        cur_len: usize,
        prompt_len: usize,
        max_len: usize,
        eos: u32,
    ) {
        let nb = cfg.num_beams;
        let mut acc = Vec::new();
        let mut vocab = 0;
        for beam in &self.running {
            let mut lp = logits::log_softmax(&logits_of(beam.row));
            logits::repetition_penalty(&mut lp, &beam.tokens, cfg.repetition_penalty);
            logits::no_repeat_ngram(&mut lp, &beam.tokens, cfg.no_repeat_ngram_size);
            logits::min_length(&mut lp, cur_len, cfg.min_length, eos);
            vocab = lp.len();
            acc.extend(lp.iter().map(|&v| v + beam.score));
        }
        let cands: Vec<Candidate> = top_indices(&acc, 2 * nb)
            .into_iter()
            .map(|i| {
                let token = (i % vocab) as u32;
                Candidate {
                    beam: i / vocab,
                    token,
                    score: acc[i],
                    ends: token == eos || cur_len + 1 >= max_len,
                }
            })
            .collect();

        // Next running beams: the best candidates that did not just end.
        let adjusted: Vec<f32> = cands
            .iter()
            .map(|c| c.score + if c.ends { NEG } else { 0.0 })
            .collect();
        let next: Vec<Beam> = top_indices(&adjusted, nb)
            .into_iter()
            .map(|k| {
                let c = &cands[k];
                let src = &self.running[c.beam];
                let mut tokens = src.tokens.clone();
                tokens.push(c.token);
                Beam {
                    tokens,
                    score: adjusted[k],
                    row: src.row,
                }
            })
            .collect();

        // Finished hypotheses: merge the old list with the candidates that just ended.
        let all_full = self.finished.iter().all(|h| h.finished);
        let denom = penalty_denominator(cur_len + 1 - prompt_len, cfg.length_penalty);
        let mut merged: Vec<Hypothesis> = self.finished.clone();
        for (k, c) in cands.iter().enumerate() {
            let just_finished = c.ends && k < nb;
            let mut s = c.score / denom;
            // The next two penalties mirror transformers but never apply here: a search whose
            // list is full under `early_stopping = true`, or that can no longer improve, is
            // `done` (the stopping rules below) and never advanced again. So mutating them
            // (`-=`, `*=`) is equivalent; they stay so that the step reads as the reference.
            if all_full && cfg.early_stopping == EarlyStopping::WhenFull {
                s += NEG;
            }
            if !self.improvable {
                s += NEG;
            }
            if !just_finished {
                s += NEG;
            }
            let mut tokens = self.running[c.beam].tokens.clone();
            tokens.push(c.token);
            merged.push(Hypothesis {
                tokens,
                score: s,
                finished: just_finished,
            });
        }
        let scores: Vec<f32> = merged.iter().map(|h| h.score).collect();
        self.finished = top_indices(&scores, nb)
            .into_iter()
            .map(|i| merged[i].clone())
            .collect();
        self.running = next;

        // Stopping rules, at the new length.
        let new_len = cur_len + 1;
        // `length_penalty > 0.0` as in transformers; `>= 0.0` would be equivalent, since a zero
        // penalty makes every denominator `len^0 = 1` whatever `best_len` is.
        let best_len = if cfg.early_stopping == EarlyStopping::Never && cfg.length_penalty > 0.0 {
            max_len - prompt_len
        } else {
            new_len - prompt_len
        };
        let best_possible =
            self.running[0].score / penalty_denominator(best_len, cfg.length_penalty);
        let worst = self
            .finished
            .iter()
            .map(|h| h.score)
            .fold(f32::INFINITY, f32::min);
        let beats = self
            .finished
            .iter()
            .any(|h| best_possible > if h.finished { worst } else { NEG });
        self.improvable &= beats;
        let all_finished = self.finished.iter().all(|h| h.finished);
        let open = !(all_finished && cfg.early_stopping == EarlyStopping::WhenFull);
        let can_continue = !cands.iter().all(|c| c.ends);
        self.done = !(self.improvable && open && can_continue);
    }
}

/// Returns, per image, the `num_return_sequences` best finished hypotheses, best first.
pub(crate) fn run<B: Backend>(
    step: &mut DecodeStep<'_, B>,
    images: usize,
    prompt: &[u32],
    cfg: &GenerationConfig,
) -> Result<Vec<Vec<Vec<u32>>>> {
    let nb = cfg.num_beams;
    let max_len = cfg.effective_max_length(prompt.len());
    let eos = step.eos();
    let vocab = step.vocab();
    let first: Vec<(usize, usize)> = (0..images).map(|i| (i, 1)).collect();
    let mut logits = step.run(&vec![prompt.to_vec(); images], &first)?;
    let mut searches: Vec<ImageSearch> = (0..images)
        .map(|image| ImageSearch {
            image,
            running: (0..nb)
                .map(|b| Beam {
                    tokens: prompt.to_vec(),
                    score: if b == 0 { 0.0 } else { NEG },
                    row: image,
                })
                .collect(),
            finished: Hypothesis::unfinished(nb, prompt),
            improvable: true,
            done: false,
        })
        .collect();
    let mut cur_len = prompt.len();
    loop {
        for s in searches.iter_mut().filter(|s| !s.done) {
            let rows = &logits;
            s.advance(
                |r| rows[r * vocab..(r + 1) * vocab].to_vec(),
                cfg,
                cur_len,
                prompt.len(),
                max_len,
                eos,
            );
        }
        cur_len += 1;
        let active: Vec<&mut ImageSearch> = searches.iter_mut().filter(|s| !s.done).collect();
        if active.is_empty() {
            break;
        }
        let mut keep = Vec::new();
        let mut next = Vec::new();
        let mut owners = Vec::new();
        for s in active {
            for beam in &mut s.running {
                keep.push(beam.row as u32);
                beam.row = next.len();
                next.push(vec![*beam.tokens.last().unwrap_or(&eos)]);
                owners.push(s.image);
            }
        }
        step.select_rows(&keep)?;
        logits = step.run(&next, &row_groups(owners.into_iter()))?;
    }
    Ok(searches
        .into_iter()
        .map(|s| {
            s.finished
                .into_iter()
                .take(cfg.num_return_sequences)
                .map(|h| h.tokens)
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EOS: u32 = 0;

    /// A search mid-way: running beams `(tokens, score)` on rows 0, 1, ... and an empty
    /// finished list (the placeholders `run` starts with).
    fn search(running: &[(&[u32], f32)], prompt: &[u32]) -> ImageSearch {
        ImageSearch {
            image: 0,
            running: running
                .iter()
                .enumerate()
                .map(|(row, (tokens, score))| Beam {
                    tokens: tokens.to_vec(),
                    score: *score,
                    row,
                })
                .collect(),
            finished: Hypothesis::unfinished(running.len(), prompt),
            improvable: true,
            done: false,
        }
    }

    fn tokens_of_running(s: &ImageSearch) -> Vec<Vec<u32>> {
        s.running.iter().map(|b| b.tokens.clone()).collect()
    }

    fn close(a: f32, b: f32) -> bool {
        // Sums of two or three f32 log-probabilities: a few ulps of numbers below 5.
        (a - b).abs() < 1e-5
    }

    /// A search with a full finished list (scores `finished`) and running beams, one step
    /// on, where `[SEP]` is too unlikely to finish anything: rows `[-20, 0, 0]`.
    fn step_without_finishing(
        cfg: &GenerationConfig,
        running: &[(&[u32], f32)],
        finished: &[f32],
        prompt_len: usize,
    ) -> ImageSearch {
        let prompt = &running[0].0[..prompt_len];
        let mut s = search(running, prompt);
        for (h, &score) in s.finished.iter_mut().zip(finished) {
            h.score = score;
            h.finished = true;
        }
        let cur_len = running[0].0.len();
        s.advance(|_| vec![-20.0, 0.0, 0.0], cfg, cur_len, prompt_len, 10, EOS);
        assert!(s.finished.iter().all(|h| h.finished));
        s
    }

    /// `_check_early_stop_heuristic`: the search stops once the best running beam, scored at
    /// the new length, does not beat the worst finished score strictly; a tie stops it.
    #[test]
    fn a_tie_with_the_worst_finished_hypothesis_stops_the_search() {
        let cfg = GenerationConfig {
            num_beams: 2,
            ..GenerationConfig::default()
        };
        // The best continuation is token 1 of beam 0: score -1 + lp, scored at length 2.
        let lp = logits::log_softmax(&[-20.0, 0.0, 0.0])[1];
        let tie = (-1.0 + lp) / penalty_denominator(2, 1.0);
        let s = step_without_finishing(&cfg, &[(&[5, 1], -1.0), (&[5, 2], -3.0)], &[tie, tie], 1);
        assert_eq!(tokens_of_running(&s), vec![vec![5, 1, 1], vec![5, 1, 2]]);
        assert!(s.done && !s.improvable);
        // A finished score just below the best running one keeps the search going.
        let below = tie - 1e-3;
        let s = step_without_finishing(&cfg, &[(&[5, 1], -1.0), (&[5, 2], -3.0)], &[tie, below], 1);
        assert!(!s.done && s.improvable);
    }

    /// With `early_stopping = "never"` and a positive length penalty the best running beam is
    /// scored at `max_length - prompt_len` generated tokens (here 10 - 2 = 8), not at its
    /// current length.
    #[test]
    fn never_scores_the_best_beam_at_max_length() {
        let cfg = GenerationConfig {
            num_beams: 2,
            early_stopping: EarlyStopping::Never,
            ..GenerationConfig::default()
        };
        let lp = logits::log_softmax(&[-20.0, 0.0, 0.0])[1];
        // Best running score after the step: -4 (≈ -3.307 + ln 1/2), so -0.5 at length 8.
        let running: [(&[u32], f32); 2] = [(&[5, 6, 1], -4.0 - lp), (&[5, 6, 2], -9.0)];
        let s = step_without_finishing(&cfg, &running, &[-0.3, -0.45], 2);
        assert!((s.running[0].score + 4.0).abs() < 1e-5);
        assert!(s.done, "-0.5 does not beat -0.45");
        let s = step_without_finishing(&cfg, &running, &[-0.3, -0.55], 2);
        assert!(!s.done, "-0.5 beats -0.55");
        // At the current length (2 generated tokens) -2 beats neither.
        let heuristic = GenerationConfig {
            early_stopping: EarlyStopping::Heuristic,
            ..cfg
        };
        let s = step_without_finishing(&heuristic, &running, &[-0.3, -0.55], 2);
        assert!(s.done);
    }

    /// `early_stopping = true` stops as soon as `num_beams` hypotheses are finished, even
    /// when the running beams could still beat them; the default heuristic goes on.
    #[test]
    fn when_full_stops_once_the_list_is_full() {
        let when_full = GenerationConfig {
            num_beams: 2,
            early_stopping: EarlyStopping::WhenFull,
            ..GenerationConfig::default()
        };
        // P([SEP]) = 0.5, P(1) = 0.3, P(2) = 0.2: beam 0 ends; one old hypothesis (-5).
        let row = vec![0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln()];
        for (cfg, done) in [
            (when_full.clone(), true),
            (
                GenerationConfig {
                    early_stopping: EarlyStopping::Heuristic,
                    ..when_full
                },
                false,
            ),
        ] {
            let mut s = search(&[(&[5, 1], -1.0), (&[5, 2], -3.0)], &[5]);
            s.finished[1].score = -5.0;
            s.finished[1].finished = true;
            s.advance(|_| row.clone(), &cfg, 2, 1, 10, EOS);
            let finished: Vec<Vec<u32>> = s.finished.iter().map(|h| h.tokens.clone()).collect();
            assert_eq!(finished, vec![vec![5, 1, 0], vec![5]]);
            assert!(s.finished.iter().all(|h| h.finished));
            assert!(s.improvable, "-2.204 / 2 beats -5");
            assert_eq!(s.done, done, "{:?}", cfg.early_stopping);
        }
    }

    /// transformers keeps the `2·num_beams` best continuations, so when every beam's best
    /// continuation is `[SEP]` (3 finished), the next 3 beams are still the 3 best that did
    /// not end, not an ended one.
    #[test]
    fn a_step_keeps_two_num_beams_candidates() {
        let cfg = GenerationConfig {
            num_beams: 3,
            num_return_sequences: 3,
            max_length: 10,
            ..GenerationConfig::default()
        };
        // Rows already normalised: P([SEP]) = 0.7, P(1) = P(2) = P(3) = 0.1.
        let row = vec![0.7f32.ln(), 0.1f32.ln(), 0.1f32.ln(), 0.1f32.ln()];
        let mut s = search(&[(&[5, 1], -1.0), (&[5, 2], -1.5), (&[5, 3], -2.0)], &[5]);
        s.advance(|_| row.clone(), &cfg, 2, 1, 10, EOS);
        assert_eq!(
            tokens_of_running(&s),
            vec![vec![5, 1, 1], vec![5, 1, 2], vec![5, 1, 3]]
        );
        let step = 0.1f32.ln();
        assert!(s.running.iter().all(|b| close(b.score, -1.0 + step)));
        // The three ended beams are the finished list, scored logp / generated length (2).
        let got: Vec<(Vec<u32>, f32, bool)> = s
            .finished
            .iter()
            .map(|h| (h.tokens.clone(), h.score, h.finished))
            .collect();
        let eos = 0.7f32.ln();
        for (i, (tokens, score)) in [
            (vec![5, 1, 0], (-1.0 + eos) / 2.0),
            (vec![5, 2, 0], (-1.5 + eos) / 2.0),
            (vec![5, 3, 0], (-2.0 + eos) / 2.0),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(got[i].0, tokens, "{got:?}");
            assert!(close(got[i].1, score) && got[i].2, "{got:?}");
        }
    }

    #[test]
    fn top_indices_orders_best_first_with_lower_index_on_ties() {
        assert_eq!(top_indices(&[1.0, 3.0, 3.0, 2.0, -1.0], 3), vec![1, 2, 3]);
        assert_eq!(top_indices(&[1.0, 2.0], 5), vec![1, 0]);
    }
}
