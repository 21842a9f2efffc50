//! The current actor's state. Writes are staged and committed when the turn succeeds.

use crate::Error;
use crate::bindings::warren::actor::state as raw;

/// The raw bytes stored under `key`.
pub fn get(key: &str) -> Option<Vec<u8>> {
    raw::get(key)
}

/// Stage `key` = `value`.
pub fn set(key: &str, value: &[u8]) {
    raw::set(key, value)
}

/// Stage the removal of `key`.
pub fn delete(key: &str) {
    raw::delete(key)
}

/// Every key that starts with `prefix`, sorted.
pub fn keys(prefix: &str) -> Vec<String> {
    raw::keys(prefix)
}

/// The JSON value stored under `key`, decoded.
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    raw::get(key)
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| {
                Error::Failed(format!("state key {key:?} is not the expected JSON: {e}"))
            })
        })
        .transpose()
}

/// Stage `key` = `value` encoded as JSON, so the Dapr state API reads it back as JSON.
pub fn set_json<T: serde::Serialize>(key: &str, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::Failed(format!("cannot encode state key {key:?}: {e}")))?;
    raw::set(key, &bytes);
    Ok(())
}
