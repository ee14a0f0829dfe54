//! Which instance of a web function a request goes to, decided by the worker alone from the
//! function's board (`crate::function_host::web_instances`): a ready instance with room under
//! the function's `concurrency`, the least loaded first; or, when none is ready or every one is
//! full while another is starting, a short wait for one. It also owns this worker's counts of
//! requests per instance (published on the worker's control tick, never per request) and its
//! pooled connections to each instance.
//!
//! A wait is bounded by the API timeout (504) and by the function's `init_timeout`: a function
//! with no instance ready by then gets a 502 naming it, and one whose every instance keeps
//! failing to start gets that 502 at once. Everything here is per worker (`Rc`, `Cell`): the
//! board is only read, with relaxed loads.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::backend::pool::{BackendConnection, Pool, Spoken};
use crate::config::Function;
use crate::error::GatewayError;
use crate::function_host::web_instances::{InstanceState, WebInstances};

/// The first pause of a waiting request; it doubles up to [`LONGEST_POLL`], so a cold start of a
/// few milliseconds is caught quickly and a long one does not wake the worker needlessly.
const FIRST_POLL: Duration = Duration::from_millis(2);
const LONGEST_POLL: Duration = Duration::from_millis(20);
/// How long a request waits for the supervisor to start another instance when every ready one
/// is at its concurrency and none is starting yet: the supervisor learns of the request within
/// a worker tick (50 ms) and one of its own (20 ms). Past it the request goes to the least loaded
/// instance (`concurrency` is when to scale, not a cap: a web function's server takes more).
const SCALE_WAIT: Duration = Duration::from_millis(250);

/// This worker's side of one web function's instances (see the module docs).
pub struct WorkerInstances {
    board: Arc<WebInstances>,
    /// Requests waiting for an instance.
    waiting: Cell<usize>,
    /// Per instance: requests in flight on it from this worker.
    in_flight: Box<[Cell<usize>]>,
    /// Per instance: the count this worker last published (part of the board's summed load).
    reported: Box<[Cell<usize>]>,
    reported_waiting: Cell<usize>,
    /// Idle keep-alive connections, keyed by instance.
    pool: RefCell<Pool>,
    /// Per instance: the incarnation (process) the pooled connections lead to.
    pooled_incarnation: Box<[Cell<u64>]>,
    /// The function answered on an idle connection after a request that carried a body: it
    /// leaves bodies unread and takes them for requests. From then on, on this worker, a
    /// request with a body asks the function to close its connection after the answer.
    close_after_bodies: Cell<bool>,
    /// The function's name, for the log.
    label: Box<str>,
    /// The worker that last published this side's counts (see [`Drop`]).
    reporter: Cell<Option<usize>>,
}

impl Drop for WorkerInstances {
    /// The worker no longer serves this function's board (a reload replaced it, and the last
    /// request on it is done): its counts there drop to nothing. Otherwise the board would keep
    /// the last ones published, and an instance being drained would wait for a request that has
    /// long finished.
    fn drop(&mut self) {
        if let Some(worker) = self.reporter.get() {
            let published = self.reported_waiting.get() > 0 || self.reported.iter().any(|count| count.get() > 0);
            if published {
                self.board.report(worker, 0, self.reported.iter().map(|_| 0));
            }
        }
    }
}

impl WorkerInstances {
    /// This worker's side of `board`, pooling up to `pool_size` idle connections per instance.
    pub fn new(board: Arc<WebInstances>, label: &str, pool_size: usize, pool_idle_timeout: Duration) -> Self {
        let slots = board.slots();
        let cells = |value| (0..slots).map(|_| Cell::new(value)).collect::<Box<[_]>>();
        WorkerInstances {
            waiting: Cell::new(0),
            in_flight: cells(0),
            reported: cells(0),
            reported_waiting: Cell::new(0),
            pool: RefCell::new(Pool::new(slots, pool_size, pool_idle_timeout)),
            pooled_incarnation: (0..slots).map(|_| Cell::new(0)).collect(),
            close_after_bodies: Cell::new(false),
            label: label.into(),
            reporter: Cell::new(None),
            board,
        }
    }

    /// Whether a request with a body must ask the function to close the connection after its
    /// answer (see `close_after_bodies`).
    pub fn closes_after_bodies(&self) -> bool {
        self.close_after_bodies.get()
    }

    /// Learns from the pooled connections closed for speaking while idle.
    fn note_spoken(&self, spoken: Spoken) {
        if spoken.closed == 0 {
            return;
        }
        tracing::debug!(function = %self.label, closed = spoken.closed, "closed connections the function wrote to out of turn");
        if spoken.after_body > 0 && !self.close_after_bodies.replace(true) {
            tracing::warn!(
                function = %self.label,
                "web function answered on an idle connection after a request body: it leaves bodies unread and reads them as requests; requests with a body now get `Connection: close`, so that no answer reaches the wrong client"
            );
        }
    }

    /// The board this side reads.
    pub fn board(&self) -> &Arc<WebInstances> {
        &self.board
    }

    /// What this worker's pool to the instances did since last asked (the worker's metrics).
    pub fn take_pool_stats(&self) -> (crate::backend::pool::PoolStats, usize) {
        let mut pool = self.pool.borrow_mut();
        (pool.take_stats(), pool.idle_total())
    }

    /// Closes the pooled connections idle past `pool_idle_timeout` (the worker's control task).
    pub fn close_expired(&self, now: Instant) -> usize {
        let mut pool = self.pool.borrow_mut();
        let closed = pool.close_expired(now);
        self.note_spoken(pool.take_spoken());
        closed
    }

    /// Publishes this worker's counts to the board, when they changed (the worker's control task).
    pub fn report(&self, worker: usize) {
        self.reporter.set(Some(worker));
        let changed = self.waiting.get() != self.reported_waiting.get()
            || self.in_flight.iter().zip(self.reported.iter()).any(|(count, reported)| count.get() != reported.get());
        if !changed {
            return;
        }
        for (count, reported) in self.in_flight.iter().zip(self.reported.iter()) {
            reported.set(count.get());
        }
        self.reported_waiting.set(self.waiting.get());
        self.board.report(worker, self.waiting.get(), self.in_flight.iter().map(Cell::get));
    }

    /// Where a request should go now. `waited`: how long it has waited; `patient`: whether it
    /// may still wait for an instance with room; `refused`: an instance (and incarnation) that
    /// just refused this request's connection.
    fn pick(&self, waited: Duration, patient: bool, refused: Option<(usize, u64)>) -> Pick {
        let board = &*self.board;
        let mut least: Option<(usize, usize, u64)> = None;
        let (mut starting, mut live) = (false, 0);
        for slot in 0..board.slots() {
            let status = board.status(slot);
            match status.state {
                InstanceState::Ready => {
                    live += 1;
                    if refused == Some((slot, status.incarnation)) {
                        continue;
                    }
                    // Its load as the supervisor last summed it holds this worker's last report;
                    // this worker's own part is taken as it is now.
                    let others = board.load(slot).saturating_sub(self.reported[slot].get());
                    let score = self.in_flight[slot].get() + others;
                    // Ties go to the lowest slot: light traffic stays on few instances, so the
                    // extras fall idle and are stopped.
                    if least.is_none_or(|(best, ..)| score < best) {
                        least = Some((score, slot, status.incarnation));
                    }
                }
                InstanceState::Starting => {
                    live += 1;
                    starting = true;
                }
                InstanceState::Stopped | InstanceState::Draining => {}
            }
        }
        let Some((score, slot, incarnation)) = least else {
            return if board.failing() { Pick::Failing } else { Pick::Wait };
        };
        let more_coming = starting || (live < board.max_instances && waited < SCALE_WAIT);
        if score < board.concurrency || !patient || !more_coming {
            Pick::Instance { slot, incarnation }
        } else {
            Pick::Wait
        }
    }

    fn any_ready(&self) -> bool {
        (0..self.board.slots()).any(|slot| self.board.status(slot).state == InstanceState::Ready)
    }

    /// An idle pooled connection to `slot`, if it leads to the same process (`incarnation`).
    fn take_pooled(&self, slot: usize, incarnation: u64) -> Option<BackendConnection> {
        let mut pool = self.pool.borrow_mut();
        if self.pooled_incarnation[slot].get() != incarnation {
            // The instance restarted: connections to its earlier process are dropped (closed).
            pool.close_all(slot);
            self.pooled_incarnation[slot].set(incarnation);
            pool.take_stats_miss();
            return None;
        }
        let taken = pool.take(slot);
        let spoken = pool.take_spoken();
        drop(pool);
        self.note_spoken(spoken);
        taken
    }
}

enum Pick {
    /// Send it to this instance.
    Instance { slot: usize, incarnation: u64 },
    /// No instance can take it yet.
    Wait,
    /// The function cannot start: fail now.
    Failing,
}

/// A request's place on one instance: counted in flight there until dropped.
pub struct Lease {
    instances: Rc<WorkerInstances>,
    slot: usize,
    incarnation: u64,
}

impl Lease {
    fn new(instances: Rc<WorkerInstances>, slot: usize, incarnation: u64) -> Self {
        let count = &instances.in_flight[slot];
        count.set(count.get() + 1);
        Lease { instances, slot, incarnation }
    }

    /// A new connection to the same instance (a pooled one turned out to be closed), by `deadline`.
    pub async fn connect_fresh(
        &self,
        function: &Function,
        deadline: Instant,
    ) -> Result<BackendConnection, GatewayError> {
        let address = self.instances.board.address(self.slot);
        match monoio::time::timeout_at(deadline.into(), TcpStream::connect_addr(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(BackendConnection::tcp(stream))
            }
            Ok(Err(_)) => Err(GatewayError::WebFunctionFailed(format!(
                "web function {} stopped accepting connections (port {}); it is restarting, see the gateway log",
                function.display_name(),
                address.port()
            ))),
            Err(_) => Err(GatewayError::BackendTimeout),
        }
    }

    /// Returns a connection that finished a whole, cleanly framed response to the pool, unless
    /// its instance has since stopped taking requests or restarted.
    pub fn release(&self, connection: BackendConnection) {
        let status = self.instances.board.status(self.slot);
        if status.state != InstanceState::Ready || status.incarnation != self.incarnation {
            return;
        }
        if self.instances.pooled_incarnation[self.slot].get() != self.incarnation {
            let mut pool = self.instances.pool.borrow_mut();
            while pool.take(self.slot).is_some() {}
            self.instances.pooled_incarnation[self.slot].set(self.incarnation);
        }
        self.instances.pool.borrow_mut().put(self.slot, connection);
    }
}

/// A fresh connection for a request whose pooled connection turned out dead (nothing of the
/// answer came back, so sending it again is safe): to the same instance, or, when that refuses
/// (its process just died, and the supervisor has not said so yet), to another instance or to
/// this one once restarted, waiting as [`acquire`] does until `timeout_at`. Only the request
/// the dead process was serving gets a 502, never one that merely found it gone.
pub async fn reconnect(
    lease: Lease,
    instances: &Rc<WorkerInstances>,
    function: &Function,
    timeout_at: Instant,
) -> Result<(Lease, BackendConnection), GatewayError> {
    match lease.connect_fresh(function, timeout_at).await {
        Ok(connection) => Ok((lease, connection)),
        Err(GatewayError::BackendTimeout) => Err(GatewayError::BackendTimeout),
        Err(_) => {
            let refused = (lease.slot, lease.incarnation);
            drop(lease);
            let (lease, connection, _) =
                acquire(instances, function, Instant::now(), timeout_at, Some(refused)).await?;
            Ok((lease, connection))
        }
    }
}

impl Lease {
    /// The function sent bytes after a whole response on `connection` (which is then closed):
    /// counted as a pooled connection that spoke while idle.
    pub fn spoke_out_of_turn(&self, connection: &BackendConnection) {
        self.instances.note_spoken(Spoken { closed: 1, after_body: usize::from(connection.carried_body) });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let count = &self.instances.in_flight[self.slot];
        count.set(count.get().saturating_sub(1));
    }
}

/// A request counted as waiting for an instance until dropped.
struct Waiting(Rc<WorkerInstances>);

impl Waiting {
    fn new(instances: &Rc<WorkerInstances>) -> Self {
        instances.waiting.set(instances.waiting.get() + 1);
        Waiting(instances.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.set(self.0.waiting.get().saturating_sub(1));
    }
}

/// A connection to an instance of `function` for one request that `arrived` then, and the
/// request's lease on that instance; `true` when the connection came from the pool. Waits as the
/// module docs say, until `timeout_at` (the API's timeout) at the latest. `refused`: an instance
/// (and incarnation) known not to accept connections, passed over until it restarts.
pub async fn acquire(
    instances: &Rc<WorkerInstances>,
    function: &Function,
    arrived: Instant,
    timeout_at: Instant,
    refused: Option<(usize, u64)>,
) -> Result<(Lease, BackendConnection, bool), GatewayError> {
    let board = instances.board.clone();
    let cold_start_limit = arrived + board.init_timeout;
    // The first look uses the caller's clock reading: the usual case (a ready instance, a
    // pooled connection) reads the clock no more.
    let mut now = arrived;
    let mut waiting: Option<Waiting> = None;
    let mut refused = refused;
    let mut poll = FIRST_POLL;
    loop {
        match instances.pick(now - arrived, now < cold_start_limit, refused) {
            Pick::Instance { slot, incarnation } => {
                let lease = Lease::new(instances.clone(), slot, incarnation);
                drop(waiting.take());
                if let Some(pooled) = instances.take_pooled(slot, incarnation) {
                    return Ok((lease, pooled, true));
                }
                match monoio::time::timeout_at(timeout_at.into(), TcpStream::connect_addr(board.address(slot))).await {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        return Ok((lease, BackendConnection::tcp(stream), false));
                    }
                    // It stopped since it was published ready; the supervisor sees that within a
                    // tick. Meanwhile another instance, or a wait.
                    Ok(Err(_)) => refused = Some((slot, incarnation)),
                    Err(_) => return Err(GatewayError::BackendTimeout),
                }
            }
            Pick::Failing => {
                return Err(GatewayError::WebFunctionFailed(match board.failure() {
                    Some(reason) => reason.to_string(),
                    None => format!(
                        "web function {} is not running: its scf_bootstrap keeps exiting or failing to start (see the gateway log)",
                        function.display_name()
                    ),
                }))
            }
            Pick::Wait => {}
        }
        if waiting.is_none() {
            waiting = Some(Waiting::new(instances));
        }
        now = Instant::now();
        if now >= timeout_at {
            return Err(GatewayError::BackendTimeout);
        }
        if now >= cold_start_limit && !instances.any_ready() {
            return Err(GatewayError::WebFunctionFailed(format!(
                "web function {} did not accept connections within its init_timeout ({} s); it is starting or restarting, see the gateway log",
                function.display_name(),
                board.init_timeout.as_secs_f64()
            )));
        }
        monoio::time::sleep(poll.min(timeout_at - now)).await;
        poll = (poll * 2).min(LONGEST_POLL);
        now = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function_host::web_instances::InstanceStatus;

    #[test]
    fn a_workers_counts_leave_the_board_with_its_side() {
        let board = board(&[InstanceState::Ready, InstanceState::Ready], 1, 2);
        let side = Rc::new(WorkerInstances::new(board.clone(), "test", 1, Duration::from_secs(1)));
        let lease = Lease::new(side.clone(), 1, 1);
        side.report(0);
        let mut loads = [0; 2];
        board.sum_reports(&mut loads);
        assert_eq!(loads, [0, 1], "the request in flight is published");
        // A reload replaced the board: the worker stops publishing, then its last request ends.
        drop(side);
        drop(lease);
        board.sum_reports(&mut loads);
        assert_eq!(loads, [0, 0], "a finished request must not keep an instance busy");
    }

    fn board(states: &[InstanceState], concurrency: usize, max_instances: usize) -> Arc<WebInstances> {
        let addresses =
            (0..states.len()).map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], 9000 + port as u16))).collect();
        let board = Arc::new(WebInstances::new(addresses, 1, concurrency, max_instances, Duration::from_secs(1)));
        for (slot, &state) in states.iter().enumerate() {
            board.set_status(slot, InstanceStatus { state, incarnation: 1 });
        }
        board
    }

    #[test]
    fn picks_a_ready_instance_with_room_or_waits_for_one() {
        use InstanceState::{Draining as D, Ready as R, Starting as S, Stopped as X};
        let long = SCALE_WAIT * 2;
        /// (states, this worker's in flight per slot, concurrency, max_instances, waited, patient,
        /// the slot picked or `None` for a wait)
        type Case<'a> = (&'a [InstanceState], &'a [usize], usize, usize, Duration, bool, Option<usize>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (&[R, R], &[0, 0], 1, 2, Duration::ZERO, true, Some(0)),  // ties: the lowest slot
            (&[R, R], &[1, 0], 1, 2, Duration::ZERO, true, Some(1)),  // the one with room
            (&[S, R], &[0, 0], 1, 2, Duration::ZERO, true, Some(1)),  // starting ones are not sent to
            (&[D, X], &[0, 0], 1, 2, Duration::ZERO, true, None),     // none ready: wait
            (&[R, S], &[1, 0], 1, 2, long, true, None),               // full, one starting: wait for it
            (&[R, S], &[1, 0], 1, 2, long, false, Some(0)),           // ... unless past init_timeout
            (&[R, X], &[1, 0], 1, 2, Duration::ZERO, true, None),     // full, may scale: wait a little
            (&[R, X], &[1, 0], 1, 2, long, true, Some(0)),            // ... then the least loaded
            (&[R, X], &[1, 0], 1, 1, Duration::ZERO, true, Some(0)),  // at max_instances: no wait
            (&[R, R], &[3, 2], 4, 2, Duration::ZERO, true, Some(1)),  // concurrency 4: room on both
        ];
        for (number, (states, in_flight, concurrency, max_instances, waited, patient, expected)) in
            cases.iter().enumerate()
        {
            let instances =
                WorkerInstances::new(board(states, *concurrency, *max_instances), "test", 1, Duration::from_secs(1));
            for (slot, &count) in in_flight.iter().enumerate() {
                instances.in_flight[slot].set(count);
            }
            let picked = match instances.pick(*waited, *patient, None) {
                Pick::Instance { slot, .. } => Some(slot),
                Pick::Wait => None,
                Pick::Failing => panic!("case {number}: failing"),
            };
            assert_eq!(picked, *expected, "case {number}");
        }
    }

    #[test]
    fn other_workers_load_counts_and_refused_instances_are_skipped() {
        let instances = WorkerInstances::new(
            board(&[InstanceState::Ready, InstanceState::Ready], 1, 2),
            "test",
            1,
            Duration::from_secs(1),
        );
        // Another worker has a request on slot 0 (the summed load holds none of this worker's).
        instances.board.set_load(0, 1);
        assert!(matches!(instances.pick(Duration::ZERO, true, None), Pick::Instance { slot: 1, .. }));
        // Slot 1 just refused this request: slot 0, full but the only one (max_instances reached).
        assert!(matches!(instances.pick(Duration::ZERO, true, Some((1, 1))), Pick::Instance { slot: 0, .. }));
        // A function whose every instance keeps failing: no waiting.
        let failing = WorkerInstances::new(board(&[InstanceState::Starting], 1, 1), "test", 1, Duration::from_secs(1));
        failing.board.set_failing(true, None);
        assert!(matches!(failing.pick(Duration::ZERO, true, None), Pick::Failing));
    }
}
