//! A TCP load balancer on 127.0.0.1 in front of several `trace server`s, as
//! a deployment puts one in front of its servers: each connection goes to
//! the next server that accepts it, so a dead server's share moves to the
//! others until it is back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long one server may take to accept before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Balance connections over the servers at `ports`; returns the balancer's
/// base URL.
pub async fn balancer(ports: Vec<u16>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { continue };
            let (ports, first) = (ports.clone(), next.fetch_add(1, Ordering::Relaxed));
            tokio::spawn(async move {
                for i in 0..ports.len() {
                    let port = ports[(first + i) % ports.len()];
                    if let Ok(Ok(mut outbound)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", port))).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
                // No server is up: the connection closes and the client retries.
            });
        }
    });
    base
}
