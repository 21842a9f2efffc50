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
    /// Optimistic concurrency: the actor's state was committed by someone else since it
    /// was loaded.
    #[error("the actor's state moved: expected version {expected}, found {found}")]
    Conflict { expected: u64, found: u64 },
    #[error("the store is shutting down")]
    Closed,
}
