//! What every store call answers: a failure, a conditional insert, a compare-and-set.

/// A store failure. Never carries secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused (throttling, network); retrying is safe.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Result of a conditional insert.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted<T> {
    /// Written.
    Inserted,
    /// Already present; the stored item.
    Exists(T),
}

/// Result of a compare-and-set on a fence token.
#[derive(Debug, Clone, PartialEq)]
pub enum CasOutcome<T> {
    Written,
    /// The fence did not match (someone else holds the item now); the current item if any.
    Lost(Option<T>),
}
