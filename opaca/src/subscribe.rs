//! `/subscribe`: a websocket whose client names a route (its first text frame, e.g.
//! `/containers`) and then receives every successful call of that route as a JSON event.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use super::platform::Platform;
use super::platform::auth::Identity;
use super::platform::model::Event;

/// How often the server pings (the reference's 10 s).
const PING_EVERY: Duration = Duration::from_secs(10);

/// `GET /subscribe`: upgrade to the websocket of successful calls.
pub async fn subscribe(
    State(platform): State<Platform>,
    Extension(who): Extension<Identity>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade.on_upgrade(move |socket| follow(platform, who, socket))
}

/// Whether `event`'s route begins with the subscribed path segment.
fn matches(event: &Event, topic: &str) -> bool {
    let topic = topic.trim().trim_end_matches('/');
    event
        .route
        .as_deref()
        .and_then(|route| route.split_whitespace().nth(1))
        .is_some_and(|path| path == topic || path.starts_with(&format!("{topic}/")))
}

async fn follow(platform: Platform, who: Identity, mut socket: WebSocket) {
    let topic = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => break text.to_string(),
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let mut events = platform.history().subscribe();
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                // A tenant sees its own calls; the platform admin sees all.
                let mine = who.global || event.tenant == who.tenant;
                if !mine || !matches(&event.event, &topic) {
                    continue;
                }
                let Ok(text) = serde_json::to_string(&event.event) else { continue };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                if !matches!(incoming, Some(Ok(_))) {
                    return;
                }
            }
        }
    }
}
