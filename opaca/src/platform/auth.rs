//! OPACA's users and tokens: HS256 JWTs whose subject is a user, a container or a
//! connected platform; the platform admin from the host's settings; users stored durably
//! with BCrypt password hashes; each user acts in one Warren tenant.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use warren_wire::tokens::{self, Claims};

use super::model::{Role, User};
use crate::runtime::{DEFAULT_TENANT, Runtime};

/// The record area users are stored in.
const USERS: &str = "opaca-users";
/// BCrypt cost: tens of milliseconds per hash on a small machine, run off the async
/// workers.
const BCRYPT_COST: u32 = 10;

/// Who a request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's subject: a username, a container id or a platform's subject.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The Warren tenant it acts in.
    pub tenant: String,
    /// For a container or platform token: the user it acts for.
    pub owner: String,
    /// The configured platform admin: the one identity that reaches every tenant.
    pub global: bool,
}

impl Identity {
    /// Whether this identity has at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// Why a login or user change failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The user is unknown or the password does not match (one answer for both, so a
    /// login does not tell which).
    #[error("wrong username or password")]
    BadCredentials,
    /// A user of this name, or the platform admin, already exists.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// No user of this name.
    #[error("user {0:?} does not exist")]
    NoUser(String),
    /// The request cannot be done as asked: why, for the caller.
    #[error("{0}")]
    Invalid(String),
    /// The user records could not be read or written.
    #[error("storing users failed: {0}")]
    Store(String),
    /// BCrypt failed, or its task did not finish.
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// A change to a user: absent fields keep their values.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    /// A new password (`password`); an empty one keeps the old.
    #[serde(default)]
    pub password: Option<String>,
    /// A new role (`role`).
    #[serde(default)]
    pub role: Option<Role>,
    /// New privileges (`privileges`), replacing the old list.
    #[serde(default)]
    pub privileges: Option<Vec<String>>,
    /// The Warren tenant to move the user to (`tenant`, Warren's own field).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A container's or platform's token subject: the user it acts for, and its role cap.
#[derive(Clone, Debug)]
struct Delegate {
    owner: String,
    cap: Role,
}

/// A stored user: the public part plus the password hash.
#[derive(Clone, Serialize, Deserialize)]
struct StoredUser {
    user: User,
    hash: String,
}

/// Tokens and users of the platform.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    admin: (String, String),
    /// Containers' and platforms' subjects, which live as long as the process.
    delegates: RwLock<HashMap<String, Delegate>>,
    /// A hash to check unknown users' passwords against, so a login takes as long
    /// whether or not the user exists.
    dummy_hash: Arc<OnceLock<String>>,
    runtime: Runtime,
}

fn now_secs() -> u64 {
    crate::runtime::unix_now()
}

impl Auth {
    /// Tokens signed with `secret`; `admin` is the platform admin's (user, password).
    pub fn new(runtime: Runtime, secret: &[u8], admin: (String, String)) -> Self {
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            admin,
            delegates: RwLock::new(HashMap::new()),
            dummy_hash: Arc::default(),
            runtime,
        }
    }

    /// The platform admin's identity (also who acts when auth is off).
    pub fn admin(&self) -> Identity {
        Identity {
            name: self.admin.0.clone(),
            role: Role::Admin,
            tenant: DEFAULT_TENANT.to_string(),
            owner: self.admin.0.clone(),
            global: true,
        }
    }

    /// A token for `subject`, valid for `ttl`.
    pub fn issue(&self, subject: &str, ttl: Duration) -> String {
        let claims = Claims {
            sub: subject.to_string(),
            exp: now_secs() + ttl.as_secs(),
        };
        tokens::sign(&claims, &self.encoding)
    }

    /// A token for a container or platform that acts for `identity`'s user, with at most
    /// `role`. Its rights follow the user's: a demoted or deleted user's delegates lose
    /// them too.
    pub fn delegate(
        &self,
        subject: &str,
        identity: &Identity,
        role: Role,
        ttl: Duration,
    ) -> String {
        let delegate = Delegate {
            owner: identity.owner.clone(),
            cap: role,
        };
        self.delegates
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(subject.to_string(), delegate);
        self.issue(subject, ttl)
    }

    /// Forget a container's or platform's token subject.
    pub fn revoke(&self, subject: &str) {
        self.delegates
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
    }

    /// Who a token names, if it is valid and its subject still exists.
    pub async fn verify(&self, token: &str) -> Option<Identity> {
        let subject = tokens::verify(token, &self.decoding)?.sub;
        let delegate = self
            .delegates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&subject)
            .cloned();
        if let Some(delegate) = delegate {
            let owner = self.user_identity(&delegate.owner).await?;
            return Some(Identity {
                name: subject,
                role: delegate.cap.min(owner.role),
                tenant: owner.tenant,
                owner: owner.owner,
                global: false,
            });
        }
        self.user_identity(&subject).await
    }

    /// The current identity of user `username` (the platform admin included); `None` when
    /// no such user exists (any more).
    pub async fn user_identity(&self, username: &str) -> Option<Identity> {
        if username == self.admin.0 {
            return Some(self.admin());
        }
        self.stored(username)
            .await
            .ok()
            .flatten()
            .map(|s| identity(&s.user))
    }

    /// Check credentials; the identity they name.
    pub async fn login(&self, username: &str, password: &str) -> Result<Identity, AuthError> {
        if username == self.admin.0 {
            return if password == self.admin.1 {
                Ok(self.admin())
            } else {
                Err(AuthError::BadCredentials)
            };
        }
        let stored = self.stored(username).await?;
        let hash = stored.as_ref().map(|s| s.hash.clone());
        let dummy = self.dummy_hash.clone();
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || {
            let hash = hash.unwrap_or_else(|| {
                dummy
                    .get_or_init(|| {
                        bcrypt::hash(uuid::Uuid::new_v4().to_string(), BCRYPT_COST)
                            .unwrap_or_default()
                    })
                    .clone()
            });
            bcrypt::verify(password, &hash)
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .unwrap_or(false);
        match stored {
            Some(stored) if matches => Ok(identity(&stored.user)),
            _ => Err(AuthError::BadCredentials),
        }
    }

    async fn stored(&self, username: &str) -> Result<Option<StoredUser>, AuthError> {
        let Some(bytes) = self
            .runtime
            .record(USERS, username)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AuthError::Store(format!("user {username:?} is unreadable: {e}")))
    }

    /// The platform admin as a user.
    fn admin_user(&self) -> User {
        User {
            username: self.admin.0.clone(),
            password: None,
            role: Role::Admin,
            privileges: Vec::new(),
            tenant: Some(DEFAULT_TENANT.to_string()),
        }
    }

    /// Every user, the platform admin first.
    pub async fn users(&self) -> Result<Vec<User>, AuthError> {
        let records = self
            .runtime
            .records(USERS)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        let stored = records
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice::<StoredUser>(&bytes).ok())
            .map(|s| s.user);
        Ok(std::iter::once(self.admin_user()).chain(stored).collect())
    }

    /// One user.
    pub async fn user(&self, username: &str) -> Result<User, AuthError> {
        if username == self.admin.0 {
            return Ok(self.admin_user());
        }
        self.stored(username)
            .await?
            .map(|s| s.user)
            .ok_or_else(|| AuthError::NoUser(username.to_string()))
    }

    /// Create a user (in tenant `default` unless it names one).
    pub async fn create(&self, user: User) -> Result<User, AuthError> {
        if user.username.is_empty() {
            return Err(AuthError::Invalid("a user needs a username".into()));
        }
        if user.username == self.admin.0 || self.stored(&user.username).await?.is_some() {
            return Err(AuthError::Exists(user.username));
        }
        let password = user
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AuthError::Invalid("a user needs a password".into()))?;
        self.save(user, &password).await
    }

    /// Change a user; absent fields keep their values.
    pub async fn update(&self, username: &str, update: UserUpdate) -> Result<User, AuthError> {
        if username == self.admin.0 {
            return Err(AuthError::Invalid(
                "the platform admin is set by the host's settings".into(),
            ));
        }
        let old = self
            .stored(username)
            .await?
            .ok_or_else(|| AuthError::NoUser(username.to_string()))?;
        let mut user = old.user;
        if let Some(role) = update.role {
            user.role = role;
        }
        if let Some(privileges) = update.privileges {
            user.privileges = privileges;
        }
        if let Some(tenant) = update.tenant {
            user.tenant = Some(tenant);
        }
        match update.password.filter(|p| !p.is_empty()) {
            Some(password) => self.save(user, &password).await,
            None => {
                self.put(StoredUser {
                    user,
                    hash: old.hash,
                })
                .await
            }
        }
    }

    /// Delete a user; whether it existed.
    pub async fn delete(&self, username: &str) -> Result<bool, AuthError> {
        if username == self.admin.0 {
            return Err(AuthError::Invalid(
                "the platform admin is set by the host's settings".into(),
            ));
        }
        if self.stored(username).await?.is_none() {
            return Ok(false);
        }
        self.runtime
            .put_record(USERS, username, None)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        Ok(true)
    }

    async fn save(&self, mut user: User, password: &str) -> Result<User, AuthError> {
        user.tenant
            .get_or_insert_with(|| DEFAULT_TENANT.to_string());
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        user.password = None;
        self.put(StoredUser { user, hash }).await
    }

    async fn put(&self, stored: StoredUser) -> Result<User, AuthError> {
        let bytes = serde_json::to_vec(&stored).map_err(|e| AuthError::Store(e.to_string()))?;
        self.runtime
            .put_record(USERS, &stored.user.username, Some(bytes))
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?;
        Ok(stored.user)
    }
}

fn identity(user: &User) -> Identity {
    Identity {
        name: user.username.clone(),
        role: user.role,
        tenant: user
            .tenant
            .clone()
            .unwrap_or_else(|| DEFAULT_TENANT.to_string()),
        owner: user.username.clone(),
        global: false,
    }
}
