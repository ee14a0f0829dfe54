//! The floor of any proxy on this machine: a byte relay that pairs every client connection with
//! one upstream connection and copies bytes both ways, parsing nothing. It runs on scfgate's own
//! runtime set-up (the same io_uring ring flags, or epoll; a runtime per thread), so the CPU it spends per
//! request is what the sockets and the I/O driver cost before any gateway code runs.
//! `loadtest/per-request.sh` measures it beside scfgate and nginx; the gap between the relay and
//! scfgate is what scfgate's HTTP handling costs.
//!
//! It is a measuring instrument, not a proxy: no HTTP, no timeouts, no pooling (one upstream
//! connection per client connection, kept as long as the client's).
//!
//! Usage: scfgate-bench-relay LISTEN_ADDR UPSTREAM_ADDR [auto|legacy] [THREADS]
//! (THREADS, default 1: one runtime per thread, each with its own SO_REUSEPORT listener, as
//! scfgate's workers).

use std::net::SocketAddr;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::{TcpListener, TcpStream};
use scfgate::config::DriverChoice;
use scfgate::runtime;

const BUFFER_BYTES: usize = 16 * 1024;

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (arguments.get(1), arguments.get(2)) else {
        eprintln!("usage: scfgate-bench-relay LISTEN_ADDR UPSTREAM_ADDR [auto|legacy] [THREADS]");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN_ADDR");
    let upstream: SocketAddr = upstream.parse().expect("UPSTREAM_ADDR");
    let choice = match arguments.get(3).map(String::as_str) {
        Some("legacy") => DriverChoice::Legacy,
        _ => DriverChoice::Auto,
    };
    let threads: usize = arguments.get(4).and_then(|text| text.parse().ok()).unwrap_or(1).max(1);
    let driver = runtime::probe(choice).expect("driver");
    eprintln!("scfgate-bench-relay {listen} -> {upstream}, driver: {}, {threads} thread(s)", driver.describe());
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                runtime::block_on(driver, 1024, async move {
                    let options = monoio::net::ListenerOpts::new().reuse_port(true).backlog(4096);
                    let listener = TcpListener::bind_with_config(listen, &options).expect("bind");
                    loop {
                        if let Ok((client, _)) = listener.accept().await {
                            monoio::spawn(relay(client, upstream));
                        }
                    }
                })
                .expect("runtime")
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Each direction is its own task, as a copy loop would be in any relay; the connection ends
    // when either side closes.
    monoio::spawn(copy(server_read, client_write));
    copy(client_read, server_write).await;
}

async fn copy(mut from: OwnedReadHalf<TcpStream>, mut to: OwnedWriteHalf<TcpStream>) {
    let mut buffer: Vec<u8> = Vec::with_capacity(BUFFER_BYTES);
    loop {
        buffer.clear();
        let (result, slice) = from.read(buffer.slice_mut(0..BUFFER_BYTES)).await;
        buffer = slice.into_inner();
        match result {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let (result, returned) = to.write_all(buffer).await;
        buffer = returned;
        if result.is_err() {
            break;
        }
    }
    let _ = monoio::io::AsyncWriteRent::shutdown(&mut to).await;
}
