//! WebSocket APIs (`protocol = "ws"`, `"wss"`, `"ws&wss"`), Tencent's model (spec §5.2): an
//! upgrade request invokes the API's **register** function with the connect event (its `errNo`
//! 0 accepts), each message from the client invokes **transport**, the end of the connection
//! invokes **cleanup**, and functions write to clients (or close them) by POSTing to the
//! **reverse-push** endpoint. This module owns the WebSocket side only; `crate::connection`
//! hands it a routed upgrade request after the API's policies passed, and `crate::backend`
//! invokes the functions.
//!
//! Order of a connection's life: [`handshake`] checks the request, [`id`] names the connection,
//! [`event`] writes the connect event, [`session`] runs the register call, the 101, and then the
//! frames ([`frame`]) both ways until the end, and the cleanup call; [`outbox`] holds what is
//! waiting to be written to the client; [`push`] serves the reverse-push endpoint.
//!
//! # Reaching a connection from any core
//!
//! A connection lives on the worker that accepted it, in that worker's [`WorkerSockets`] table,
//! and nowhere else: no table is shared between cores. Its `secConnectionID` carries the
//! worker's index ([`id`]), so whoever holds the id knows which core to ask. Every worker
//! accepts pushes on `push_listen` (SO_REUSEPORT, like the HTTP listeners); a push for a
//! connection of another worker is forwarded, over pooled loopback HTTP, to that worker's own
//! private loopback port, whose path carries a secret made at start so that only the gateway
//! can use it. There the connection's outbox takes the frame and wakes its writer. So a push
//! costs one extra loopback hop when it lands on the wrong core (the same hop the gateway already
//! makes to reach local functions, `crate::function_host`), and nothing on the data path takes
//! a lock or touches an atomic. monoio is built without cross-thread wakers, which rules out
//! waking another core's task directly; a loopback socket per worker is the wake-up mechanism
//! the runtime already has.

pub mod event;
pub mod frame;
pub mod handshake;
pub mod id;
pub mod outbox;
pub mod push;
pub mod session;
pub(crate) mod split;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub use session::{serve, Upgrade};

use id::{ConnectionId, IdSource};
use outbox::Outbox;

/// One worker's WebSocket connections, by the key in their id, and its id source.
pub struct WorkerSockets {
    index: usize,
    ids: IdSource,
    connections: RefCell<HashMap<u64, (ConnectionId, Rc<Outbox>)>>,
    forwarder: RefCell<Option<Rc<push::Forwarder>>>,
}

impl WorkerSockets {
    /// The table of worker `index`.
    pub fn new(index: usize) -> Self {
        WorkerSockets {
            index,
            ids: IdSource::new(index),
            connections: RefCell::new(HashMap::new()),
            forwarder: RefCell::new(None),
        }
    }

    /// The worker's index (the one its connection ids carry).
    pub fn index(&self) -> usize {
        self.index
    }

    /// An id for a new connection of this worker.
    pub fn next_id(&self) -> ConnectionId {
        self.ids.next()
    }

    /// Makes the connection reachable by pushes until the returned guard is dropped.
    pub fn register(&self, id: ConnectionId, outbox: Rc<Outbox>) -> Registered<'_> {
        self.connections.borrow_mut().insert(id.key(), (id, outbox));
        Registered { sockets: self, key: id.key() }
    }

    /// The outbox of connection `id`, if it is open on this worker.
    pub fn find(&self, id: &ConnectionId) -> Option<Rc<Outbox>> {
        match self.connections.borrow().get(&id.key()) {
            // The whole id must match: the key alone would let a stale or guessed id through.
            Some((known, outbox)) if known == id => Some(outbox.clone()),
            _ => None,
        }
    }

    /// Connections open on this worker.
    pub fn open_connections(&self) -> usize {
        self.connections.borrow().len()
    }

    /// Starts closing every connection (shutdown): each is sent a close frame with `code`.
    pub fn close_all(&self, code: u16, reason: &str) {
        let outboxes: Vec<Rc<Outbox>> = self.connections.borrow().values().map(|(_, outbox)| outbox.clone()).collect();
        for outbox in outboxes {
            outbox.close(Some(code), reason, true);
        }
    }
}

/// A registered connection; dropping it makes the connection unreachable.
pub struct Registered<'a> {
    sockets: &'a WorkerSockets,
    key: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.sockets.connections.borrow_mut().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_finds_whole_ids_only() {
        let sockets = WorkerSockets::new(2);
        let id = sockets.next_id();
        assert_eq!(id.worker(), 2);
        let registered = sockets.register(id, Rc::new(Outbox::new(16)));
        assert!(sockets.find(&id).is_some());
        // Same key, other random half: a stale id from an earlier run.
        let mut text = id.encode();
        text[20] = if text[20] == b'A' { b'B' } else { b'A' };
        let forged = ConnectionId::decode(&text).unwrap();
        assert_eq!(forged.key(), id.key());
        assert!(sockets.find(&forged).is_none());
        drop(registered);
        assert!(sockets.find(&id).is_none());
        assert_eq!(sockets.open_connections(), 0);
    }
}
