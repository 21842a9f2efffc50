//! A TCP proxy on loopback that a test can cut and heal: put between a host and
//! PostgreSQL, it cuts that one host off the database while everything else goes on.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy to one address. Stops with the test's runtime.
pub struct Proxy {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    cut: watch::Sender<bool>,
}

impl Proxy {
    /// Listen on a free port and pass every connection on to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cut_seen) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut cut = cut_seen.clone();
                if *cut.borrow() {
                    // Cut off: refused at once, as an unreachable network would.
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Proxy { port, cut }
    }

    /// Drop every connection through the proxy and refuse new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Pass connections again.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }

    /// `url` (a `postgres://` URL) with its port replaced by the proxy's.
    pub fn url_through(&self, url: &str) -> String {
        let (head, tail) = url.rsplit_once(':').expect("a URL with a port");
        let path = tail.split_once('/').map_or("", |(_, path)| path);
        format!("{head}:{}/{path}", self.port)
    }
}
