//! Calls to containers and connected platforms: URLs built from encoded parts, the
//! headers OPACA expects, a FORWARD event each, a time limit, and any failure turned
//! into a 502 whose cause is the other side's answer.

use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::Serialize;
use serde_json::Value;

use super::model::{ErrorResponse, EventType};
use super::{OpacaError, Platform};
use crate::process_backend;
use warren_protocol::answer::{self, BodyError};

/// `base` + path `segments` (each percent-encoded) + `query` pairs; see
/// [`process_backend::endpoint`].
pub(super) fn endpoint<S: AsRef<str>>(
    base: &str,
    segments: &[&str],
    query: &[(&str, S)],
) -> Result<String, OpacaError> {
    process_backend::endpoint(base, segments, query).map_err(|e| OpacaError::new(500, e))
}

/// One outbound request.
pub(super) struct Outbound<'a> {
    /// The tenant the call is made for: its event history records it, and its turn
    /// timeout bounds it.
    pub tenant: &'a str,
    /// The HTTP method.
    pub method: Method,
    /// The full URL, query included.
    pub url: &'a str,
    /// `Authorization: Bearer` for the other side.
    pub bearer: Option<&'a str>,
    /// A container-login token (`ContainerLoginToken`).
    pub login: Option<&'a str>,
}

/// The most of an answer from a container or a connected platform that is read (the
/// largest body Warren's own APIs take).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// A 502 for a request that got no answer.
fn unreachable(url: &str, e: reqwest::Error) -> OpacaError {
    OpacaError::downstream(
        format!("{url} is unreachable"),
        ErrorResponse {
            status_code: 502,
            message: e.to_string(),
            cause: None,
        },
    )
}

impl Platform {
    /// Send `request` with an optional JSON `body` or raw `bytes`; the answer's bytes if
    /// it is a success, else a 502 with the answer as cause.
    pub(super) async fn send_outbound(
        &self,
        request: Outbound<'_>,
        body: Option<&(dyn erased::Json + Sync)>,
        bytes: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, OpacaError> {
        let Outbound {
            tenant,
            method,
            url,
            bearer,
            login,
        } = request;
        let receiver = Url::parse(url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| url.to_string());
        self.0.history.record(tenant, EventType::Forward, |e| {
            e.route = Some(format!("{method} {url}"));
            e.receiver = Some(receiver);
        });
        // Never longer than a turn of the tenant may take.
        let limit = self
            .0
            .runtime
            .deadline(tenant)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let mut builder = self
            .0
            .client
            .request(method, url)
            .timeout(limit)
            .header("sender-id", &self.0.base_url);
        if let Some(body) = body {
            builder = builder
                .header("content-type", "application/json; charset=UTF-8")
                .body(body.to_json());
        }
        if let Some(bytes) = bytes {
            builder = builder.body(bytes);
        }
        if let Some(token) = bearer.filter(|t| !t.is_empty()) {
            builder = builder.bearer_auth(token);
        }
        if let Some(login) = login {
            builder = builder.header("ContainerLoginToken", login);
        }
        let response = builder.send().await.map_err(|e| unreachable(url, e))?;
        let status = response.status();
        // An answer without end is cut off, not read into memory whole.
        let answer = match answer::read_capped(response, MAX_ANSWER_BYTES).await {
            Ok(answer) => answer,
            Err(BodyError::Read(e)) => return Err(unreachable(url, e)),
            Err(too_large) => {
                return Err(OpacaError::new(502, format!("{url}: {too_large}")));
            }
        };
        if status.is_success() {
            return Ok(answer);
        }
        let cause =
            serde_json::from_slice::<ErrorResponse>(&answer).unwrap_or_else(|_| ErrorResponse {
                status_code: status.as_u16(),
                message: String::from_utf8_lossy(&answer).into_owned(),
                cause: None,
            });
        Err(OpacaError::downstream(
            format!("{url} answered {}", status.as_u16()),
            cause,
        ))
    }

    /// A JSON call: the answer's JSON (`null` when empty, a string when not JSON).
    pub(super) async fn call<B: Serialize + Sync>(
        &self,
        tenant: &str,
        method: Method,
        url: &str,
        body: Option<&B>,
        bearer: Option<&str>,
        login: Option<&str>,
    ) -> Result<Value, OpacaError> {
        let request = Outbound {
            tenant,
            method,
            url,
            bearer,
            login,
        };
        let body = body.map(|b| b as &(dyn erased::Json + Sync));
        let bytes = self.send_outbound(request, body, None).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }
}

/// Serializing a body without making `send_outbound` generic.
pub(super) mod erased {
    /// A value that can be written as JSON.
    pub trait Json {
        fn to_json(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}
