//! Connected platforms: their cached `/info`, the token to call them with, and the
//! `/subscribe` websocket on their `/containers` that tells this platform to pull their
//! `/info` again (notify, then pull).

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::auth::Identity;
use super::model::{ConnectionRequest, ErrorResponse, Role, RuntimePlatform};
use super::outbound::endpoint;
use super::{OpacaError, Platform};

/// How long the token this platform gives a peer is valid (the reference's 7 days).
const PEER_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A connected platform.
pub struct Peer {
    /// Its base URL, without a trailing `/`.
    pub url: String,
    /// The token for calling it, if it needs one.
    pub token: Option<String>,
    /// The tenant whose requests it serves.
    pub tenant: String,
    /// The subject of the token this platform gave it (connect-back only).
    subject: String,
    info: RwLock<RuntimePlatform>,
    subscription: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Peer {
    /// Its latest `/info`.
    pub fn info(&self) -> RuntimePlatform {
        self.info.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(task) = self
            .subscription
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// Every connected platform.
#[derive(Default)]
pub struct Peers(RwLock<Vec<Arc<Peer>>>);

/// A base URL without a trailing slash; an error for anything but http(s).
fn normalize(url: &str) -> Result<String, OpacaError> {
    let trimmed = url.trim().trim_matches('"').trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(trimmed.to_string())
        }
        _ => Err(OpacaError::new(
            400,
            format!("{url:?} is not a platform URL"),
        )),
    }
}

impl Platform {
    /// The platforms connected for `identity`'s tenant.
    pub(super) fn peers_of(&self, identity: &Identity) -> Vec<Arc<Peer>> {
        self.0
            .peers
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|p| p.tenant == identity.tenant)
            .cloned()
            .collect()
    }

    fn peer(&self, tenant: &str, url: &str) -> Option<Arc<Peer>> {
        self.0
            .peers
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|p| p.url == url && p.tenant == tenant)
            .cloned()
    }

    /// The base URLs of the connected platforms.
    pub fn connections(&self, identity: &Identity) -> Vec<String> {
        self.peers_of(identity)
            .iter()
            .map(|p| p.url.clone())
            .collect()
    }

    async fn fetch_info(
        &self,
        tenant: &str,
        url: &str,
        token: Option<&str>,
    ) -> Result<RuntimePlatform, OpacaError> {
        let info = self
            .call::<()>(
                tenant,
                Method::GET,
                &format!("{url}/info"),
                None,
                token,
                None,
            )
            .await?;
        serde_json::from_value(info).map_err(|e| {
            OpacaError::downstream(
                format!("{url}/info is not a RuntimePlatform"),
                ErrorResponse {
                    status_code: 502,
                    message: e.to_string(),
                    cause: None,
                },
            )
        })
    }

    /// Connect to another platform (and, with `connectBack`, have it connect back):
    /// `false` if already connected or if the URL leads back to this platform.
    pub async fn connect(
        &self,
        identity: &Identity,
        request: ConnectionRequest,
    ) -> Result<bool, OpacaError> {
        let url = normalize(&request.url)?;
        let tenant = identity.tenant.as_str();
        if url == self.0.base_url || self.peer(tenant, &url).is_some() {
            return Ok(false);
        }
        let token = request.token.filter(|t| !t.is_empty());
        let info = self.fetch_info(tenant, &url, token.as_deref()).await?;
        if info.platform_id == self.0.platform_id {
            return Ok(false);
        }
        // Unique per tenant and peer, so two tenants' connections never share a token.
        let subject = format!("platform:{tenant}:{url}");
        if request.connect_back {
            let back = self
                .0
                .auth
                .delegate(&subject, identity, Role::Contributor, PEER_TOKEN_TTL);
            let body = ConnectionRequest {
                url: self.0.base_url.clone(),
                connect_back: false,
                token: self.0.config.require_auth.then_some(back),
            };
            let connections = endpoint(&url, &["connections"], &[] as &[(&str, &str)])?;
            let answer = self
                .call(
                    tenant,
                    Method::POST,
                    &connections,
                    Some(&body),
                    token.as_deref(),
                    None,
                )
                .await;
            if let Err(e) = answer {
                self.0.auth.revoke(&subject);
                return Err(e);
            }
        }
        let peer = Arc::new(Peer {
            url: url.clone(),
            token,
            tenant: tenant.to_string(),
            subject,
            info: RwLock::new(info),
            subscription: Mutex::new(None),
        });
        {
            // Check again under the lock: a concurrent connect may have won.
            let mut peers = self.0.peers.0.write().unwrap_or_else(|p| p.into_inner());
            if peers.iter().any(|p| p.url == url && p.tenant == tenant) {
                return Ok(false);
            }
            peers.push(peer.clone());
        }
        let task = tokio::spawn(follow(self.clone(), Arc::downgrade(&peer)));
        *peer.subscription.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        tracing::info!(peer = %url, %tenant, "connected to OPACA platform");
        Ok(true)
    }

    /// Disconnect from a platform (and, with `connectBack`, it from this one); `false` if
    /// it was not connected.
    pub async fn disconnect(
        &self,
        identity: &Identity,
        request: ConnectionRequest,
    ) -> Result<bool, OpacaError> {
        let url = normalize(&request.url)?;
        let Some(peer) = self.remove_peer(&identity.tenant, &url) else {
            return Ok(false);
        };
        if request.connect_back {
            let body = ConnectionRequest {
                url: self.0.base_url.clone(),
                connect_back: false,
                token: None,
            };
            let connections = endpoint(&url, &["connections"], &[] as &[(&str, &str)])?;
            if let Err(e) = self
                .call(
                    &identity.tenant,
                    Method::DELETE,
                    &connections,
                    Some(&body),
                    peer.token.as_deref(),
                    None,
                )
                .await
            {
                tracing::warn!(peer = %url, error = %e, "the peer did not disconnect back");
            }
        }
        Ok(true)
    }

    fn remove_peer(&self, tenant: &str, url: &str) -> Option<Arc<Peer>> {
        let mut peers = self.0.peers.0.write().unwrap_or_else(|p| p.into_inner());
        let index = peers
            .iter()
            .position(|p| p.url == url && p.tenant == tenant)?;
        let peer = peers.remove(index);
        self.0.auth.revoke(&peer.subject);
        Some(peer)
    }

    /// Pull a peer of `tenant` again: `false`, and the peer dropped, if it does not
    /// answer.
    pub async fn refresh_peer(&self, tenant: &str, url: &str) -> Result<bool, OpacaError> {
        let url = normalize(url)?;
        let peer = self
            .peer(tenant, &url)
            .ok_or_else(|| OpacaError::new(404, format!("not connected to {url}")))?;
        match self.fetch_info(tenant, &url, peer.token.as_deref()).await {
            Ok(info) => {
                *peer.info.write().unwrap_or_else(|p| p.into_inner()) = info;
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(peer = %url, error = %e, "peer no longer answers; disconnected");
                self.remove_peer(tenant, &url);
                Ok(false)
            }
        }
    }
}

/// Follow a peer's `/subscribe` feed on `/containers`, pulling its `/info` on every event,
/// reconnecting after a drop, until the peer is disconnected.
async fn follow(platform: Platform, peer: std::sync::Weak<Peer>) {
    loop {
        let Some(current) = peer.upgrade() else {
            return;
        };
        let (url, tenant, token) = (
            current.url.clone(),
            current.tenant.clone(),
            current.token.clone(),
        );
        drop(current);
        if let Err(e) = subscribe(&platform, &tenant, &url, token.as_deref()).await {
            tracing::debug!(peer = %url, error = %e, "subscription to peer ended");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn subscribe(
    platform: &Platform,
    tenant: &str,
    url: &str,
    token: Option<&str>,
) -> Result<(), String> {
    let ws_url = format!("ws{}/subscribe", url.strip_prefix("http").unwrap_or(url));
    let mut request = ws_url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
        request.headers_mut().insert("authorization", value);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    socket
        .send("/containers".into())
        .await
        .map_err(|e| e.to_string())?;
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| e.to_string())?;
        if message.is_text() {
            platform
                .refresh_peer(tenant, url)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
