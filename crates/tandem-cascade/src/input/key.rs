//! Keys for inputs: the path or URL exactly as given, losslessly, even when a file name is not
//! UTF-8.
//!
//! The key is what results are joined on, resumed by and written to JSON Lines, so it must be
//! a `String` and two different files must never share one. A path that is valid UTF-8 is its
//! own key, unchanged. A path that is not (Linux allows any bytes but `/` and NUL in a name)
//! gets an escaped key: each byte that is not part of valid UTF-8 becomes `\xNN` (two upper-case
//! hex digits) and each backslash of the valid parts is doubled, so the escaping can be undone
//! ([`path_from_key`]) and distinct byte strings give distinct escaped keys. The only possible
//! clash, a UTF-8 name that literally spells another name's escape, is caught when inputs are
//! expanded (the later input becomes a dead letter naming the earlier one).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The key of `path`: its text if it is UTF-8, otherwise the escaped form described in the
/// module documentation.
pub fn path_key(path: &Path) -> String {
    os_key(path.as_os_str())
}

/// [`path_key`] for any OS string (an argument, a line of an `@list` file).
pub fn os_key(s: &OsStr) -> String {
    if let Some(text) = s.to_str() {
        return text.to_string();
    }
    let mut key = String::new();
    for chunk in s.as_encoded_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                key.push('\\');
            }
            key.push(c);
        }
        for b in chunk.invalid() {
            key.push_str(&format!("\\x{b:02X}"));
        }
    }
    key
}

/// Undoes the escaping of [`os_key`]: the bytes of an escaped key, or `None` if `key` contains
/// no valid escape (then it is a UTF-8 path as written).
pub fn unescape_key(key: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(key.len());
    let mut escaped = false;
    let bytes = key.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            match bytes.get(i + 1) {
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                Some(b'x') => {
                    let hex = key.get(i + 2..i + 4)?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    escaped = true;
                    i += 4;
                    continue;
                }
                _ => return None,
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    escaped.then_some(out)
}

/// The file a key names: the key itself if such a path exists, else the unescaped bytes of an
/// escaped key (Unix only; elsewhere file names are always valid UTF-16 and keys are exact).
pub fn path_from_key(key: &str) -> PathBuf {
    let literal = PathBuf::from(key);
    if std::fs::symlink_metadata(&literal).is_ok() {
        return literal;
    }
    #[cfg(unix)]
    if let Some(bytes) = unescape_key(key) {
        use std::os::unix::ffi::OsStringExt;
        return PathBuf::from(OsString::from_vec(bytes));
    }
    literal
}

/// `OsString` from raw bytes (a line of an `@list` file or of stdin): exact on Unix, where a
/// path is bytes; elsewhere the bytes must be UTF-8 and invalid sequences are replaced.
pub fn os_from_bytes(bytes: Vec<u8>) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(bytes)
    }
    #[cfg(not(unix))]
    {
        OsString::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Serde for a path that may not be UTF-8: its bytes (Unix) or its text (elsewhere), so the
/// wire form of an input (a runner's shuffle) loses nothing.
pub mod serde_path {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(path.as_os_str().as_encoded_bytes())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        let bytes: Vec<u8> = serde_bytes_compat::deserialize(d)?;
        #[cfg(unix)]
        {
            Ok(PathBuf::from(os_from_bytes(bytes)))
        }
        #[cfg(not(unix))]
        {
            String::from_utf8(bytes)
                .map(PathBuf::from)
                .map_err(serde::de::Error::custom)
        }
    }

    /// Accepts both a byte string and a sequence of numbers (JSON has no byte strings).
    mod serde_bytes_compat {
        use super::*;
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("the bytes of a path")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                    Ok(v)
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                    Ok(v.as_bytes().to_vec())
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Vec<u8>, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(out)
                }
            }
            d.deserialize_bytes(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_paths_are_their_own_keys() {
        assert_eq!(path_key(Path::new("photos/été.jpg")), "photos/été.jpg");
        assert_eq!(path_key(Path::new(r"a\b.jpg")), r"a\b.jpg");
        assert_eq!(unescape_key("photos/été.jpg"), None);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_get_distinct_reversible_keys() {
        use std::os::unix::ffi::OsStrExt;
        let names: [&[u8]; 5] = [
            b"caf\xe9.jpg",
            b"caf\xe8.jpg",
            b"caf\xc3.jpg",
            b"a\\\xff.jpg",
            b"\xff\xfe",
        ];
        let keys: Vec<String> = names.iter().map(|n| os_key(OsStr::from_bytes(n))).collect();
        assert_eq!(keys[0], r"caf\xE9.jpg");
        assert_eq!(keys[3], r"a\\\xFF.jpg");
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        for (name, key) in names.iter().zip(&keys) {
            assert_eq!(unescape_key(key).as_deref(), Some(*name), "{key}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn paths_survive_the_wire_format() {
        use std::os::unix::ffi::OsStrExt;
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct W(#[serde(with = "serde_path")] PathBuf);
        let p = W(PathBuf::from(OsStr::from_bytes(b"dir/caf\xe9.jpg")));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<W>(&json).unwrap(), p);
    }
}
