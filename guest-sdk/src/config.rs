//! The component's configuration values and secrets, set on the host with
//! `warren config set COMPONENT KEY VALUE` and read through `wasi:config/store`. A change
//! is seen by the next turn.

use crate::Error;
use crate::bindings::wasi::config::store;

/// The value under `key`, or `None` when it is not set.
pub fn get(key: &str) -> Result<Option<String>, Error> {
    store::get(key).map_err(failed)
}

/// Every key and value set for the component.
pub fn all() -> Result<Vec<(String, String)>, Error> {
    store::get_all().map_err(failed)
}

/// The value under `key`, or an error naming the missing key.
pub fn require(key: &str) -> Result<String, Error> {
    get(key)?.ok_or_else(|| Error::Failed(format!("configuration value {key:?} is not set")))
}

fn failed(e: store::Error) -> Error {
    let why = match e {
        store::Error::Upstream(why) | store::Error::Io(why) => why,
    };
    Error::Failed(format!("cannot read the configuration: {why}"))
}
