//! The event history (`/history`) and the feed of successful calls that `/subscribe`
//! websockets follow.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::model::{Event, EventType};

/// How many events `/history` keeps per tenant (the reference's `EVENT_HISTORY_SIZE`).
pub const HISTORY_SIZE: usize = 50;

/// An event with the tenant it belongs to (not shown on the wire).
#[derive(Clone, Debug)]
pub struct TenantEvent {
    /// The tenant whose request it records.
    pub tenant: String,
    /// The event as `/history` shows it.
    pub event: Event,
}

/// Recent events of each tenant, oldest first, and a feed of new SUCCESS events.
pub struct History {
    events: Mutex<HashMap<String, VecDeque<Event>>>,
    feed: broadcast::Sender<TenantEvent>,
}

impl Default for History {
    fn default() -> Self {
        History {
            events: Mutex::new(HashMap::new()),
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
        if event_type == EventType::Success {
            // Nobody listening is fine.
            let _ = self.feed.send(TenantEvent {
                tenant: tenant.to_string(),
                event: event.clone(),
            });
        }
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let ring = events.entry(tenant.to_string()).or_default();
        if ring.len() == HISTORY_SIZE {
            ring.pop_front();
        }
        ring.push_back(event);
        id
    }

    /// Record the CALL of a logged request to `route` ("POST /invoke/Add"); its id, for
    /// the outcome.
    pub fn call(&self, tenant: &str, route: &str, sender: Option<String>) -> String {
        self.record(tenant, EventType::Call, |e| {
            e.route = Some(route.to_string());
            e.sender_id = sender;
        })
    }

    /// Record the SUCCESS or ERROR, by HTTP `status`, answering the CALL `call`.
    pub fn outcome(&self, tenant: &str, route: &str, status: u16, call: String) {
        let outcome = if (200..300).contains(&status) {
            EventType::Success
        } else {
            EventType::Error
        };
        self.record(tenant, outcome, |e| {
            e.route = Some(route.to_string());
            e.status_code = Some(status);
            e.related_id = Some(call);
        });
    }

    /// The events of `tenant` (of every tenant for `None`), oldest first.
    pub fn list(&self, tenant: Option<&str>) -> Vec<Event> {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<Event> = match tenant {
            Some(t) => events.get(t).into_iter().flatten().cloned().collect(),
            None => events.values().flatten().cloned().collect(),
        };
        list.sort_by_key(|e| e.timestamp);
        list
    }

    /// Follow new SUCCESS events.
    pub fn subscribe(&self) -> broadcast::Receiver<TenantEvent> {
        self.feed.subscribe()
    }
}
