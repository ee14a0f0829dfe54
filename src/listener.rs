//! Listening sockets: for each address, one SO_REUSEPORT socket per worker, so the kernel spreads
//! connections across cores and no accept queue is shared between threads.
//!
//! Sockets are created on the main thread before the workers start, so an address with port 0
//! (tests) resolves to one concrete port that every worker shares, and bind errors are reported
//! once, before anything runs.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Per worker, one listener per address; and the addresses as bound (port 0 resolved).
pub struct BoundListeners {
    /// `per_worker[w][a]`: worker `w`'s socket for address `a`.
    pub per_worker: Vec<Vec<TcpListener>>,
    /// The addresses actually bound.
    pub addresses: Vec<SocketAddr>,
}

/// Binds every address once per worker.
pub fn bind_all(addresses: &[SocketAddr], workers: usize, backlog: i32) -> io::Result<BoundListeners> {
    let mut per_worker: Vec<Vec<TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    for &address in addresses {
        if address.port() != 0 {
            ensure_not_in_use(address)?;
        }
        let mut concrete = address;
        for sockets in per_worker.iter_mut() {
            let listener = bind_one(concrete, backlog)
                .map_err(|error| io::Error::new(error.kind(), format!("cannot listen on {address}: {error}")))?;
            concrete = listener.local_addr()?;
            sockets.push(listener);
        }
        bound.push(concrete);
    }
    Ok(BoundListeners { per_worker, addresses: bound })
}

/// SO_REUSEPORT lets any process of the same user bind the same port and silently take a share
/// of its connections; a second gateway started by mistake would split traffic with the first.
/// A plain bind (without SO_REUSEPORT) fails when anyone listens there, so try one first.
fn ensure_not_in_use(address: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&address.into()).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot listen on {address}: {error} (is another scfgate or server running there?)"),
        )
    })
}

/// One non-blocking listening socket with SO_REUSEPORT.
pub fn bind_one(address: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
