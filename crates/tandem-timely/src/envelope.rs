//! [`Envelope`]: how one pipeline element travels on a timely stream.
//!
//! Timely moves records between workers of one process by value and between processes as
//! bytes, serialising them only then. An envelope holds the element as the type-erased value
//! it is inside a process, plus the codec of the edge it travels on; only when timely
//! serialises it (it crosses processes) is the value encoded, with that codec, in the binary
//! [`WireFormat`]. The receiving operator decodes the bytes with the codec of its input port.

use std::sync::Arc;

use serde::de::{Deserializer, Error as _};
use serde::ser::{Error as _, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use tandem_pipeline::runner::api::{AnyBox, CodecError, Element, ShuffleCodec, WireFormat};
use tandem_pipeline::window::Window;
use tandem_pipeline::Timestamp;

/// What an envelope carries.
pub(crate) enum Payload {
    /// The value itself, and how to encode it should it leave the process.
    Value {
        value: AnyBox,
        codec: Option<Arc<dyn ShuffleCodec>>,
    },
    /// The value's bytes, as received from another process.
    Bytes(Vec<u8>),
}

/// One element on a timely stream, addressed to worker `dest`.
pub(crate) struct Envelope {
    /// The worker that must process it (the exchange pact routes by it).
    pub(crate) dest: u64,
    pub(crate) timestamp: Timestamp,
    pub(crate) window: Window,
    pub(crate) payload: Payload,
}

impl Envelope {
    /// Wraps `elem` for worker `dest`; `codec` encodes it if it leaves the process.
    pub(crate) fn new(elem: Element, dest: u64, codec: Option<Arc<dyn ShuffleCodec>>) -> Self {
        Envelope {
            dest,
            timestamp: elem.timestamp,
            window: elem.window,
            payload: Payload::Value {
                value: elem.value,
                codec,
            },
        }
    }

    /// The element back, decoding bytes with `codec` (that of the receiving input port).
    pub(crate) fn open(self, codec: Option<&Arc<dyn ShuffleCodec>>) -> Result<Element, String> {
        let value = match self.payload {
            Payload::Value { value, .. } => value,
            Payload::Bytes(bytes) => match codec {
                Some(c) => c
                    .decode(&bytes, WireFormat::Binary)
                    .map_err(|e: CodecError| e.to_string())?,
                None => {
                    return Err(String::from(
                        "received an element from another process on an edge without a coder",
                    ))
                }
            },
        };
        Ok(Element {
            value,
            timestamp: self.timestamp,
            window: self.window,
        })
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let encoded;
        let bytes: &[u8] = match &self.payload {
            Payload::Bytes(b) => b,
            Payload::Value {
                value,
                codec: Some(codec),
            } => {
                let mut buf = Vec::new();
                codec
                    .encode(value, WireFormat::Binary, &mut buf)
                    .map_err(S::Error::custom)?;
                encoded = buf;
                &encoded
            }
            // Refused before the run starts (`plan.rs`): every edge that can cross processes
            // has a codec.
            Payload::Value { codec: None, .. } => {
                return Err(S::Error::custom(
                    "element of an edge without a coder left its process",
                ))
            }
        };
        let mut t = serializer.serialize_tuple(4)?;
        t.serialize_element(&self.dest)?;
        t.serialize_element(&self.timestamp)?;
        t.serialize_element(&self.window)?;
        t.serialize_element(&BytesRef(bytes))?;
        t.end()
    }
}

/// A byte slice serialised with `serialize_bytes` (one length and the bytes, not a sequence
/// of numbers).
struct BytesRef<'a>(&'a [u8]);

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (dest, timestamp, window, bytes): (u64, Timestamp, Window, ByteBuf) =
            Deserialize::deserialize(deserializer).map_err(D::Error::custom)?;
        Ok(Envelope {
            dest,
            timestamp,
            window,
            payload: Payload::Bytes(bytes.0),
        })
    }
}

/// Owned bytes deserialised from `serialize_bytes`.
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        deserializer.deserialize_byte_buf(V)
    }
}
