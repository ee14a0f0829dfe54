//! The loopback ports web functions' instances listen on: chosen for new functions (so no two
//! slots share one), the address the gateway reaches an instance at, and whether a port is free.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};

/// Chooses the loopback ports of new web functions' instance slots. A function that insists on
/// a port gets it and runs one instance; every other function gets `max_instances` free ports,
/// found by binding `127.0.0.1:0`, plus one spare: with `--watch`, new code starts there and is
/// ready before an old instance stops. Every probe socket stays bound as long as the chooser, so
/// no two slots get the same port; the function binds its port moments later (a port taken in
/// between shows up as a process that cannot start, and is retried like any other failed start).
#[derive(Default)]
pub struct PortChooser {
    probes: Vec<TcpListener>,
}

impl PortChooser {
    /// The ports of a new function's slots: `port` alone, or `max_instances + 1` free ones.
    pub fn choose(&mut self, port: Option<u16>, max_instances: usize) -> io::Result<Vec<u16>> {
        if let Some(port) = port {
            return Ok(vec![port]);
        }
        (0..max_instances + 1)
            .map(|_| {
                let probe = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
                let port = probe.local_addr()?.port();
                self.probes.push(probe);
                Ok(port)
            })
            .collect()
    }
}

/// The address the gateway reaches an instance on.
pub fn instance_address(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Whether nothing listens on loopback `port` (a process of ours may bind it), checked by
/// binding it as servers do (`SO_REUSEADDR`, so connections lingering in TIME_WAIT do not count).
pub fn port_is_free(port: u16) -> bool {
    let Ok(socket) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None) else { return false };
    let _ = socket.set_reuse_address(true);
    socket.bind(&instance_address(port).into()).is_ok()
}
