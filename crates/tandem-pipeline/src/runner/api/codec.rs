//! How elements cross a shuffle (group, co-group, combine) on a runner that moves them
//! between processes or hosts.
//!
//! The local runner routes elements by key hash in memory and never serialises; a
//! distributed runner uses each keyed step's [`ShuffleCodec`] to pick the worker that owns an
//! element's key and to turn the element into bytes and back, in the [`WireFormat`] it
//! chooses. This is why shuffled keys and values must be `Serialize + DeserializeOwned` while
//! nothing else must. The element's timestamp and window travel beside the value; encoding
//! them is the runner's business (both are `Serialize`).

use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::element::{AnyBox, Elem};
use crate::hash::stable_hash;

/// The byte format of shuffled elements, chosen by the runner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WireFormat {
    /// Compact binary ([postcard](https://docs.rs/postcard)): a `Vec<u8>` of image bytes is
    /// its length and the bytes. What a runner should use.
    #[default]
    Binary,
    /// JSON, for debugging and for runners that log what they move. A byte buffer becomes an
    /// array of numbers, about 3.5 bytes per byte.
    Json,
}

/// A shuffled element could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The element is not of the type the codec was built for (a runner bug).
    #[error("shuffle codec for {expected} was given an element of another type")]
    WrongType {
        /// The type the codec handles.
        expected: &'static str,
    },
    /// Serialisation failed.
    #[error("cannot encode {ty} as {format:?}: {message}")]
    Encode {
        /// The element type.
        ty: &'static str,
        /// The format asked for.
        format: WireFormat,
        /// The serialiser's message.
        message: String,
    },
    /// The bytes are not a valid element.
    #[error("cannot decode {ty} from {format:?}: {message}")]
    Decode {
        /// The element type.
        ty: &'static str,
        /// The format asked for.
        format: WireFormat,
        /// The deserialiser's message.
        message: String,
    },
}

/// Moves the elements of one input of a keyed step: `(K, V)` pairs.
pub trait ShuffleCodec: Send + Sync {
    /// Stable hash of the element's key ([`stable_hash`]): the worker owning it is
    /// `key_hash % workers`, the same on every process and run.
    fn key_hash(&self, element: &AnyBox) -> Result<u64, CodecError>;
    /// Appends the element's bytes to `buf`.
    fn encode(
        &self,
        element: &AnyBox,
        format: WireFormat,
        buf: &mut Vec<u8>,
    ) -> Result<(), CodecError>;
    /// The element back from [`ShuffleCodec::encode`]'s bytes.
    fn decode(&self, bytes: &[u8], format: WireFormat) -> Result<AnyBox, CodecError>;
}

/// The codec of `(K, V)` elements (serde: postcard or JSON).
pub(crate) struct KvCodec<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> KvCodec<K, V> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

fn typed<T: 'static>(element: &AnyBox) -> Result<&T, CodecError> {
    element.downcast_ref::<T>().ok_or(CodecError::WrongType {
        expected: std::any::type_name::<T>(),
    })
}

impl<K, V> ShuffleCodec for KvCodec<K, V>
where
    K: Elem + Hash + Serialize + DeserializeOwned,
    V: Elem + Serialize + DeserializeOwned,
{
    fn key_hash(&self, element: &AnyBox) -> Result<u64, CodecError> {
        typed::<(K, V)>(element).map(|(k, _)| stable_hash(k))
    }

    fn encode(
        &self,
        element: &AnyBox,
        format: WireFormat,
        buf: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let kv = typed::<(K, V)>(element)?;
        let err = |message: String| CodecError::Encode {
            ty: std::any::type_name::<(K, V)>(),
            format,
            message,
        };
        match format {
            WireFormat::Binary => {
                let bytes = postcard::to_allocvec(kv).map_err(|e| err(e.to_string()))?;
                buf.extend_from_slice(&bytes);
            }
            WireFormat::Json => serde_json::to_writer(buf, kv).map_err(|e| err(e.to_string()))?,
        }
        Ok(())
    }

    fn decode(&self, bytes: &[u8], format: WireFormat) -> Result<AnyBox, CodecError> {
        let err = |message: String| CodecError::Decode {
            ty: std::any::type_name::<(K, V)>(),
            format,
            message,
        };
        let kv: (K, V) = match format {
            WireFormat::Binary => postcard::from_bytes(bytes).map_err(|e| err(e.to_string()))?,
            WireFormat::Json => serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?,
        };
        Ok(Box::new(kv))
    }
}

/// The codec of a whole collection's elements (any `T: Serialize + DeserializeOwned`), set
/// with [`PCollection::with_coder`](crate::PCollection::with_coder) (Beam's `setCoder`). Its
/// [`key_hash`](ShuffleCodec::key_hash) is the [`stable_hash`] of the element's binary
/// encoding: such collections are never partitioned by key, only moved whole (to a
/// [`Placement::Single`](crate::runner::api::Placement::Single) step on another process).
///
/// Public so that an element type can be checked to round-trip: serde attributes that leave a
/// field out conditionally (`skip_serializing_if`) produce JSON that decodes but binary that
/// does not, since the binary format (postcard) is not self-describing.
pub struct ValueCodec<T>(PhantomData<fn() -> T>);

impl<T> ValueCodec<T> {
    /// The codec for `T`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for ValueCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> ShuffleCodec for ValueCodec<T>
where
    T: Elem + Serialize + DeserializeOwned,
{
    fn key_hash(&self, element: &AnyBox) -> Result<u64, CodecError> {
        let mut bytes = Vec::new();
        self.encode(element, WireFormat::Binary, &mut bytes)?;
        Ok(stable_hash(&bytes))
    }

    fn encode(
        &self,
        element: &AnyBox,
        format: WireFormat,
        buf: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let value = typed::<T>(element)?;
        let err = |message: String| CodecError::Encode {
            ty: std::any::type_name::<T>(),
            format,
            message,
        };
        match format {
            WireFormat::Binary => {
                let bytes = postcard::to_allocvec(value).map_err(|e| err(e.to_string()))?;
                buf.extend_from_slice(&bytes);
            }
            WireFormat::Json => {
                serde_json::to_writer(buf, value).map_err(|e| err(e.to_string()))?
            }
        }
        Ok(())
    }

    fn decode(&self, bytes: &[u8], format: WireFormat) -> Result<AnyBox, CodecError> {
        let err = |message: String| CodecError::Decode {
            ty: std::any::type_name::<T>(),
            format,
            message,
        };
        let value: T = match format {
            WireFormat::Binary => postcard::from_bytes(bytes).map_err(|e| err(e.to_string()))?,
            WireFormat::Json => serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?,
        };
        Ok(Box::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_formats_and_hashes_by_key_only() {
        let codec = KvCodec::<String, Vec<u8>>::new();
        let a: AnyBox = Box::new((String::from("img-7"), vec![1u8, 2, 3, 200]));
        let b: AnyBox = Box::new((String::from("img-7"), vec![9u8]));
        for format in [WireFormat::Binary, WireFormat::Json] {
            let mut bytes = Vec::new();
            codec.encode(&a, format, &mut bytes).unwrap();
            let back = codec.decode(&bytes, format).unwrap();
            assert_eq!(
                back.downcast_ref::<(String, Vec<u8>)>(),
                a.downcast_ref::<(String, Vec<u8>)>()
            );
        }
        assert_eq!(codec.key_hash(&a).unwrap(), codec.key_hash(&b).unwrap());
        let wrong: AnyBox = Box::new(5u8);
        assert!(codec
            .encode(&wrong, WireFormat::Binary, &mut Vec::new())
            .is_err());
        assert!(codec.decode(b"not json", WireFormat::Json).is_err());
    }

    #[test]
    fn binary_bytes_stay_bytes() {
        // An image must not travel as a JSON array of numbers: 10 kB of pixels encode to a
        // few bytes over 10 kB in the binary format.
        let codec = KvCodec::<String, Vec<u8>>::new();
        let pixels: AnyBox = Box::new((String::from("k"), vec![255u8; 10_000]));
        let mut bin = Vec::new();
        codec.encode(&pixels, WireFormat::Binary, &mut bin).unwrap();
        assert!(bin.len() < 10_010, "{} bytes", bin.len());
        let mut json = Vec::new();
        codec.encode(&pixels, WireFormat::Json, &mut json).unwrap();
        assert!(json.len() > 30_000);
    }

    #[test]
    fn value_codec_round_trips_whole_elements() {
        let codec = ValueCodec::<Vec<String>>::new();
        let v: AnyBox = Box::new(vec![String::from("a"), String::from("é")]);
        for format in [WireFormat::Binary, WireFormat::Json] {
            let mut bytes = Vec::new();
            codec.encode(&v, format, &mut bytes).unwrap();
            let back = codec.decode(&bytes, format).unwrap();
            assert_eq!(back.downcast_ref::<Vec<String>>(), v.downcast_ref());
        }
        let wrong: AnyBox = Box::new(1u8);
        assert!(codec.key_hash(&wrong).is_err());
    }
}
