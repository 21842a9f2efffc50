//! An HTTP/1.1 load generator on hyper: N keep-alive connections, each a closed loop or a
//! share of a fixed total rate. At fixed rate, a request held back because the server had
//! not answered the previous one yet counts from its intended send time, so a stalled
//! server shows in the percentiles instead of slowing the generator; one sent late only
//! because the generator's timer woke late (tokio's timer has 1 ms resolution) counts from
//! when it was sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::stats::{Summary, histogram};

/// What to send, how.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub name: String,
    /// `host:port`.
    pub addr: String,
    pub method: Method,
    /// Path; `{c}` is replaced by the connection's index (one actor per connection), or
    /// by the connection's entry of `actors` when that is not empty.
    pub path: String,
    pub actors: Vec<String>,
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
    pub connections: usize,
    pub duration: Duration,
    /// Total requests per second across connections; closed loop when `None`.
    pub rate: Option<f64>,
    /// Speak TLS with this client configuration (the server named by `addr`'s IP).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// An HTTP/1.1 connection to `spec.addr`, over TLS when the spec says so.
async fn open(spec: &LoadSpec) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(&spec.addr).await?;
    stream.set_nodelay(true)?;
    let Some(config) = &spec.tls else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        return Ok(sender);
    };
    let ip = stream.peer_addr()?.ip();
    let session = tokio_rustls::TlsConnector::from(config.clone())
        .connect(rustls_pki_types::ServerName::IpAddress(ip.into()), stream)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(session)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn connection(
    spec: LoadSpec,
    index: usize,
    deadline: Instant,
) -> anyhow::Result<(hdrhistogram::Histogram<u64>, u64)> {
    let mut sender = open(&spec).await?;
    let actor = match spec.actors.is_empty() {
        true => index.to_string(),
        false => spec.actors[index % spec.actors.len()].clone(),
    };
    let path = spec.path.replace("{c}", &actor);
    let mut hist = histogram();
    let mut errors = 0;
    let interval = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.connections as f64 / r));
    let start = Instant::now()
        + interval
            .map(|i| i.mul_f64(index as f64 / spec.connections as f64))
            .unwrap_or_default();
    let mut sent: u32 = 0;
    let mut free_at = Instant::now();
    loop {
        let (intended, from) = match interval {
            Some(i) => {
                let at = start + i * sent;
                tokio::time::sleep_until(at.into()).await;
                (at, if free_at > at { at } else { Instant::now() })
            }
            None => {
                let now = Instant::now();
                (now, now)
            }
        };
        if intended >= deadline {
            break;
        }
        sent += 1;
        let mut request = Request::builder()
            .method(spec.method.clone())
            .uri(&path)
            .header("host", &spec.addr);
        for (k, v) in &spec.headers {
            request = request.header(k, v);
        }
        let request = request.body(Full::new(spec.body.clone()))?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        free_at = Instant::now();
        let latency = free_at - from;
        if ok {
            hist.record(latency.as_nanos().max(1) as u64)?;
        } else {
            errors += 1;
        }
    }
    Ok((hist, errors))
}

/// Run the load and summarise it.
pub async fn run(spec: LoadSpec) -> anyhow::Result<Summary> {
    let name = spec.name.clone();
    run_together(&name, vec![spec]).await
}

/// Run several loads at once (one per host of a cluster, say) and summarise them as one.
pub async fn run_together(name: &str, specs: Vec<LoadSpec>) -> anyhow::Result<Summary> {
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for spec in specs {
        let deadline = begin + spec.duration;
        for i in 0..spec.connections {
            tasks.push(tokio::spawn(connection(spec.clone(), i, deadline)));
        }
    }
    let mut hist = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await??;
        hist.add(&h)?;
        errors += e;
    }
    Ok(Summary::new(name, &hist, begin.elapsed(), errors))
}

/// A plain POST spec with a JSON body.
pub fn post(
    name: &str,
    addr: &str,
    path: &str,
    body: &'static str,
    connections: usize,
    duration: Duration,
) -> LoadSpec {
    LoadSpec {
        name: name.to_string(),
        addr: addr.to_string(),
        method: Method::POST,
        path: path.to_string(),
        actors: Vec::new(),
        body: Bytes::from_static(body.as_bytes()),
        headers: vec![("content-type".into(), "application/json".into())],
        connections,
        duration,
        rate: None,
        tls: None,
    }
}

/// A GET spec: no body, no content type.
pub fn get(name: &str, addr: &str, path: &str, connections: usize, duration: Duration) -> LoadSpec {
    LoadSpec {
        method: Method::GET,
        headers: Vec::new(),
        ..post(name, addr, path, "", connections, duration)
    }
}
