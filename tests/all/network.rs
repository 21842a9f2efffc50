//! Hostile networks on the HTTP and gRPC listeners: a client that trickles its headers (slow
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

/// The gRPC listener keeps the same limits: past `--max-connections` a new connection
/// waits, and connections that send nothing, or only part of HTTP/2's preface, are closed
/// after `--header-read-timeout`, which lets the waiting one in. An oversized header list
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_past_the_limit_wait_and_silent_ones_are_closed() {
    use warren_host::wire::dapr_proto::runtime as rt;

    let dir = tempfile::tempdir().unwrap();
    let counter = crate::support::guest("counter");
    let host = Host::start(
        dir.path(),
        &[
            "--deploy",
            counter.to_str().unwrap(),
            "--max-connections",
            "2",
            "--header-read-timeout",
            "1s",
            "--max-header-bytes",
            "16384",
        ],
    );
    let grpc_addr = host.grpc_url.trim_start_matches("http://").to_string();
    let mut silent: Vec<TcpStream> =
        futures::future::join_all((0..2).map(|_| TcpStream::connect(grpc_addr.clone())))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    // One says nothing at all, the other stops in the middle of HTTP/2's preface.
    silent[1].write_all(b"PRI * HTTP/2.0").await.unwrap();

    let started = Instant::now();
    let call = |data: &str, header: Option<String>| {
        let mut request = tonic::Request::new(rt::InvokeActorRequest {
            actor_type: "counter".into(),
            actor_id: "g".into(),
            method: "add".into(),
            data: data.as_bytes().to_vec(),
            metadata: Default::default(),
        });
        if let Some(value) = header {
            request
                .metadata_mut()
                .insert("x-padding", value.parse().unwrap());
        }
        request
    };
    let mut client = tokio::time::timeout(
        Duration::from_secs(10),
        rt::dapr_client::DaprClient::connect(host.grpc_url.clone()),
    )
    .await
    .expect("connected once the silent connections were closed")
    .unwrap();
    let reply = client.invoke_actor(call("2", None)).await.unwrap();
    assert_eq!(reply.into_inner().data, b"2");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "served after {waited:?}, past the limit"
    );
    // The silent connections were closed by the host.
    for stream in &mut silent {
        assert!(read_until_closed(stream).await.is_some());
    }

    // A header list past the limit is refused; the connection's next call is served.
    let refused = client
        .invoke_actor(call("1", Some("x".repeat(32 << 10))))
        .await
        .unwrap_err();
    assert_ne!(refused.code(), tonic::Code::Ok, "{refused:?}");
    let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
        .await
        .unwrap();
    let reply = client.invoke_actor(call("1", None)).await.unwrap();
    assert_eq!(reply.into_inner().data, b"3");
}

/// Thousands of idle connections: the host holds no more of them than its limit (its
/// open file descriptors stay bounded), closes each after the header timeout, and serves
/// a real request once the idle ones ahead of it in the backlog have been closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_hold_no_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &["--max-connections", "500", "--header-read-timeout", "1s"],
    );
    let before = host.open_fds();
    let connect = || async {
        tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr(&host)))
            .await
            .ok()
            .and_then(Result::ok)
    };
    let idle: Vec<TcpStream> = futures::future::join_all((0..2000).map(|_| connect()))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(idle.len() >= 1000, "only {} connections opened", idle.len());
    let held = host.open_fds();
    assert!(
        held <= before + 500 + 16,
        "the host holds {held} fds for {} idle connections (before: {before})",
        idle.len()
    );

    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        reqwest::Client::new()
            .get(format!("{}/v1.0/healthz", host.url))
            .send(),
    )
    .await
    .expect("served once the idle connections ahead were closed")
    .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert!(host.open_fds() <= before + 500 + 16);
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opened_before_the_host_stops_gets_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    // A connection the host has taken, whose request comes only once the host stops
    // listening (a client that connected just before a rolling restart reached it).
    let mut early = TcpStream::connect(addr(&host)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    host.signal("TERM");
    let port = crate::support::port_of(&host.url).parse().unwrap();
    assert!(
        crate::support::stops_listening(port, Duration::from_secs(10)).await,
        "the host did not stop listening"
    );
    early
        .write_all(b"GET /v1.0/metadata HTTP/1.1\r\nhost: warren\r\n\r\n")
        .await
        .unwrap();
    // Answered, then closed (the read ends).
    let answer = read_until_closed(&mut early)
        .await
        .expect("the host kept the connection open");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "no answer, or not this one: {answer:?}"
    );
}
