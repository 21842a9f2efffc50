//! A client of one platform's RP API, and the replies it gets.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use super::assert_jwt;
use crate::support::{Host, eventually};

/// A status and body from the RP API.
pub struct Reply {
    /// The method and path, for failure messages.
    pub what: String,
    pub status: u16,
    pub text: String,
}

impl Reply {
    /// Send `request` and read the whole answer; `what` names it in failure messages.
    async fn of(what: String, request: RequestBuilder) -> Reply {
        let response = request.send().await.expect("request failed");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply { what, status, text }
    }

    /// Expect 200; the body as JSON.
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}: {}", self.what, self.text);
        self.json()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        // The reference answers send, broadcast and a few others with an empty body.
        if self.text.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", self.what, self.text))
    }

    /// Expect `status` with an `ErrorResponse` naming the same status.
    #[track_caller]
    pub fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
        let body = self.json();
        assert_eq!(body["statusCode"], status, "{}: {}", self.what, self.text);
        assert!(body["message"].is_string(), "{}: {}", self.what, self.text);
        body
    }

    /// Expect `status`, whatever the body (the auth filter answers in plain text).
    #[track_caller]
    pub fn status_is(&self, status: u16) {
        assert_eq!(self.status, status, "{}: {}", self.what, self.text);
    }
}

/// A client of one platform's RP API, with a bearer token or none.
#[derive(Clone)]
pub struct Rp {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Rp {
    pub fn of(host: &Host) -> Rp {
        Rp {
            url: host.opaca_url.clone(),
            token: None,
            http: reqwest::Client::new(),
        }
    }

    pub fn with_token(&self, token: &str) -> Rp {
        Rp {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// `request` with the bearer token, if this client has one.
    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<(&str, String)>) -> Reply {
        let what = format!("{method} {path}");
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        Reply::of(what, self.authorized(request)).await
    }

    /// Send `body` as `application/json`.
    async fn send_json(&self, method: Method, path: &str, body: Value) -> Reply {
        self.send(method, path, Some(("application/json", body.to_string())))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn post_text(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send(Method::POST, path, Some((content_type, body.to_string())))
            .await
    }

    /// POST `body` without a content type.
    pub async fn post_untyped(&self, path: &str, body: &str) -> Reply {
        let what = format!("POST {path} (no content type)");
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_string());
        Reply::of(what, self.authorized(request)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn delete_json(&self, path: &str, body: Value) -> Reply {
        self.send_json(Method::DELETE, path, body).await
    }

    /// Start a container (waiting up to a minute for it); its id, checked to be raw text.
    pub async fn start(&self, body: Value) -> String {
        let reply = self.post("/containers?timeout=60", body).await;
        assert_eq!(reply.status, 200, "POST /containers: {}", reply.text);
        let id = reply.text;
        assert!(
            !id.is_empty() && !id.contains('"') && !id.contains(char::is_whitespace),
            "a container id is raw text, got {id:?}"
        );
        id
    }

    /// Log in; the raw JWT.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let reply = self
            .post(
                "/login",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(reply.status, 200, "login as {username}: {}", reply.text);
        assert_jwt(&reply.text);
        reply.text
    }

    /// The payload of the last message the calculator in `container` got.
    pub async fn last_message(&self, container: &str) -> Value {
        let path = format!("/invoke/LastMessage/calculator?containerId={container}");
        self.post(&path, json!({})).await.ok()
    }

    /// Wait until the calculator in `container` has got a message with `want`.
    pub async fn wait_last_message(&self, container: &str, want: Value) {
        let want = &want;
        let got = eventually(Duration::from_secs(10), || async move {
            (self.last_message(container).await == *want).then_some(())
        })
        .await;
        assert!(
            got.is_some(),
            "the calculator in {container} never got {want}; its last message: {}",
            self.last_message(container).await
        );
    }
}
