//! The event history (`/history`) and the feed of successful calls that `/subscribe`
//! websockets follow.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::model::{Event, EventType};

/// How many events `/history` keeps (the reference's `EVENT_HISTORY_SIZE`).
pub const HISTORY_SIZE: usize = 50;

/// An event with the tenant it belongs to (not shown on the wire).
#[derive(Clone, Debug)]
pub struct TenantEvent {
    pub tenant: String,
    pub event: Event,
}

/// Recent events, oldest first, and a feed of new SUCCESS events.
pub struct History {
    events: Mutex<VecDeque<TenantEvent>>,
    feed: broadcast::Sender<TenantEvent>,
}

impl Default for History {
    fn default() -> Self {
        History {
            events: Mutex::new(VecDeque::with_capacity(HISTORY_SIZE)),
            feed: broadcast::channel(256).0,
        }
    }
}

impl History {
    /// Record an event; returns its id.
    pub fn record(
        &self,
        tenant: &str,
        event_type: EventType,
        fill: impl FnOnce(&mut Event),
    ) -> String {
        let mut event = Event {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: chrono::Utc::now().timestamp_millis(),
            event_type,
            route: None,
            sender_id: None,
            receiver: None,
            status_code: None,
            related_id: None,
        };
        fill(&mut event);
        let id = event.id.clone();
        let entry = TenantEvent {
            tenant: tenant.to_string(),
            event,
        };
        if event_type == EventType::Success {
            // Nobody listening is fine.
            let _ = self.feed.send(entry.clone());
        }
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.len() == HISTORY_SIZE {
            events.pop_front();
        }
        events.push_back(entry);
        id
    }

    /// The events of `tenant` (all of them for `None`), oldest first.
    pub fn list(&self, tenant: Option<&str>) -> Vec<Event> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events
            .iter()
            .filter(|e| tenant.is_none_or(|t| e.tenant == t))
            .map(|e| e.event.clone())
            .collect()
    }

    /// Follow new SUCCESS events.
    pub fn subscribe(&self) -> broadcast::Receiver<TenantEvent> {
        self.feed.subscribe()
    }
}
