//! [`ContinuousBatcher`]: concurrent generation requests on one loaded model share their
//! decoder steps.
//!
//! Without it, two batches of images captioned at the same time (two RunInference workers
//! on one model) each run their own decode loop, and every step of each reads all of the
//! decoder's weights: on a CPU that read (490 MB per step for BLIP base in f32) costs about as
//! much as the arithmetic. With it, the requests' sequences run as the rows of one
//! [`DecodeBatch`]: a request joins between two steps once its images are encoded, its finished
//! sequences leave at once, and it returns as soon as its own captions are done.
//!
//! There is no scheduler thread. Each request prepares its own work ([`prepare`]: image
//! context, prompt, first tokens), queues it, and then either waits or, when no other caller
//! is stepping the batch, steps it itself (the *driver*), admitting queued requests between
//! steps. A driver whose own request has finished hands the batch back and returns; a waiting
//! caller whose request still runs takes over. Every queued request's caller is inside
//! [`ContinuousBatcher::generate`] until its result is published, so the batch never runs
//! without a caller to step it.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::batch::{prepare, DecodeBatch, Joiner};
use super::config::GenerationConfig;
use super::{check_request, generate_from_embeds, sample};
use crate::error::{BlipError, Result};
use crate::model::BlipModel;
use tandem_tensor::{Backend, Tensor};

/// Token ids per image, `num_return_sequences` each.
type Captions = Vec<Vec<Vec<u32>>>;

/// What requests sharing a batch have in common: the model's weights (its clones share them)
/// and end token (a clone's public config may differ), the settings and the prompt.
struct Settings {
    weights: Arc<()>,
    eos: u32,
    cfg: GenerationConfig,
    prompt: Vec<u32>,
}

impl Settings {
    fn of<B: Backend>(model: &BlipModel<B>, cfg: &GenerationConfig, prompt: &[u32]) -> Self {
        Settings {
            weights: model.weights_id().clone(),
            eos: model.config.text_config.sep_token_id,
            cfg: cfg.clone(),
            prompt: prompt.to_vec(),
        }
    }

    /// Whether a request with these arguments decodes correctly in a batch of these settings.
    fn admits<B: Backend>(
        &self,
        model: &BlipModel<B>,
        cfg: &GenerationConfig,
        prompt: &[u32],
    ) -> bool {
        Arc::ptr_eq(&self.weights, model.weights_id())
            && self.eos == model.config.text_config.sep_token_id
            && self.cfg == *cfg
            && self.prompt == prompt
    }
}

/// Shares decoder steps between concurrent [`ContinuousBatcher::generate`] calls on one model
/// (continuous batching; see the module docs). One batcher belongs to one loaded model:
/// [`crate::BlipCaptioner`] holds one, shared by its clones.
///
/// Requests share steps when they run on the same model (or a clone of it with the same end
/// token) with equal [`GenerationConfig`] and prompt (the decoding rules are per batch); any
/// other request decodes on its own, as [`generate_from_embeds`] does. Beam search always decodes on its own. Each
/// sequence keeps its own random stream (keyed by its image's key and index), so a request's
/// captions do not depend on which requests it shared steps with, up to the summation order
/// of a batch with more rows.
pub struct ContinuousBatcher<B: Backend> {
    state: Mutex<State<B>>,
    /// Signalled when results are published or the batch is handed back.
    wake: Condvar,
}

struct State<B: Backend> {
    /// The running batch while no driver holds it (`None` when empty or while driven).
    batch: Option<DecodeBatch<B>>,
    /// Model (its weights' identity), settings and prompt of the requests running or queued.
    settings: Option<Settings>,
    /// A caller is stepping the batch.
    driving: bool,
    /// Prepared requests waiting for the next step boundary.
    joining: Vec<(u64, Joiner<B>)>,
    /// Results not yet taken by their callers.
    finished: HashMap<u64, Result<Captions>>,
    next_id: u64,
}

impl<B: Backend> Default for ContinuousBatcher<B> {
    fn default() -> Self {
        ContinuousBatcher {
            state: Mutex::new(State {
                batch: None,
                settings: None,
                driving: false,
                joining: Vec::new(),
                finished: HashMap::new(),
                next_id: 0,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for ContinuousBatcher<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("ContinuousBatcher")
            .field("rows", &st.batch.as_ref().map_or(0, DecodeBatch::rows))
            .field("joining", &st.joining.len())
            .field("driving", &st.driving)
            .finish()
    }
}

impl<B: Backend> ContinuousBatcher<B> {
    /// An idle batcher; [`crate::BlipCaptioner`] holds one per loaded model.
    pub fn new() -> Self {
        Self::default()
    }

    /// What [`generate_from_embeds`] returns for the same arguments (per image, the token ids
    /// of its `num_return_sequences` captions), with the decoder steps shared with the other
    /// calls in flight on `model` (see the type docs). Blocks until this request's captions are
    /// done. Errors: those of [`generate_from_embeds`], and [`BlipError::SharedStep`] when a
    /// step this request shared failed.
    pub fn generate(
        &self,
        model: &BlipModel<B>,
        image_embeds: &Tensor<B>,
        keys: &[&str],
        prompt: &[u32],
        cfg: &GenerationConfig,
    ) -> Result<Captions> {
        check_request(model, image_embeds, keys, prompt, cfg)?;
        if keys.is_empty() || cfg.num_beams > 1 {
            return generate_from_embeds(model, image_embeds, keys, prompt, cfg);
        }
        let joiner = prepare(model, image_embeds, keys, prompt, cfg)?;
        if joiner.is_finished() {
            return joiner.into_captions();
        }
        let mut st = self.lock();
        if !st
            .settings
            .as_ref()
            .is_none_or(|s| s.admits(model, cfg, prompt))
        {
            drop(st);
            return sample::decode_alone(model, joiner, cfg, prompt.len());
        }
        st.settings = Some(Settings::of(model, cfg, prompt));
        let id = st.next_id;
        st.next_id += 1;
        st.joining.push((id, joiner));
        loop {
            if let Some(result) = st.finished.remove(&id) {
                return result;
            }
            if !st.driving {
                st.driving = true;
                let batch = st.batch.take();
                drop(st);
                self.drive(model, batch, id, cfg, prompt.len());
                st = self.lock();
                continue;
            }
            st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<B>> {
        // Every update of the state is completed before the guard drops; a panic elsewhere
        // (in a model step, caught in `drive`) cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Steps the batch, admitting queued requests between steps, until request `me` has its
    /// result; then hands the batch back. Every request's result is published as it finishes.
    fn drive(
        &self,
        model: &BlipModel<B>,
        batch: Option<DecodeBatch<B>>,
        me: u64,
        cfg: &GenerationConfig,
        prompt_len: usize,
    ) {
        // Should anything below panic outside the caught step, the next caller must still be
        // able to drive (and learn that its request was lost) instead of waiting forever.
        let _release = ReleaseOnPanic(self);
        let max_len = cfg.effective_max_length(prompt_len);
        let mut batch = batch
            .unwrap_or_else(|| DecodeBatch::new(model, cfg, prompt_len, max_len + max_len / 2));
        loop {
            let joining = std::mem::take(&mut self.lock().joining);
            let mut results: Vec<(u64, Result<Captions>)> = Vec::new();
            for (id, joiner) in joining {
                if let Err(e) = batch.admit(id, joiner) {
                    results.push((id, Err(e)));
                }
            }
            // `me` was queued or admitted; with nothing running it must have a result. If not
            // (a batch lost to a panic in an earlier driver), say so rather than wait forever.
            if batch.is_empty()
                && !results.iter().any(|(id, _)| *id == me)
                && !self.lock().finished.contains_key(&me)
            {
                results.push((
                    me,
                    Err(BlipError::generation(
                        "continuous batching",
                        "the request's decode batch was lost (a driver panicked)",
                    )),
                ));
            }
            let stepped = if batch.is_empty() {
                Ok(Vec::new())
            } else {
                catch_unwind(AssertUnwindSafe(|| batch.step(model))).unwrap_or_else(|panic| {
                    Err(BlipError::generation(
                        "continuous batching",
                        format!("the decoder step panicked: {}", panic_message(&panic)),
                    ))
                })
            };
            match stepped {
                Ok(done) => {
                    results.extend(done.into_iter().map(|(id, p)| (id, p.into_captions())));
                }
                Err(e) => {
                    // The batch's state is unknown after a failed step: fail every request in it.
                    let ids: Vec<u64> = batch.requests().collect();
                    let reason = e.to_string();
                    let oom = e.out_of_memory_bytes();
                    for &id in &ids {
                        results.push((
                            id,
                            Err(BlipError::SharedStep {
                                requests: ids.len(),
                                reason: reason.clone(),
                                out_of_memory_bytes: oom,
                            }),
                        ));
                    }
                    batch = DecodeBatch::new(model, cfg, prompt_len, max_len + max_len / 2);
                }
            }
            let mut st = self.lock();
            let published = !results.is_empty();
            st.finished.extend(results);
            if published {
                self.wake.notify_all();
            }
            if st.finished.contains_key(&me) {
                st.driving = false;
                if batch.is_empty() {
                    if st.joining.is_empty() {
                        st.settings = None;
                    }
                } else {
                    st.batch = Some(batch);
                }
                self.wake.notify_all();
                return;
            }
        }
    }
}

/// Clears the driving flag if its driver unwinds, so a waiting caller takes over.
struct ReleaseOnPanic<'a, B: Backend>(&'a ContinuousBatcher<B>);

impl<B: Backend> Drop for ReleaseOnPanic<'_, B> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().driving = false;
            self.0.wake.notify_all();
        }
    }
}

/// The text of a caught panic's payload.
fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::testing::{model, Request};
    use std::sync::Barrier;

    fn sampled() -> GenerationConfig {
        GenerationConfig {
            max_length: 12,
            min_length: 4,
            do_sample: true,
            num_return_sequences: 3,
            seed: 11,
            ..GenerationConfig::default()
        }
    }

    /// Concurrent calls (same settings, other settings, beam search, an invalid request, a
    /// request without images, a request on another model) each get what they get alone, whoever ends up stepping whose
    /// rows; afterwards the batcher is idle and serves the next call.
    #[test]
    fn concurrent_requests_get_their_own_captions() {
        let model = model();
        let prompt = [model.config.text_config.bos_token_id];
        let other = GenerationConfig {
            max_length: 9,
            ..sampled()
        };
        let beams = GenerationConfig {
            do_sample: false,
            num_beams: 3,
            num_return_sequences: 2,
            ..sampled()
        };
        let calls: Vec<(Request, GenerationConfig)> = vec![
            (Request::new(&model, 2, 1), sampled()),
            (Request::new(&model, 1, 2), sampled()),
            (Request::new(&model, 3, 3), sampled()),
            (Request::new(&model, 1, 4), other),
            (Request::new(&model, 2, 5), beams),
            (Request::new(&model, 2, 6), sampled()),
            (Request::new(&model, 0, 7), sampled()),
        ];
        let alone: Vec<Captions> = calls
            .iter()
            .map(|(r, cfg)| {
                generate_from_embeds(&model, &r.embeds, &r.keys(), &prompt, cfg).expect("alone")
            })
            .collect();
        let batcher = ContinuousBatcher::new();
        // Another model (other sizes: its rows could not even join this batch).
        let other = crate::generation::testing::model_named("blip-tiny-b");
        let other_request = Request::new(&other, 2, 9);
        let other_alone = generate_from_embeds(
            &other,
            &other_request.embeds,
            &other_request.keys(),
            &prompt,
            &sampled(),
        )
        .expect("alone");
        let start = Barrier::new(calls.len() + 2);
        let got: Vec<Result<Captions>> = std::thread::scope(|s| {
            let handles: Vec<_> = calls
                .iter()
                .map(|(r, cfg)| {
                    let (batcher, model, start) = (&batcher, &model, &start);
                    s.spawn(move || {
                        start.wait();
                        batcher.generate(model, &r.embeds, &r.keys(), &prompt, cfg)
                    })
                })
                .collect();
            let other_model = s.spawn(|| {
                start.wait();
                let r = &other_request;
                batcher.generate(&other, &r.embeds, &r.keys(), &prompt, &sampled())
            });
            // An invalid request fails alone and does not disturb the others.
            start.wait();
            let bad = Request::new(&model, 2, 8);
            assert!(batcher
                .generate(&model, &bad.embeds, &["only one key"], &prompt, &sampled())
                .is_err());
            let got: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect();
            assert_eq!(
                other_model.join().expect("no panic").expect("captions"),
                other_alone,
                "the other model's call"
            );
            got
        });
        for (i, (got, want)) in got.into_iter().zip(&alone).enumerate() {
            assert_eq!(&got.expect("captions"), want, "call {i}");
        }
        let st = batcher.lock();
        assert!(!st.driving && st.joining.is_empty() && st.finished.is_empty());
        assert!(st.batch.is_none() && st.settings.is_none());
        drop(st);
        let (r, cfg) = &calls[1];
        let again = batcher
            .generate(&model, &r.embeds, &r.keys(), &prompt, cfg)
            .expect("idle batcher serves again");
        assert_eq!(again, alone[1]);
    }

    /// A request that is neither queued nor running when its caller drives (its batch was
    /// lost to a panic) gets an error instead of a wait without end, and a driver that
    /// unwinds leaves the batcher drivable.
    #[test]
    fn a_lost_request_gets_an_error_and_a_panicking_driver_releases_the_batch() {
        let model = model();
        let batcher = ContinuousBatcher::new();
        batcher.lock().driving = true;
        batcher.drive(&model, None, 42, &sampled(), 1);
        let mut st = batcher.lock();
        assert!(!st.driving);
        assert!(matches!(
            st.finished.remove(&42),
            Some(Err(BlipError::Generation { .. }))
        ));
        st.driving = true;
        drop(st);
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let _release = ReleaseOnPanic(&batcher);
            panic!("a bug in a driver");
        }));
        assert!(unwound.is_err());
        assert!(!batcher.lock().driving, "the next caller can drive");
    }

    /// Which requests may join a batch: the same model or a clone with the same end token,
    /// equal settings and prompt; not a reloaded model, nor a clone whose config ends
    /// sequences at another token.
    #[test]
    fn only_compatible_requests_join_a_batch() {
        let model = model();
        let cfg = sampled();
        let batch = Settings::of(&model, &cfg, &[1]);
        assert!(batch.admits(&model, &cfg, &[1]));
        assert!(batch.admits(&model.clone(), &cfg, &[1]));
        let mut other_eos = model.clone();
        other_eos.config.text_config.sep_token_id += 1;
        assert!(!batch.admits(&other_eos, &cfg, &[1]));
        assert!(!batch.admits(&crate::generation::testing::model(), &cfg, &[1]));
        assert!(!batch.admits(&model, &cfg, &[1, 2]));
        let greedy = GenerationConfig {
            do_sample: false,
            ..cfg
        };
        assert!(!batch.admits(&model, &greedy, &[1]));
    }
}
