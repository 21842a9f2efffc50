//! The floor under a forwarded invoke on this machine, measured in the cluster figure beside
//! it: one call at a time to another process over loopback, as a bare TCP round trip (64
//! bytes echoed) and as a tonic unary call (an empty OTLP trace export: a real generated
//! client and server, already built for the host, with the cluster channel's settings).

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren_bench::stats::{Summary, histogram};

/// The helper process: a TCP echo and a gRPC service that answers at once. Prints
/// `listening TCP_ADDR GRPC_ADDR`.
pub fn hop_echo() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {} {}", tcp.local_addr()?, grpc.local_addr()?);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = tcp.accept().await {
                let _ = socket.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while socket.read_exact(&mut buf).await.is_ok() {
                        if socket.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(TraceServiceServer::new(Answer))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc))
            .await?;
        Ok(())
    })
}

struct Answer;

#[tonic::async_trait]
impl TraceService for Answer {
    async fn export(
        &self,
        _: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Time `call` one at a time for `duration`.
async fn one_at_a_time<F, Fut>(
    name: &str,
    duration: Duration,
    mut call: F,
) -> anyhow::Result<Summary>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut hist = histogram();
    let start = Instant::now();
    while start.elapsed() < duration {
        let t = Instant::now();
        call().await?;
        hist.record(t.elapsed().as_nanos() as u64)?;
    }
    Ok(Summary::new(name, &hist, start.elapsed(), 0))
}

/// Print the two floors against `baseline` (the local invoke, 1 connection); the tonic
/// call's summary.
pub async fn floor(duration: Duration, baseline: &Summary) -> anyhow::Result<Summary> {
    let (child, line) = super::helper(&["hop-echo"])?;
    let _child = super::Killed(child);
    let (tcp, grpc) = line
        .split_once(' ')
        .ok_or_else(|| anyhow::anyhow!("the hop helper printed {line:?}"))?;
    let stream = tokio::net::TcpStream::connect(tcp).await?;
    stream.set_nodelay(true)?;
    let stream = std::sync::Arc::new(tokio::sync::Mutex::new(stream));
    one_at_a_time("floor: loopback TCP round trip, 64 B", duration, || {
        let stream = stream.clone();
        async move {
            let mut stream = stream.lock().await;
            let mut buf = [7u8; 64];
            stream.write_all(&buf).await?;
            stream.read_exact(&mut buf).await?;
            Ok(())
        }
    })
    .await?
    .print(Some(baseline));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let client = TraceServiceClient::new(channel);
    let tonic = one_at_a_time("floor: tonic unary call, empty", duration, || {
        let mut client = client.clone();
        async move {
            client.export(ExportTraceServiceRequest::default()).await?;
            Ok(())
        }
    })
    .await?;
    tonic.print(Some(baseline));
    Ok(tonic)
}
