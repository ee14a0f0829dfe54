//! A stand-in for systemd's notification socket: a Unix datagram socket the test binds and
//! passes to the gateway as `NOTIFY_SOCKET`, keeping every datagram it receives, in order.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::TempDir;

/// The socket and what came in so far.
pub struct NotifySocket {
    socket: UnixDatagram,
    /// Where it is bound (the value of `NOTIFY_SOCKET`).
    pub path: PathBuf,
    received: std::cell::RefCell<Vec<String>>,
}

impl NotifySocket {
    /// Binds `notify.sock` in `dir`.
    pub fn bind(dir: &TempDir) -> NotifySocket {
        let path = dir.path.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { socket, path, received: Default::default() }
    }

    /// `NOTIFY_SOCKET`'s value.
    pub fn env(&self) -> &str {
        self.path.to_str().expect("a UTF-8 path")
    }

    fn read(&self, timeout: Duration) -> bool {
        self.socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
        let mut buffer = vec![0u8; 64 * 1024];
        match self.socket.recv(&mut buffer) {
            Ok(length) => {
                self.received.borrow_mut().push(String::from_utf8_lossy(&buffer[..length]).into_owned());
                true
            }
            Err(_) => false,
        }
    }

    /// Every datagram received so far (reading what is already waiting first).
    pub fn messages(&self) -> Vec<String> {
        while self.read(Duration::from_millis(1)) {}
        self.received.borrow().clone()
    }

    /// Waits until some datagram from index `from` on has every line of `lines`; returns its
    /// index, or `None` when `limit` passes first.
    pub fn wait_for(&self, from: usize, lines: &[&str], limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self.received.borrow().iter().enumerate().skip(from).find_map(|(index, message)| {
                lines.iter().all(|line| message.lines().any(|have| have == *line)).then_some(index)
            });
            if found.is_some() {
                return found;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.read(deadline - now);
        }
    }

    /// Waits for a datagram from index `from` on that has a line starting with `prefix`.
    pub fn wait_for_prefix(&self, from: usize, prefix: &str, limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .received
                .borrow()
                .iter()
                .enumerate()
                .skip(from)
                .find_map(|(index, message)| message.lines().any(|line| line.starts_with(prefix)).then_some(index));
            if found.is_some() {
                return found;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.read(deadline - now);
        }
    }

    /// The received datagrams, for failure messages.
    pub fn dump(&self) -> String {
        self.messages().join("\n---\n")
    }
}
