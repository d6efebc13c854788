//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! `ort` is built in its `load-dynamic` mode: nothing is linked or downloaded at build time, and
//! the library is opened with `dlopen` when the first model loads. Where it comes from, first
//! match wins: the path given to [`crate::OnnxModelHandler::with_library`], the
//! `ORT_DYLIB_PATH` environment variable (the variable `ort` itself reads), or the system's
//! `libonnxruntime.so` / `onnxruntime.dll` / `libonnxruntime.dylib` on the loader's search path.
//! A failure is an [`OnnxError::Library`] that says how to install it, never a panic (`ort`
//! panics when left to load the library on its own, so this module always loads it first).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;

use crate::error::OnnxError;

/// The environment variable naming the library (shared with `ort`).
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// The process's ONNX Runtime environment (`ort` allows one per process).
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Where the library would be loaded from: `explicit`, else `ORT_DYLIB_PATH`, else the
/// platform's default library name (resolved by the system loader).
pub fn library_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    match std::env::var_os(DYLIB_ENV) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(format!(
            "{}onnxruntime{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        )),
    }
}

/// Loads the library (first call only) and returns the process's environment.
///
/// The first library loaded stays for the life of the process: a later call naming another
/// path gets the same runtime.
pub fn environment(explicit: Option<&Path>) -> Result<Environment, OnnxError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    let path = library_path(explicit);
    // A bare file name is left to the system loader's search path; a path must exist.
    if path.components().count() > 1 && !path.exists() {
        return Err(OnnxError::Library {
            path,
            reason: "the file does not exist".into(),
        });
    }
    let builder = ort::init_from(&path).map_err(|e| OnnxError::Library {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let env = builder
        .with_name("tandem")
        .build()
        .map_err(OnnxError::runtime("creating the environment"))?;
    *slot = Some(env.clone());
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins() {
        let p = Path::new("/opt/ort/libonnxruntime.so.1.31.1");
        assert_eq!(library_path(Some(p)), p);
    }
}
