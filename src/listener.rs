//! Listening sockets: for each address, one SO_REUSEPORT socket per worker, so the kernel spreads
//! connections across cores and no accept queue is shared between threads.
//!
//! Sockets are created on the main thread before the workers start, so an address with port 0
//! (tests) resolves to one concrete port that every worker shares, and bind errors are reported
//! once, before anything runs.
//!
//! [`Sockets`] is where the gateway's public listening sockets (HTTP, HTTPS, admin, push) come
//! from: bound here, or adopted from the process a binary upgrade replaces (`crate::upgrade`),
//! which keeps them open, queued connections and all. It keeps a duplicate of each, so that
//! they can be handed on to the next binary in turn.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};

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

/// What a public listening socket serves; a binary upgrade names each socket it hands over by
/// its kind and its configured address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `listen`.
    Http,
    /// `tls_listen`.
    Https,
    /// `--admin-listen`.
    Admin,
    /// `push_listen` (WebSocket APIs' reverse-push endpoint).
    Push,
    /// `--metrics-listen`.
    Metrics,
}

impl Kind {
    /// The name used in the hand-over.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Https => "https",
            Kind::Admin => "admin",
            Kind::Push => "push",
            Kind::Metrics => "metrics",
        }
    }

    /// The kind a hand-over name stands for.
    pub fn from_name(name: &str) -> Option<Kind> {
        [Kind::Http, Kind::Https, Kind::Admin, Kind::Push, Kind::Metrics].into_iter().find(|kind| kind.name() == name)
    }
}

/// A listening socket as a binary upgrade hands it over: what it serves, the address the
/// configuration gave (port 0 stays 0, so that the next process finds it under the same name),
/// and the socket.
#[derive(Debug)]
pub struct Handed {
    /// What it serves.
    pub kind: Kind,
    /// The address as configured.
    pub configured: SocketAddr,
    /// The socket (an owned duplicate).
    pub socket: OwnedFd,
}

/// Where this process's public listening sockets come from, and a duplicate of each one it
/// serves (see the module docs).
pub struct Sockets {
    /// Handed over by the process this one replaces, not claimed yet.
    inherited: Vec<Handed>,
    /// Every listening socket this process serves.
    held: Vec<Handed>,
    backlog: i32,
}

impl Sockets {
    /// Binds fresh sockets with `backlog`, adopting `inherited` ones where they match.
    pub fn new(inherited: Vec<Handed>, backlog: i32) -> Self {
        Sockets { inherited, held: Vec::new(), backlog }
    }

    /// For each address, one socket per worker: the handed-over ones for it when there are (a
    /// worker may get more than one when the previous process had more workers; more are bound
    /// beside them, SO_REUSEPORT, when it had fewer), else fresh ones ([`bind_all`]).
    pub fn bind_all(&mut self, kind: Kind, addresses: &[SocketAddr], workers: usize) -> io::Result<BoundListeners> {
        let workers = workers.max(1);
        let mut per_worker: Vec<Vec<TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut bound = Vec::new();
        for &address in addresses {
            let mut sockets: Vec<TcpListener> = self.take(kind, address).into_iter().map(TcpListener::from).collect();
            if sockets.is_empty() {
                sockets = bind_all(&[address], workers, self.backlog)?.per_worker.into_iter().flatten().collect();
            } else {
                let concrete = sockets[0].local_addr()?;
                while sockets.len() < workers {
                    sockets.push(bind_one(concrete, self.backlog).map_err(|error| {
                        io::Error::new(error.kind(), format!("cannot listen on {address}: {error}"))
                    })?);
                }
                tracing::info!(
                    kind = kind.name(),
                    sockets = sockets.len(),
                    "adopted the listening sockets for {concrete}"
                );
            }
            bound.push(sockets[0].local_addr()?);
            for (index, socket) in sockets.into_iter().enumerate() {
                self.hold(kind, address, &socket)?;
                per_worker[index % workers].push(socket);
            }
        }
        Ok(BoundListeners { per_worker, addresses: bound })
    }

    /// One plain socket (no SO_REUSEPORT; the admin API's): the handed-over one when there is,
    /// else a fresh one.
    pub fn bind_plain(&mut self, kind: Kind, address: SocketAddr) -> io::Result<TcpListener> {
        let listener = match self.take(kind, address).into_iter().next() {
            Some(socket) => TcpListener::from(socket),
            None => TcpListener::bind(address)?,
        };
        self.hold(kind, address, &listener)?;
        Ok(listener)
    }

    /// Every listening socket this process serves, to hand over.
    pub fn held(&self) -> &[Handed] {
        &self.held
    }

    /// Closes the duplicates: from then on a socket closes when its worker drops it, as at a
    /// shutdown, where a socket nobody accepts on should refuse connections rather than queue
    /// them. Handed-over sockets nobody claimed close here too.
    pub fn close_held(&mut self) {
        self.held.clear();
        self.inherited.clear();
    }

    /// Handed-over sockets the configuration no longer asks for (it dropped an address): they
    /// close once the process that handed them over has drained.
    pub fn unclaimed(&self) -> impl Iterator<Item = (Kind, SocketAddr)> + '_ {
        self.inherited.iter().map(|socket| (socket.kind, socket.configured))
    }

    fn take(&mut self, kind: Kind, address: SocketAddr) -> Vec<OwnedFd> {
        let (taken, kept) = std::mem::take(&mut self.inherited)
            .into_iter()
            .partition(|socket| socket.kind == kind && socket.configured == address);
        self.inherited = kept;
        taken.into_iter().map(|socket: Handed| socket.socket).collect()
    }

    fn hold(&mut self, kind: Kind, configured: SocketAddr, listener: &TcpListener) -> io::Result<()> {
        let socket = listener.as_fd().try_clone_to_owned()?;
        self.held.push(Handed { kind, configured, socket });
        Ok(())
    }
}
