//! What may flow through a pipeline, and how the runner carries it type-erased.

use std::any::Any;
use std::fmt::Debug;

use crate::timestamp::Timestamp;
use crate::window::Window;

/// Bound for every element type.
///
/// * `Clone`: a collection read by several steps is fanned out by cloning, and user-code steps
///   keep a copy of the input so a failed element can go to the dead-letter output intact. Put
///   large payloads behind an `Arc` to make this cheap.
/// * `Debug`: a failed element is named in errors and dead letters.
/// * `Send + 'static`: elements cross worker threads.
///
/// Elements crossing a shuffle (`group_by_key`, `co_group_by_key`, combines) additionally need
/// `Serialize + DeserializeOwned` so a distributed runner can move them between machines.
pub trait Elem: Clone + Debug + Send + 'static {}
impl<T: Clone + Debug + Send + 'static> Elem for T {}

/// A type-erased element value, as runners carry it. The graph knows each collection's type
/// ([`CollectionView`](crate::runner::api::CollectionView)); runners never look inside.
pub type AnyBox = Box<dyn Any + Send>;

/// An element in flight: its value, its event time and the window it belongs to (Beam's
/// `WindowedValue`). Runners move it between steps unchanged; an element in several sliding
/// windows travels as one `Element` per window.
pub struct Element {
    /// The value (of the collection's element type).
    pub value: AnyBox,
    /// Its event time: the watermark of every collection it passes stays at or below it until
    /// the element has been processed.
    pub timestamp: Timestamp,
    /// The window it was assigned to ([`Window::Global`] until `window_into`).
    pub window: Window,
}

impl Element {
    /// `value` at `timestamp` in the global window.
    pub fn new(value: AnyBox, timestamp: Timestamp) -> Self {
        Element {
            value,
            timestamp,
            window: Window::Global,
        }
    }
}

/// Clones a type-erased value known to hold the collection's element type.
pub type CloneFn = fn(&AnyBox) -> AnyBox;
/// Formats a type-erased value known to hold the collection's element type.
pub type DebugFn = fn(&AnyBox) -> String;

/// The longest `Debug` text kept when naming an element in an error.
const MAX_DEBUG_CHARS: usize = 200;

pub(crate) fn clone_fn<T: Elem>() -> CloneFn {
    |v| match v.downcast_ref::<T>() {
        Some(t) => Box::new(t.clone()),
        // Unreachable by construction (ports are typed at build time); keep a value so a
        // broken invariant surfaces as a downcast error downstream rather than a panic here.
        None => Box::new(()),
    }
}

pub(crate) fn debug_fn<T: Elem>() -> DebugFn {
    |v| match v.downcast_ref::<T>() {
        Some(t) => debug_text(t),
        None => String::from("<element of unexpected type>"),
    }
}

/// `Debug` text of an element, cut to a readable length (an image's bytes would be megabytes).
pub(crate) fn debug_text<T: Debug + ?Sized>(value: &T) -> String {
    let text = format!("{value:?}");
    if text.chars().count() <= MAX_DEBUG_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_DEBUG_CHARS).collect();
    cut.push_str("...");
    cut
}

/// Recovers a `T` from an erased value; a mismatch is a graph-construction bug, reported as a
/// message (never a panic) so the run fails cleanly.
pub(crate) fn downcast<T: 'static>(value: AnyBox) -> Result<T, String> {
    value.downcast::<T>().map(|b| *b).map_err(|_| {
        format!(
            "internal type mismatch: expected {}",
            std::any::type_name::<T>()
        )
    })
}

/// Text of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        String::from("panicked with a non-string payload")
    }
}
