//! Keyed helpers: `with_keys`, `keys`, `values`.

use crate::element::Elem;
use crate::pcollection::{Applied, PCollection};

impl<T: Elem> PCollection<T> {
    /// Pairs each element with the key `key_of` computes: `x` becomes `(key_of(&x), x)`.
    pub fn with_keys<K: Elem, F>(&self, name: impl Into<String>, key_of: F) -> Applied<T, (K, T)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.map(name, move |x| (key_of(&x), x))
    }
}

impl<K: Elem, V: Elem> PCollection<(K, V)> {
    /// The keys of a keyed collection.
    pub fn keys(&self, name: impl Into<String>) -> Applied<(K, V), K> {
        self.map(name, |(k, _)| k)
    }

    /// The values of a keyed collection.
    pub fn values(&self, name: impl Into<String>) -> Applied<(K, V), V> {
        self.map(name, |(_, v)| v)
    }
}
