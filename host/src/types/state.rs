//! What a state change is, and how storage fails.

/// One staged change to an actor's state: `Some` writes the value, `None` deletes the key.
pub type StateChange = (String, Option<Vec<u8>>);

/// Errors of the storage layer.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    #[error(
        "an earlier commit failed half-way; writes are refused until Warren restarts and finishes it"
    )]
    Halted,
}
