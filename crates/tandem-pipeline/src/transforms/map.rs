//! Closure transforms: `map`, `try_map`, `flat_map`, `filter`.
//!
//! Each is a [`DoFn`] around an `Arc`'d closure, so they share the runner's failure model:
//! a panic (or, for `try_map`, an `Err`) fails the element.

use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::element::Elem;
use crate::error::BoxError;
use crate::graph::Accounting;
use crate::pcollection::{Applied, PCollection};
use crate::transforms::par_do::{apply_dofn, DoFn, Emitter};

/// A closure `Fn(I) -> Result<O, String>` as a `DoFn`; the shared shape behind the closure
/// transforms.
pub(crate) struct FnDoFn<I, O, F> {
    f: Arc<F>,
    _io: PhantomData<fn(I) -> O>,
}

impl<I, O, F> Clone for FnDoFn<I, O, F> {
    fn clone(&self) -> Self {
        Self {
            f: Arc::clone(&self.f),
            _io: PhantomData,
        }
    }
}

/// What a closure transform does with each element's result.
pub(crate) trait Produce<O>: Send + Sync + 'static {
    type In;
    fn produce(&self, input: Self::In, out: &mut dyn FnMut(Option<O>)) -> Result<(), String>;
}

impl<I: Elem, O: Elem, F: Produce<O, In = I>> DoFn for FnDoFn<I, O, F> {
    type In = I;
    type Out = O;

    fn process(&mut self, element: I, out: &mut Emitter<'_, I, O>) -> Result<(), BoxError> {
        let mut sink = |o: Option<O>| match o {
            Some(v) => out.emit(v),
            None => out.note_filtered(),
        };
        self.f.produce(element, &mut sink).map_err(BoxError::from)
    }
}

pub(crate) fn fn_dofn<I, O, F>(f: F) -> FnDoFn<I, O, F> {
    FnDoFn {
        f: Arc::new(f),
        _io: PhantomData,
    }
}

struct MapP<F, I>(F, PhantomData<fn(I)>);
impl<I: Elem, O: Elem, F: Fn(I) -> O + Send + Sync + 'static> Produce<O> for MapP<F, I> {
    type In = I;
    fn produce(&self, input: I, out: &mut dyn FnMut(Option<O>)) -> Result<(), String> {
        out(Some((self.0)(input)));
        Ok(())
    }
}

struct TryMapP<F, I>(F, PhantomData<fn(I)>);
impl<I: Elem, O: Elem, E: Display, F> Produce<O> for TryMapP<F, I>
where
    F: Fn(I) -> Result<O, E> + Send + Sync + 'static,
{
    type In = I;
    fn produce(&self, input: I, out: &mut dyn FnMut(Option<O>)) -> Result<(), String> {
        out(Some((self.0)(input).map_err(|e| e.to_string())?));
        Ok(())
    }
}

struct FlatMapP<F, I>(F, PhantomData<fn(I)>);
impl<I: Elem, O: Elem, It: IntoIterator<Item = O>, F> Produce<O> for FlatMapP<F, I>
where
    F: Fn(I) -> It + Send + Sync + 'static,
{
    type In = I;
    fn produce(&self, input: I, out: &mut dyn FnMut(Option<O>)) -> Result<(), String> {
        for o in (self.0)(input) {
            out(Some(o));
        }
        Ok(())
    }
}

struct FilterP<F, I>(F, PhantomData<fn(I)>);
impl<I: Elem, F: Fn(&I) -> bool + Send + Sync + 'static> Produce<I> for FilterP<F, I> {
    type In = I;
    fn produce(&self, input: I, out: &mut dyn FnMut(Option<I>)) -> Result<(), String> {
        let keep = (self.0)(&input);
        out(keep.then_some(input));
        Ok(())
    }
}

impl<T: Elem> PCollection<T> {
    /// One output per element. A panic in `f` fails the element.
    pub fn map<U: Elem, F>(&self, name: impl Into<String>, f: F) -> Applied<T, U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        apply_dofn(
            self,
            name.into(),
            fn_dofn(MapP(f, PhantomData)),
            Accounting::Exact,
        )
    }

    /// One output per element, or a failure: an `Err` fails the element (dead-letter output or
    /// run error) with the error's `Display` text.
    pub fn try_map<U: Elem, E: Display, F>(&self, name: impl Into<String>, f: F) -> Applied<T, U>
    where
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        apply_dofn(
            self,
            name.into(),
            fn_dofn(TryMapP(f, PhantomData)),
            Accounting::Exact,
        )
    }

    /// Zero or more outputs per element.
    pub fn flat_map<U: Elem, It, F>(&self, name: impl Into<String>, f: F) -> Applied<T, U>
    where
        It: IntoIterator<Item = U>,
        F: Fn(T) -> It + Send + Sync + 'static,
    {
        apply_dofn(
            self,
            name.into(),
            fn_dofn(FlatMapP(f, PhantomData)),
            Accounting::Variable,
        )
    }

    /// Keeps the elements for which `keep` is true. Dropped elements are counted as
    /// `filtered` in the step's metrics, never silently.
    pub fn filter<F>(&self, name: impl Into<String>, keep: F) -> Applied<T, T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        apply_dofn(
            self,
            name.into(),
            fn_dofn(FilterP(keep, PhantomData)),
            Accounting::Exact,
        )
    }
}
