//! Hostile networks on the HTTP listeners: a client that trickles its headers (slow
//! loris), headers too large, more connections than the host keeps open. Each is cut off
//! or answered, and the host keeps serving everyone else.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Host;

/// `HOST:PORT` of a host's HTTP listener.
fn addr(host: &Host) -> String {
    host.url.trim_start_matches("http://").to_string()
}

/// What the server sends before it closes the connection (or 5 s pass).
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
    match read.await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_oversized_headers_are_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &["--header-read-timeout", "1s", "--max-header-bytes", "16384"],
    );
    // Slow loris: the request line, then a byte of header every 100 ms, never the end.
    let slow = TcpStream::connect(addr(&host)).await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    writer
        .write_all(b"GET /v1.0/healthz HTTP/1.1\r\nhost: warren\r\nx-slow: ")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let started = Instant::now();
    // Everyone else is served meanwhile.
    let healthz = host.get("/v1.0/healthz").await;
    assert!(healthz.status().is_success(), "{}", healthz.status());
    let cut = read_until_closed(&mut reader).await;
    let after = started.elapsed();
    assert!(
        cut.is_some(),
        "a trickling client was still connected after 5 s"
    );
    assert!(
        after >= Duration::from_millis(800),
        "cut off after {after:?}, before the timeout"
    );
    trickle.abort();

    // A head larger than the limit is answered 431 (Request Header Fields Too Large).
    let mut big = TcpStream::connect(addr(&host)).await.unwrap();
    let request = format!(
        "GET /v1.0/healthz HTTP/1.1\r\nhost: warren\r\nx-big: {}\r\n\r\n",
        "a".repeat(32 << 10)
    );
    // The host may close before reading it all: the answer is what counts.
    let _ = big.write_all(request.as_bytes()).await;
    let answer = read_until_closed(&mut big).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "answer: {answer:?}");

    // A head within the limit is served.
    let response = reqwest::Client::new()
        .get(format!("{}/v1.0/healthz", host.url))
        .header("x-fine", "a".repeat(8 << 10))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// Past `--max-connections`, a new connection waits to be accepted until one closes (here
/// idle ones, cut off by the header timeout), then is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_for_one_to_close() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &["--max-connections", "3", "--header-read-timeout", "1s"],
    );
    let idle: Vec<TcpStream> =
        futures::future::join_all((0..3).map(|_| TcpStream::connect(addr(&host))))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let started = Instant::now();
    let client = reqwest::Client::new();
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.get(format!("{}/v1.0/healthz", host.url)).send(),
    )
    .await
    .expect("served once the idle connections were closed")
    .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "served after {waited:?}, past the limit"
    );
    drop(idle);
}
