//! The admin listener's open connections, and which one gives way when there are too many.
//!
//! Each connection has a thread of its own, so their number is capped. A connection that waits
//! for a request (idle between keep-alive requests, or still sending its head or body) is held
//! before any token check, so at the cap a new connection closes the one that has waited
//! longest for a request, as nginx closes idle keep-alive connections when its
//! `worker_connections` run out (`ngx_drain_connections`). Only when every connection is being
//! answered does a new one get 503. Idle or slow connections therefore cannot lock an operator
//! out; a connection is never closed while its request is handled or its response written.

use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The open connections: a few dozen at most, so a list scanned under one lock.
pub struct Connections {
    capacity: usize,
    table: Mutex<Table>,
}

struct Table {
    next_id: u64,
    open: Vec<Open>,
}

struct Open {
    id: u64,
    /// A handle on the connection's socket, to close it from the accepting thread.
    stream: TcpStream,
    /// Since when it has waited for a request; `None` while one is being answered.
    waiting_since: Option<Instant>,
}

/// One admitted connection's place; dropping it (when its thread ends) frees the place.
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
}

impl Connections {
    /// Room for `capacity` connections at once.
    pub fn new(capacity: usize) -> Arc<Connections> {
        Arc::new(Connections { capacity, table: Mutex::new(Table { next_id: 0, open: Vec::new() }) })
    }

    /// Takes a place for `stream`, which starts out waiting for its first request. At capacity
    /// the connection that has waited longest for a request is closed to make room; `None` when
    /// every one is being answered.
    pub fn admit(self: &Arc<Connections>, stream: &TcpStream) -> Option<Slot> {
        let handle = stream.try_clone().ok()?;
        let mut table = self.lock();
        if table.open.len() >= self.capacity {
            let (index, _) = table
                .open
                .iter()
                .enumerate()
                .filter_map(|(index, open)| open.waiting_since.map(|since| (index, since)))
                .min_by_key(|&(_, since)| since)?;
            let shed = table.open.swap_remove(index);
            // Its thread, blocked in a read, sees the connection end and exits.
            let _ = shed.stream.shutdown(Shutdown::Both);
            let peer = shed.stream.peer_addr().map(|address| address.to_string()).unwrap_or_default();
            tracing::debug!(target: "admin", client = peer, "admin: closed the connection that had waited longest for a request, to make room");
        }
        table.next_id += 1;
        let id = table.next_id;
        table.open.push(Open { id, stream: handle, waiting_since: Some(Instant::now()) });
        Some(Slot { connections: self.clone(), id })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the connection's waiting time; false when it was closed to make room.
    fn mark(&self, id: u64, waiting_since: Option<Instant>) -> bool {
        let mut table = self.lock();
        match table.open.iter_mut().find(|open| open.id == id) {
            Some(open) => {
                open.waiting_since = waiting_since;
                true
            }
            None => false,
        }
    }
}

impl Slot {
    /// The connection now waits for a request: from now on it may give way to a new one.
    pub fn waiting(&self) {
        self.connections.mark(self.id, Some(Instant::now()));
    }

    /// A whole request has arrived: the connection is not closed until it waits again. False
    /// when it was closed to make room before that, and the request must not be handled.
    pub fn busy(&self) -> bool {
        self.connections.mark(self.id, None)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.lock().open.retain(|open| open.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A connected pair: (the client's end, the server's end).
    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn closed(client: &mut TcpStream) -> bool {
        client.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        matches!(client.read(&mut [0u8; 1]), Ok(0))
    }

    #[test]
    fn at_capacity_the_longest_waiting_gives_way_and_busy_ones_never_do() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let connections = Connections::new(2);
        let (mut first_client, first) = pair(&listener);
        let (_second_client, second) = pair(&listener);
        let first_slot = connections.admit(&first).unwrap();
        let second_slot = connections.admit(&second).unwrap();

        // Both are being answered: a third is refused, and nobody is closed.
        assert!(first_slot.busy() && second_slot.busy());
        let (_third_client, third) = pair(&listener);
        assert!(connections.admit(&third).is_none());
        assert_eq!(connections.len(), 2);

        // Both wait again, the first for longer: the third takes its place.
        first_slot.waiting();
        second_slot.waiting();
        let third_slot = connections.admit(&third).unwrap();
        assert!(closed(&mut first_client), "the longest-waiting connection was not closed");
        assert!(!first_slot.busy(), "a request that arrives on a closed connection is handled");
        assert!(second_slot.busy());

        // Places are freed when connections end.
        drop((first_slot, third_slot));
        assert_eq!(connections.len(), 1);
        drop(second_slot);
        assert_eq!(connections.len(), 0);
    }
}
