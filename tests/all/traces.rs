//! Distributed tracing: a caller's `traceparent` through the host, into the turns it runs
//! and the calls they make, back in the response, and out to an OTLP collector (a small
//! one of the test's own, a tonic server).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::Value;
use warren_host::wire::dapr_proto::runtime as rt;

use crate::sandbox::hostile_host;
use crate::support::{Host, eventually, serve_fails};

/// One received span, flattened.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: i32,
    error: bool,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/gRPC trace collector that keeps what it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let text = |v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match v
            .as_ref()
            .and_then(|v| v.value.as_ref())
        {
            Some(AnyValue::StringValue(s)) => s.clone(),
            Some(AnyValue::IntValue(i)) => i.to_string(),
            other => format!("{other:?}"),
        };
        let mut kept = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| text(&a.value))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    kept.push(Received {
                        service: service.clone(),
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent: hex::encode(&span.parent_span_id),
                        name: span.name.clone(),
                        kind: span.kind,
                        error: span
                            .status
                            .as_ref()
                            .is_some_and(|s| s.code == StatusCode::Error as i32),
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(&a.value)))
                            .collect(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serve on a free loopback port; returns its URL.
    async fn start(&self) -> String {
        self.start_with(None).await
    }

    /// Serve on a free loopback port, over TLS with `tls`; returns its URL.
    async fn start_with(&self, tls: Option<tonic::transport::ServerTlsConfig>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            server = server.tls_config(tls).unwrap();
        }
        tokio::spawn(
            server
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        url
    }

    /// How many spans of `trace_id` have arrived.
    fn count(&self, trace_id: &str) -> usize {
        let spans = self.0.lock().unwrap();
        spans.iter().filter(|s| s.trace_id == trace_id).count()
    }

    /// The spans of `trace_id`, once at least `count` have arrived.
    async fn trace(&self, trace_id: &str, count: usize) -> Vec<Received> {
        eventually(Duration::from_secs(15), || async {
            let spans: Vec<Received> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            (spans.len() >= count).then_some(spans)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "fewer than {count} spans of trace {trace_id} arrived: {:#?}",
                self.0.lock().unwrap()
            )
        })
    }
}

fn traceparent(trace_id: &str, span_id: &str) -> String {
    format!("00-{trace_id}-{span_id}-01")
}

/// The span id a `traceparent` names, checking it is of `trace_id`.
fn span_of(traceparent: &str, trace_id: &str) -> String {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], trace_id, "{traceparent}");
    parts[2].to_string()
}

fn one<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    let found: Vec<&Received> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?} in {spans:#?}");
    found[0]
}

#[tokio::test]
async fn a_call_chain_reaches_the_collector_with_its_parents() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(
        dir.path(),
        &["--otlp-endpoint", &endpoint, "--log-format", "json"],
    );

    check_a_dapr_http_call_chain(&host, &collector).await;
    check_a_failing_turn_is_marked(&host, &collector).await;
    check_a_dapr_grpc_call(&host, &collector).await;
    check_guest_output_carries_the_trace_id(&host).await;
    check_an_untraced_turn_is_a_root(&host, &collector).await;
}

/// The span id of the client that starts the traces below.
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The name of the span of a Dapr HTTP actor request.
const HTTP_ACTOR_ROUTE: &str = "POST /v1.0/actors/{actor_type}/{actor_id}/method/{method}";

/// Dapr HTTP: caller/a calls counter/via within a trace the client started; the request,
/// the turn and the actor-to-actor call are a chain of parents.
async fn check_a_dapr_http_call_chain(host: &Host, collector: &Collector) {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = host
        .client
        .post(format!("{}/v1.0/actors/caller/a/method/call", host.url))
        .header("traceparent", traceparent(trace, CLIENT_SPAN))
        .header("tracestate", "vendor=kept")
        .body(r#"{"type":"counter","id":"via","action":"add","payload":4}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let returned = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.headers()["tracestate"], "vendor=kept");
    assert_eq!(response.text().await.unwrap(), "4");
    let request_span = span_of(&returned, trace);
    assert_ne!(request_span, CLIENT_SPAN);

    let spans = collector.trace(trace, 3).await;
    let request = one(&spans, HTTP_ACTOR_ROUTE);
    assert_eq!(request.span_id, request_span);
    assert_eq!(request.parent, CLIENT_SPAN);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(request.service, "warren");
    assert_eq!(request.attribute("warren.protocol"), Some("dapr-http"));
    let call = one(&spans, "turn caller.call");
    assert_eq!(call.parent, request.span_id);
    assert_eq!(call.attribute("warren.tenant"), Some("default"));
    assert_eq!(call.attribute("warren.actor.type"), Some("caller"));
    assert_eq!(call.attribute("warren.actor.id"), Some("a"));
    assert_eq!(call.attribute("warren.action"), Some("call"));
    assert_eq!(call.attribute("warren.outcome"), Some("ok"));
    assert!(!call.error);
    // The actor-to-actor call is a child of the calling turn.
    let add = one(&spans, "turn counter.add");
    assert_eq!(add.parent, call.span_id);
    assert_eq!(add.attribute("warren.actor.id"), Some("via"));
}

/// A failing turn is marked so, with its outcome, and so is its request.
async fn check_a_failing_turn_is_marked(host: &Host, collector: &Collector) {
    let failing = "5bf92f3577b34da6a3ce929d0e0e4736";
    let response = host
        .client
        .post(format!("{}/v1.0/actors/prober/p/method/trap", host.url))
        .header("traceparent", traceparent(failing, CLIENT_SPAN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let spans = collector.trace(failing, 2).await;
    let trap = one(&spans, "turn prober.trap");
    assert_eq!(trap.attribute("warren.outcome"), Some("trap"));
    assert!(trap.error);
    let request = one(&spans, HTTP_ACTOR_ROUTE);
    assert_eq!(trap.parent, request.span_id);
    assert!(request.error, "{request:?}");
}

/// Dapr gRPC: the traceparent of the call's metadata parents the RPC's span.
async fn check_a_dapr_grpc_call(host: &Host, collector: &Collector) {
    let grpc_trace = "6bf92f3577b34da6a3ce929d0e0e4736";
    let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
        .await
        .unwrap();
    let mut request = tonic::Request::new(rt::InvokeActorRequest {
        actor_type: "counter".into(),
        actor_id: "g".into(),
        method: "add".into(),
        data: b"2".to_vec(),
        metadata: Default::default(),
    });
    request.metadata_mut().insert(
        "traceparent",
        traceparent(grpc_trace, CLIENT_SPAN).parse().unwrap(),
    );
    let reply = client.invoke_actor(request).await.unwrap();
    let returned = reply
        .metadata()
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    let rpc_span = span_of(returned, grpc_trace);
    assert_eq!(reply.into_inner().data, b"2");
    let spans = collector.trace(grpc_trace, 2).await;
    let rpc = one(&spans, "dapr.proto.runtime.v1.Dapr/InvokeActor");
    assert_eq!(rpc.span_id, rpc_span);
    assert_eq!(rpc.parent, CLIENT_SPAN);
    assert_eq!(rpc.attribute("warren.protocol"), Some("dapr-grpc"));
    assert_eq!(one(&spans, "turn counter.add").parent, rpc.span_id);
}

/// The guest's output carries the trace id of its turn.
async fn check_guest_output_carries_the_trace_id(host: &Host) {
    let printed = "7bf92f3577b34da6a3ce929d0e0e4736";
    host.client
        .post(format!("{}/v1.0/actors/chatty/c/method/print", host.url))
        .header("traceparent", traceparent(printed, CLIENT_SPAN))
        .body("traced line")
        .send()
        .await
        .unwrap();
    let line = eventually(Duration::from_secs(5), || async {
        host.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "traced line")
    })
    .await
    .unwrap_or_else(|| panic!("no log line of the guest:\n{}", host.log()));
    assert_eq!(line["trace_id"], printed, "{line}");
    assert_eq!(line["actor"], "chatty/c", "{line}");
}

/// Without a traceparent, every turn is a trace of its own (a root span).
async fn check_an_untraced_turn_is_a_root(host: &Host, collector: &Collector) {
    host.invoke_ok("counter", "root", "add", "1").await;
    let root = eventually(Duration::from_secs(15), || async {
        collector
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.attribute("warren.actor.id") == Some("root"))
            .cloned()
    })
    .await
    .expect("the span of an untraced request arrives");
    let spans = collector.trace(&root.trace_id, 2).await;
    let request = one(&spans, HTTP_ACTOR_ROUTE);
    assert_eq!(request.parent, "", "a root span has no parent");
    assert_eq!(root.parent, request.span_id);
}

#[tokio::test]
async fn a_traceparent_is_carried_through_without_an_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &[]);
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let client_span = "b7ad6b7169203331";
    let response = host
        .client
        .post(format!("{}/v1.0/actors/counter/t/method/add", host.url))
        .header("traceparent", traceparent(trace, client_span))
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let returned = response.headers()["traceparent"].to_str().unwrap();
    assert_ne!(span_of(returned, trace), client_span);
    // The guest is given the request's other headers, not the trace headers the host
    // passes on for it.
    let keys: Vec<String> = host
        .client
        .post(format!("{}/v1.0/actors/chatty/m/method/metadata", host.url))
        .header("traceparent", traceparent(trace, client_span))
        .header("tracestate", "vendor=x")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(keys.iter().any(|k| k == "x-custom"), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k == "traceparent" || k == "tracestate"),
        "{keys:?}"
    );
    // An untraced request stays untraced; a malformed traceparent is ignored.
    for header in [None, Some("00-not-a-trace-01")] {
        let mut request = host
            .client
            .post(format!("{}/v1.0/actors/counter/t/method/add", host.url))
            .body("1");
        if let Some(header) = header {
            request = request.header("traceparent", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            !response.headers().contains_key("traceparent"),
            "{header:?} is answered without a made-up trace: {:?}",
            response.headers()
        );
    }
}

/// An `https://` collector: a host given the CA that signed the collector's certificate
/// exports to it; one given another CA exports nothing; a CA for a plaintext endpoint is
/// refused at start.
#[tokio::test]
async fn spans_reach_an_https_collector_trusted_through_the_given_ca() {
    use warren_host::protocol::tls::issue;
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    let ca = issue::init_ca(&ours).unwrap();
    let other_ca = issue::init_ca(&theirs).unwrap();
    let (cert, key) = issue::issue_host(&ours, "collector", &["127.0.0.1".into()], &ours).unwrap();
    let identity = tonic::transport::Identity::from_pem(
        std::fs::read(cert).unwrap(),
        std::fs::read(key).unwrap(),
    );
    let collector = Collector::default();
    let endpoint = collector
        .start_with(Some(
            tonic::transport::ServerTlsConfig::new().identity(identity),
        ))
        .await;
    assert!(endpoint.starts_with("https://"), "{endpoint}");

    check_only_the_trusting_host_exports(&endpoint, &collector, &ca, &other_ca).await;

    let ca = ca.to_str().unwrap();
    let plaintext = [
        "--otlp-endpoint",
        "http://127.0.0.1:4317",
        "--otlp-ca-cert",
        ca,
    ];
    let (status, said) = serve_fails(&plaintext);
    assert!(!status.success());
    assert!(
        said.contains("--otlp-ca-cert is for an https:// endpoint"),
        "{said}"
    );
}

/// A host given `other_ca` and one given `ca` (the collector's) each make a traced call:
/// only the second one's spans arrive.
async fn check_only_the_trusting_host_exports(
    endpoint: &str,
    collector: &Collector,
    ca: &std::path::Path,
    other_ca: &std::path::Path,
) {
    let invoke = |host: &Host, trace: &'static str| {
        let request = host
            .client
            .post(format!("{}/v1.0/actors/counter/c/method/add", host.url))
            .header("traceparent", traceparent(trace, CLIENT_SPAN))
            .body("1");
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    let (trusted, untrusted) = (
        "6bf92f3577b34da6a3ce929d0e0e4736",
        "7bf92f3577b34da6a3ce929d0e0e4736",
    );
    let wrong_dir = tempfile::tempdir().unwrap();
    let wrong = hostile_host(
        wrong_dir.path(),
        &[
            "--otlp-endpoint",
            endpoint,
            "--otlp-ca-cert",
            other_ca.to_str().unwrap(),
        ],
    );
    invoke(&wrong, untrusted).await;
    let right_dir = tempfile::tempdir().unwrap();
    let right = hostile_host(
        right_dir.path(),
        &[
            "--otlp-endpoint",
            endpoint,
            "--otlp-ca-cert",
            ca.to_str().unwrap(),
        ],
    );
    invoke(&right, trusted).await;
    let spans = collector.trace(trusted, 2).await;
    assert!(
        spans.iter().any(|s| s.name == "turn counter.add"),
        "{spans:#?}"
    );
    // The wrong CA's host has had its export delay (0.5 s) several times over by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        collector.count(untrusted),
        0,
        "a host trusting another CA exported"
    );
}
