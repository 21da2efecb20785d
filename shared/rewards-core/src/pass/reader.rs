//! The data tunnel: a user's passes read back, by an operator or by that user's own mini-program
//! session. Store only: reading needs no Alipay key.

use std::sync::Arc;

use super::record::PassRecord;
use crate::error::{domain_error, ErrorKind};
use crate::ids::{IdError, PassId, UserId};
use crate::ports::store::StoreError;
use crate::ports::stores::PassStore;

/// The `channelDataPull` key of a user's passes is this prefix and the user id (what existing
/// mini-programs ask for).
pub const CHANNEL_KEY_PREFIX: &str = "channelData_alipayPass_fetch_";

/// Why a read is refused.
#[derive(Debug, thiserror::Error)]
pub enum PassReadError {
    #[error("{0}")]
    InvalidUserId(IdError),
    #[error("{0}")]
    InvalidPassId(IdError),
    /// Not a `channelDataPull` key of a user's passes.
    #[error("key must be {CHANNEL_KEY_PREFIX}<userId>")]
    InvalidChannelKey,
    /// A session asked for another user's passes.
    #[error("a session may read only its own passes")]
    ForbiddenUser,
    #[error("no such pass")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

domain_error!(
    PassReadError {
        PassReadError::InvalidUserId(_) => "invalid_user_id", ErrorKind::BadInput;
        PassReadError::InvalidPassId(_) => "invalid_pass_id", ErrorKind::BadInput;
        PassReadError::InvalidChannelKey => "invalid_channel_key", ErrorKind::BadInput;
        PassReadError::ForbiddenUser => "forbidden_user", ErrorKind::Forbidden;
        PassReadError::NotFound => "pass_not_found", ErrorKind::NotFound;
    }
    store: Store;
);

/// The user a `channelDataPull` key names (`channelData_alipayPass_fetch_<userId>`), unchecked.
pub fn channel_key_user(key: &str) -> Option<&str> {
    key.strip_prefix(CHANNEL_KEY_PREFIX)
}

/// Reads passes for a caller. `session_user` is the user of the mini-program session the request
/// came with (the authorizer's), `None` for an operator.
pub struct PassReader {
    pub store: Arc<dyn PassStore>,
}

impl PassReader {
    /// The most passes one read returns (newest first).
    pub const LIMIT: usize = 100;

    /// `user`'s passes, newest first. A session may read only its own user's (the authorizer
    /// checked as much; this is the second lock).
    ///
    /// # Errors
    /// [`PassReadError`].
    pub async fn for_user(
        &self,
        user: &str,
        session_user: Option<&str>,
    ) -> Result<(UserId, Vec<PassRecord>), PassReadError> {
        let user = UserId::parse(user).map_err(PassReadError::InvalidUserId)?;
        if session_user.is_some_and(|caller| caller != user.as_str()) {
            return Err(PassReadError::ForbiddenUser);
        }
        let passes = self.store.list_user_passes(&user, Self::LIMIT).await?;
        Ok((user, passes))
    }

    /// The passes of the user a `channelDataPull` key names, as [`PassReader::for_user`].
    ///
    /// # Errors
    /// [`PassReadError`].
    pub async fn for_channel_key(
        &self,
        key: &str,
        session_user: Option<&str>,
    ) -> Result<(UserId, Vec<PassRecord>), PassReadError> {
        let user = channel_key_user(key).ok_or(PassReadError::InvalidChannelKey)?;
        self.for_user(user, session_user).await
    }

    /// One pass by id.
    ///
    /// # Errors
    /// [`PassReadError`].
    pub async fn get(&self, id: &str) -> Result<PassRecord, PassReadError> {
        let id = PassId::parse(id).map_err(PassReadError::InvalidPassId)?;
        self.store
            .get_pass(&id)
            .await?
            .ok_or(PassReadError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DomainError;
    use crate::testkit::World;

    const USER: &str = "2088000000000001";

    fn code<T>(r: Result<T, PassReadError>) -> &'static str {
        r.err().map_or("ok", |e| e.code())
    }

    #[tokio::test]
    async fn a_session_reads_only_its_own_users_passes() {
        let reader = PassReader {
            store: World::new().store,
        };
        let key = format!("{CHANNEL_KEY_PREFIX}{USER}");
        assert_eq!(code(reader.for_user(USER, Some(USER)).await), "ok");
        assert_eq!(code(reader.for_user(USER, None).await), "ok");
        assert_eq!(code(reader.for_channel_key(&key, Some(USER)).await), "ok");
        let other = Some("2088000000000002");
        assert_eq!(code(reader.for_user(USER, other).await), "forbidden_user");
        assert_eq!(
            code(reader.for_channel_key(&key, other).await),
            "forbidden_user"
        );
        assert_eq!(code(reader.for_user("x", None).await), "invalid_user_id");
        assert_eq!(
            code(reader.for_channel_key(USER, None).await),
            "invalid_channel_key"
        );
        assert_eq!(code(reader.get("a#b").await), "invalid_pass_id");
        assert_eq!(code(reader.get("p1").await), "pass_not_found");
    }
}
