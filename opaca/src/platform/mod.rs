//! Warren as an OPACA runtime platform: agent containers (Wasm components or child
//! processes), their agents and actions, users and tokens, the event history, and
//! connected platforms. The HTTP routes are the crate root's ([`crate::router`]); Wasm
//! agents' turns go through the runtime core like every other protocol's.

pub mod api_docs;
pub mod auth;
mod containers;
pub mod history;
pub use warren_wire::opaca::model;
mod outbound;
mod peers;
mod process;
mod routing;
pub use warren_wire::opaca::validate;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub use containers::{Container, ContainerKind};
pub use routing::{Recipient, Target};

use self::auth::Auth;
use self::history::History;
use self::model::ErrorResponse;
use crate::runtime::{Follower, Runtime};

/// Settings of the OPACA platform.
#[derive(Clone, Debug, Default)]
pub struct OpacaConfig {
    /// The base URL the platform gives containers and peers; by default its listener's.
    pub public_url: Option<String>,
    /// Require a token on every route but `/login` (OPACA's `REQUIRE_AUTH`).
    pub require_auth: bool,
    /// The platform admin's username.
    pub admin_user: String,
    /// The platform admin's password.
    pub admin_password: String,
    /// The JWT signing secret; random per start when absent.
    pub secret: Option<String>,
    /// Images run as processes: image name → command.
    pub images: BTreeMap<String, String>,
    /// Process containers that may run at once, across tenants.
    pub max_processes: usize,
    /// Origins granted CORS on the OPACA API; none by default.
    pub cors_origins: Vec<String>,
    /// Cluster mode: the hosts form one platform, so Wasm containers are kept in the
    /// shared store, followed by every host, and outlive the host that started them.
    pub shared: bool,
}

/// A failed OPACA request: its status, message and the downstream error behind it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OpacaError {
    /// The HTTP status to answer with.
    pub status: u16,
    /// What went wrong, for the caller.
    pub message: String,
    /// The answer of the container or platform that failed, if one did.
    pub cause: Option<ErrorResponse>,
}

impl OpacaError {
    /// An error with no downstream cause.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        OpacaError {
            status,
            message: message.into(),
            cause: None,
        }
    }

    /// 502: a container or platform failed, with its answer as the cause.
    pub fn downstream(message: impl Into<String>, cause: ErrorResponse) -> Self {
        OpacaError {
            status: 502,
            message: message.into(),
            cause: Some(cause),
        }
    }

    /// The wire form.
    pub fn response(&self) -> ErrorResponse {
        ErrorResponse {
            status_code: self.status,
            message: self.message.clone(),
            cause: self.cause.clone().map(Box::new),
        }
    }
}

/// The platform. Cheap to clone.
#[derive(Clone)]
pub struct Platform(Arc<Inner>);

struct Inner {
    runtime: Runtime,
    config: OpacaConfig,
    base_url: String,
    platform_id: String,
    running_since: String,
    containers: RwLock<Vec<Arc<Container>>>,
    auth: Auth,
    history: History,
    peers: peers::Peers,
    client: reqwest::Client,
    /// Follows the Wasm containers other hosts start and stop (cluster mode).
    follower: Arc<containers::ContainerFollower>,
}

/// A [`Platform`] that may be gone.
#[derive(Clone)]
pub struct WeakPlatform(std::sync::Weak<Inner>);

impl WeakPlatform {
    /// The platform, while it runs.
    pub fn upgrade(&self) -> Option<Platform> {
        self.0.upgrade().map(Platform)
    }
}

/// OPACA's date format, in UTC.
pub fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Platform {
    /// A platform reachable at `base_url`, running its containers on `runtime`.
    pub fn new(runtime: Runtime, config: OpacaConfig, base_url: String) -> Self {
        let secret = config
            .secret
            .clone()
            .map(String::into_bytes)
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_bytes().repeat(2));
        let auth = Auth::new(
            runtime.clone(),
            &secret,
            (config.admin_user.clone(), config.admin_password.clone()),
        );
        let shared = config.shared;
        let inner = Arc::new_cyclic(|weak| Inner {
            base_url: config.public_url.clone().unwrap_or(base_url),
            runtime,
            config,
            platform_id: uuid::Uuid::new_v4().to_string(),
            running_since: timestamp(),
            containers: RwLock::new(Vec::new()),
            auth,
            history: History::default(),
            peers: peers::Peers::default(),
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            follower: Arc::new(containers::ContainerFollower(WeakPlatform(weak.clone()))),
        });
        if shared {
            let follower: Arc<dyn Follower> = inner.follower.clone();
            inner.runtime.add_follower(Arc::downgrade(&follower));
        }
        Platform(inner)
    }

    /// A handle that does not keep the platform alive (for the runtime, which the platform
    /// itself holds).
    pub fn downgrade(&self) -> WeakPlatform {
        WeakPlatform(Arc::downgrade(&self.0))
    }

    /// Users and tokens.
    pub fn auth(&self) -> &Auth {
        &self.0.auth
    }

    /// The event history.
    pub fn history(&self) -> &History {
        &self.0.history
    }

    /// The platform's settings.
    pub fn config(&self) -> &OpacaConfig {
        &self.0.config
    }

    /// `/info`: the platform as `identity` sees it.
    pub fn info(&self, identity: &auth::Identity) -> model::RuntimePlatform {
        model::RuntimePlatform {
            platform_id: self.0.platform_id.clone(),
            base_url: self.0.base_url.clone(),
            containers: self.containers(identity).iter().map(|c| c.info()).collect(),
            provides: self.provides(identity),
            connections: self.connections(identity),
            running_since: Some(self.0.running_since.clone()),
        }
    }

    /// `/config`: the platform's settings as OPACA reports them.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "publicUrl": self.0.base_url,
            "requireAuth": self.0.config.require_auth,
            "containerEnvironment": "WARREN",
            "platformEnvironment": "WARREN",
            "sessionPolicy": "SHUTDOWN",
            "eventHistorySize": history::HISTORY_SIZE,
            "images": self.0.config.images.keys().collect::<Vec<_>>(),
        })
    }
}
