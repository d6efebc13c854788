//! Logit processors on one row of next-token scores (host side), with the semantics and order
//! of `transformers`' `_get_logits_processor`: repetition penalty, no-repeat n-grams, minimum
//! length, then (sampling only) temperature, top-k and top-p. Removed tokens get `-inf`.

use super::rng::SequenceRng;

/// CTRL penalty: every token already in `tokens` has its score divided by `penalty` when
/// positive and multiplied when negative (`RepetitionPenaltyLogitsProcessor`).
pub fn repetition_penalty(scores: &mut [f32], tokens: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = std::collections::HashSet::with_capacity(tokens.len());
    for &t in tokens {
        let i = t as usize;
        if i < scores.len() && seen.insert(t) {
            let s = scores[i];
            // `s <= 0.0` would be equivalent: a zero score (either sign) stays zero both ways.
            scores[i] = if s < 0.0 { s * penalty } else { s / penalty };
        }
    }
}

/// `NoRepeatNGramLogitsProcessor`: bans every token that would complete an `n`-gram already
/// present in `tokens` (the whole sequence, decoder prompt included, as `input_ids` is in
/// transformers). `n == 0` disables; `n == 1` bans every token already used.
pub fn no_repeat_ngram(scores: &mut [f32], tokens: &[u32], n: usize) {
    // Returning also when `tokens.len() + 1 == n` (`<=`, or `len * 1 < n`) is equivalent:
    // the loop below then finds no window of `n` tokens in `n - 1` and bans nothing.
    if n == 0 || tokens.len() + 1 < n {
        return;
    }
    let prefix = &tokens[tokens.len() + 1 - n..];
    for gram in tokens.windows(n) {
        if &gram[..n - 1] == prefix {
            if let Some(s) = scores.get_mut(gram[n - 1] as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
}

/// Forbids `eos` while the sequence (prompt included) is shorter than `min_length`.
pub fn min_length(scores: &mut [f32], cur_len: usize, min_length: usize, eos: u32) {
    if cur_len < min_length {
        if let Some(s) = scores.get_mut(eos as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

pub fn temperature(scores: &mut [f32], t: f32) {
    if t != 1.0 {
        scores.iter_mut().for_each(|s| *s /= t);
    }
}

/// Keeps tokens scoring at least the `k`-th best score (ties with it are kept).
pub fn top_k(scores: &mut [f32], k: usize) {
    if k == 0 || k >= scores.len() {
        return;
    }
    let mut sorted: Vec<f32> = scores.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let threshold = *kth;
    scores
        .iter_mut()
        .filter(|s| **s < threshold)
        .for_each(|s| *s = f32::NEG_INFINITY);
}

/// Nucleus filtering: in ascending score order, removes the tokens whose cumulative
/// probability is at most `1 - p`; the most likely token always stays.
pub fn top_p(scores: &mut [f32], p: f32) {
    if p >= 1.0 {
        return;
    }
    // Tokens at -inf have probability 0 and are removed already: only the finite ones matter.
    // Keeping them too (`>=`) is equivalent: they weigh exp(-inf) = 0, sort first and are set
    // to -inf again; the best finite token stays the last one.
    let mut idx: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] > f32::NEG_INFINITY)
        .collect();
    if idx.len() <= 1 {
        return;
    }
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let max = scores[idx[idx.len() - 1]];
    let exps: Vec<f32> = idx.iter().map(|&i| (scores[i] - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    let mut cum = 0.0f32;
    let last = idx.len() - 1;
    for (j, &i) in idx.iter().enumerate() {
        cum += exps[j] / total;
        if j < last && cum <= 1.0 - p {
            scores[i] = f32::NEG_INFINITY;
        }
    }
}

/// `log_softmax` of one row.
pub fn log_softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = scores.iter().map(|&s| f64::from(s - max).exp()).sum();
    let lse = sum.ln() as f32;
    scores.iter().map(|&s| s - max - lse).collect()
}

/// Index of the first best score (NaN never wins), as `argmax`.
pub fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        if s > best_v {
            best = i;
            best_v = s;
        }
    }
    best as u32
}

/// Draws a token from `softmax(scores)` by inverse transform with one uniform from `rng`.
pub fn sample(scores: &[f32], rng: &mut SequenceRng) -> u32 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return argmax(scores);
    }
    inverse_transform(scores, max, rng.uniform())
}

/// The token whose interval `[cum_{i-1}, cum_i)` of the cumulative weights
/// `exp(score - max)` holds `u · total`, for `u` in `[0, 1)`: token `i` is drawn with
/// probability `weight_i / total` exactly.
fn inverse_transform(scores: &[f32], max: f32, u: f64) -> u32 {
    let weights: Vec<f64> = scores.iter().map(|&s| f64::from(s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let target = u * total;
    let mut cum = 0.0;
    let mut last_nonzero = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            cum += w;
            last_nonzero = i;
            if cum > target {
                return i as u32;
            }
        }
    }
    last_nonzero as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_ties_and_top_p_keeps_the_nucleus() {
        let mut s = vec![1.0, 3.0, 2.0, 3.0, 0.0];
        top_k(&mut s, 2);
        assert_eq!(
            s,
            vec![
                f32::NEG_INFINITY,
                3.0,
                f32::NEG_INFINITY,
                3.0,
                f32::NEG_INFINITY
            ]
        );
        // probabilities ≈ [0.64, 0.24, 0.09, 0.03]: p = 0.8 keeps the first two.
        let mut s = vec![3.0, 2.0, 1.0, 0.0];
        top_p(&mut s, 0.8);
        assert!(s[0].is_finite() && s[1].is_finite());
        assert!(s[2] == f32::NEG_INFINITY && s[3] == f32::NEG_INFINITY);
        let mut s = vec![5.0, 0.0];
        top_p(&mut s, 0.01);
        assert!(s[0].is_finite() && s[1] == f32::NEG_INFINITY);
    }

    #[test]
    fn repetition_penalty_and_min_length() {
        let mut s = vec![2.0, -2.0, 1.0];
        repetition_penalty(&mut s, &[0, 1, 1], 2.0);
        assert_eq!(s, vec![1.0, -4.0, 1.0]);
        min_length(&mut s, 1, 3, 2);
        assert_eq!(s[2], f32::NEG_INFINITY);
        assert_eq!(argmax(&s), 0);
    }

    #[test]
    fn no_repeat_ngram_bans_only_completions_of_seen_ngrams() {
        // tokens 5 6 7 5 6: the 3-gram prefix is (5, 6), which was followed by 7.
        let mut s = vec![0.0f32; 10];
        no_repeat_ngram(&mut s, &[5, 6, 7, 5, 6], 3);
        let banned: Vec<usize> = (0..10).filter(|&i| s[i] == f32::NEG_INFINITY).collect();
        assert_eq!(banned, vec![7]);
        // 2-grams: prefix (6), seen followed by 7 only.
        let mut s = vec![0.0f32; 10];
        no_repeat_ngram(&mut s, &[5, 6, 7, 5, 6], 2);
        assert_eq!(
            (0..10)
                .filter(|&i| s[i] == f32::NEG_INFINITY)
                .collect::<Vec<_>>(),
            vec![7]
        );
        // 1-grams: every used token.
        let mut s = vec![0.0f32; 10];
        no_repeat_ngram(&mut s, &[5, 6, 7, 5, 6], 1);
        assert_eq!(
            (0..10)
                .filter(|&i| s[i] == f32::NEG_INFINITY)
                .collect::<Vec<_>>(),
            vec![5, 6, 7]
        );
        // Too short for any n-gram, or disabled: nothing banned.
        let mut s = vec![0.0f32; 10];
        no_repeat_ngram(&mut s, &[5, 6], 4);
        no_repeat_ngram(&mut s, &[5, 5, 5], 0);
        assert!(s.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn tokens_outside_the_row_are_ignored_and_each_token_is_penalised_once() {
        let mut s = vec![2.0, -2.0];
        repetition_penalty(&mut s, &[2, 7, 1, 1, 1], 2.0);
        assert_eq!(s, vec![2.0, -4.0]);
        let mut s = vec![2.0, -2.0];
        repetition_penalty(&mut s, &[0, 1], 1.0);
        assert_eq!(s, vec![2.0, -2.0]);
    }

    #[test]
    fn no_repeat_ngram_sees_an_ngram_spanning_the_whole_sequence() {
        // tokens 5 5 5 with n = 3: the only 3-gram is the whole sequence, (5, 5) → 5.
        let mut s = vec![0.0f32; 8];
        no_repeat_ngram(&mut s, &[5, 5, 5], 3);
        let banned: Vec<usize> = (0..8).filter(|&i| s[i] == f32::NEG_INFINITY).collect();
        assert_eq!(banned, vec![5]);
    }

    #[test]
    fn min_length_bans_eos_only_below_the_minimum() {
        let mut s = vec![0.5f32; 4];
        min_length(&mut s, 3, 3, 2);
        assert_eq!(s, vec![0.5; 4], "length 3 reaches min_length 3");
        min_length(&mut s, 2, 3, 2);
        assert_eq!(s, vec![0.5, 0.5, f32::NEG_INFINITY, 0.5]);
        // An eos outside the row is ignored.
        let mut s = vec![0.5f32; 2];
        min_length(&mut s, 0, 3, 9);
        assert_eq!(s, vec![0.5; 2]);
    }

    #[test]
    fn temperature_divides_the_scores() {
        let mut s = vec![2.0f32, -1.0, 0.0];
        temperature(&mut s, 0.5);
        assert_eq!(s, vec![4.0, -2.0, 0.0]);
        temperature(&mut s, 4.0);
        assert_eq!(s, vec![1.0, -0.5, 0.0]);
        temperature(&mut s, 1.0);
        assert_eq!(s, vec![1.0, -0.5, 0.0]);
    }

    #[test]
    fn top_k_of_zero_or_at_least_the_row_keeps_everything() {
        for k in [0, 3, 4, 10] {
            let mut s = vec![1.0f32, 3.0, 2.0];
            top_k(&mut s, k);
            assert_eq!(s, vec![1.0, 3.0, 2.0], "k = {k}");
        }
        let mut s = vec![1.0f32, 3.0, 2.0];
        top_k(&mut s, 1);
        assert_eq!(s, vec![f32::NEG_INFINITY, 3.0, f32::NEG_INFINITY]);
    }

    #[test]
    fn top_p_uses_normalised_probabilities_of_any_magnitude() {
        // Four equal tokens (0.25 each): p = 0.6 removes only the first in ascending order
        // (cumulative 0.25 ≤ 0.4; 0.5 > 0.4). Stable sort: ties keep index order.
        let mut s = vec![0.0f32; 4];
        top_p(&mut s, 0.6);
        assert_eq!(s, vec![f32::NEG_INFINITY, 0.0, 0.0, 0.0]);
        // Shifting every logit by a constant changes nothing, even where exp(logit) overflows.
        for shift in [0.0f32, 100.0, -100.0] {
            let mut s: Vec<f32> = [3.0f32, 2.0, 1.0, 0.0].iter().map(|v| v + shift).collect();
            top_p(&mut s, 0.8);
            let kept: Vec<bool> = s.iter().map(|v| v.is_finite()).collect();
            assert_eq!(kept, vec![true, true, false, false], "shift {shift}");
        }
    }

    #[test]
    fn top_p_always_keeps_the_most_likely_token() {
        // 1 - p rounds to 1.0 in f32, so the cumulative probability of every token, the best
        // included, is ≤ 1 - p; the best must stay anyway.
        let mut s = vec![0.0f32, 0.0];
        top_p(&mut s, 1e-9);
        assert_eq!(s, vec![f32::NEG_INFINITY, 0.0]);
        let mut s = vec![1.0f32, 4.0, f32::NEG_INFINITY, 2.0];
        top_p(&mut s, 1e-9);
        assert_eq!(
            s,
            vec![f32::NEG_INFINITY, 4.0, f32::NEG_INFINITY, f32::NEG_INFINITY]
        );
    }

    #[test]
    fn log_softmax_gives_log_probabilities_at_any_offset() {
        // softmax([0, ln 3]) = [1/4, 3/4]. Tolerance 1e-5: shift + ln 3 is rounded to f32
        // (half an ulp of 51 is 1.9e-6) and the result takes two more f32 roundings.
        for shift in [0.0f32, 50.0, -50.0] {
            let lp = log_softmax(&[shift, shift + 3.0f32.ln()]);
            assert_eq!(lp.len(), 2);
            assert!((lp[0] - 0.25f32.ln()).abs() < 1e-5, "shift {shift}: {lp:?}");
            assert!((lp[1] - 0.75f32.ln()).abs() < 1e-5, "shift {shift}: {lp:?}");
        }
    }

    #[test]
    fn argmax_takes_the_first_best_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, 2.0, f32::NAN]), 2);
        assert_eq!(argmax(&[-5.0, -1.0]), 1);
    }

    #[test]
    fn sampling_is_shift_invariant_and_never_draws_a_removed_token() {
        // Scores offset by c: softmax is unchanged, so token 1 still has probability 3/4, also
        // where exp(score) alone would overflow f64.
        for c in [10.0f32, 800.0] {
            let mut rng = SequenceRng::new(3, "shift", 0);
            let scores = vec![c, c + (3.0f32).ln(), f32::NEG_INFINITY];
            let mut counts = [0usize; 3];
            for _ in 0..4000 {
                counts[sample(&scores, &mut rng) as usize] += 1;
            }
            assert_eq!(counts[2], 0, "c = {c}");
            let frac = counts[1] as f64 / 4000.0;
            assert!((frac - 0.75).abs() < 0.04, "c = {c}: {counts:?}");
        }
        // A NaN score makes the total NaN: the draw falls back to the last token with weight,
        // never to a removed (-inf) one.
        let mut rng = SequenceRng::new(3, "nan", 0);
        for _ in 0..8 {
            assert_eq!(sample(&[1.0, f32::NAN, f32::NEG_INFINITY], &mut rng), 0);
        }
        // All removed: the argmax fallback (first index).
        assert_eq!(sample(&[f32::NEG_INFINITY; 3], &mut rng), 0);
    }

    /// Token `i` owns `[cum_{i-1}, cum_i)`: a draw on a boundary belongs to the next token.
    #[test]
    fn inverse_transform_intervals_are_half_open() {
        // Four equal scores: weights exactly 1 (total 4), token i owns [i, i + 1) of u·total.
        let scores = [0.5f32; 4];
        let at = |u: f64| inverse_transform(&scores, 0.5, u);
        assert_eq!(at(0.0), 0);
        assert_eq!(at(0.2499), 0);
        assert_eq!(at(0.25), 1, "u·total = 1 is the start of token 1");
        assert_eq!(at(0.5), 2, "u·total = 2 is the start of token 2");
        assert_eq!(at(0.75), 3);
        assert_eq!(at(1.0 - f64::EPSILON / 2.0), 3);
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let mut rng = SequenceRng::new(0, "k", 0);
        let scores = vec![0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let mut counts = [0usize; 3];
        for _ in 0..4000 {
            counts[sample(&scores, &mut rng) as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        let frac = counts[1] as f64 / 4000.0;
        assert!((frac - 0.75).abs() < 0.04, "{counts:?}");
    }
}
