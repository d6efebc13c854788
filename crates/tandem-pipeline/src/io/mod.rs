//! Sources and sinks.
//!
//! Sources: [`Pipeline::create`](crate::Pipeline::create) (any iterator), [`ReadFiles`]
//! (glob), [`ReadImages`] (a folder of images, raw bytes), [`ReadLines`] (files or stdin),
//! [`ReadJsonLines`], [`ChannelSource`]. Sinks: [`WriteJsonLines`], [`WriteStdout`],
//! [`ChannelSink`], and [`PCollection::collect`](crate::PCollection::collect).
//!
//! Globs support `*` and `?` within a path component and `**` across components.

pub mod channel;
pub mod collect;
pub mod files;
pub(crate) mod glob;
pub mod source;
pub mod text;
pub mod write;

pub use channel::{ChannelSink, ChannelSource};
pub use collect::Collected;
pub use files::{ReadFiles, ReadImages, IMAGE_EXTENSIONS};
pub use source::{positional, ElementIter, EventIter, IterSource, Source, SourceEvent};
pub use text::{ReadJsonLines, ReadLines};
pub use write::{Sink, WriteJsonLines, WriteStdout};
