//! How elements cross a shuffle (group, co-group, combine) on a distributed runner.
//!
//! The local runner groups in memory and never serialises; a runner that moves elements
//! between machines uses each shuffle step's codec to route an element by its key hash and to
//! turn it into bytes and back. This is why shuffled keys and values must be
//! `Serialize + DeserializeOwned` while nothing else must.

use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::element::{AnyBox, Elem};
use crate::hash::stable_hash;

/// Moves the elements of one shuffle input.
#[allow(dead_code)] // driven by distributed runners; the local runner groups in memory
pub(crate) trait ShuffleCodec: Send + Sync {
    /// Stable hash of the element's key: which worker owns the key.
    fn key_hash(&self, element: &AnyBox) -> Result<u64, String>;
    /// The element as bytes.
    fn encode(&self, element: &AnyBox) -> Result<Vec<u8>, String>;
    /// The element back from [`ShuffleCodec::encode`]'s bytes.
    fn decode(&self, bytes: &[u8]) -> Result<AnyBox, String>;
}

/// JSON codec for `(K, V)` elements.
pub(crate) struct JsonKvCodec<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> JsonKvCodec<K, V> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

fn typed<T: 'static>(element: &AnyBox) -> Result<&T, String> {
    element
        .downcast_ref::<T>()
        .ok_or_else(|| format!("shuffle codec expected {}", std::any::type_name::<T>()))
}

impl<K, V> ShuffleCodec for JsonKvCodec<K, V>
where
    K: Elem + Hash + Serialize + DeserializeOwned,
    V: Elem + Serialize + DeserializeOwned,
{
    fn key_hash(&self, element: &AnyBox) -> Result<u64, String> {
        typed::<(K, V)>(element).map(|(k, _)| stable_hash(k))
    }

    fn encode(&self, element: &AnyBox) -> Result<Vec<u8>, String> {
        serde_json::to_vec(typed::<(K, V)>(element)?).map_err(|e| e.to_string())
    }

    fn decode(&self, bytes: &[u8]) -> Result<AnyBox, String> {
        serde_json::from_slice::<(K, V)>(bytes)
            .map(|kv| Box::new(kv) as AnyBox)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hashes_by_key_only() {
        let codec = JsonKvCodec::<String, Vec<u32>>::new();
        let a: AnyBox = Box::new((String::from("img-7"), vec![1u32, 2, 3]));
        let b: AnyBox = Box::new((String::from("img-7"), vec![9u32]));
        let bytes = codec.encode(&a).unwrap();
        let back = codec.decode(&bytes).unwrap();
        assert_eq!(
            back.downcast_ref::<(String, Vec<u32>)>(),
            a.downcast_ref::<(String, Vec<u32>)>()
        );
        assert_eq!(codec.key_hash(&a).unwrap(), codec.key_hash(&b).unwrap());
        let wrong: AnyBox = Box::new(5u8);
        assert!(codec.encode(&wrong).is_err());
        assert!(codec.decode(b"not json").is_err());
    }
}
