//! One monoio runtime per worker thread, on the fastest I/O driver the kernel accepts.
//!
//! Measured on the project's kernel (see `shared/spec/toolchain.md` and PERF.md), io_uring with
//! default ring flags was slower than epoll, and io_uring with `SINGLE_ISSUER | DEFER_TASKRUN`
//! faster than both. So `auto` tries that tuned ring first, then a plain ring, then epoll, and the
//! choice is probed once at start (and logged) rather than discovered per worker.

use std::future::Future;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::config::DriverChoice;

/// The driver the workers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveDriver {
    /// io_uring with `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1+).
    UringTuned,
    /// io_uring with default flags.
    Uring,
    /// epoll.
    Legacy,
}

impl ActiveDriver {
    /// A short description for logs.
    pub fn describe(self) -> &'static str {
        match self {
            ActiveDriver::UringTuned => "io_uring (SINGLE_ISSUER|DEFER_TASKRUN)",
            ActiveDriver::Uring => "io_uring (default ring flags)",
            ActiveDriver::Legacy => "epoll (legacy driver)",
        }
    }
}

fn tuned_ring_builder() -> io_uring::Builder {
    let mut builder = io_uring::IoUring::builder();
    builder.setup_single_issuer().setup_defer_taskrun();
    builder
}

/// Decides which driver to use by creating (and dropping) small rings.
pub fn probe(choice: DriverChoice) -> Result<ActiveDriver, String> {
    if choice == DriverChoice::Legacy {
        return Ok(ActiveDriver::Legacy);
    }
    if std::env::var_os("MONOIO_FORCE_LEGACY_DRIVER").is_some() && choice == DriverChoice::Auto {
        return Ok(ActiveDriver::Legacy);
    }
    if tuned_ring_builder().build(8).is_ok() {
        return Ok(ActiveDriver::UringTuned);
    }
    match io_uring::IoUring::new(8) {
        Ok(_) => Ok(ActiveDriver::Uring),
        Err(error) if choice == DriverChoice::Uring => Err(format!("io_uring is not available: {error}")),
        Err(_) => Ok(ActiveDriver::Legacy),
    }
}

/// Builds a runtime for `driver` on the current thread and runs `future` to completion on it.
pub fn block_on<F: Future>(driver: ActiveDriver, ring_entries: u32, future: F) -> std::io::Result<F::Output> {
    Ok(match driver {
        ActiveDriver::UringTuned => RuntimeBuilder::<IoUringDriver>::new()
            .uring_builder(tuned_ring_builder())
            .with_entries(ring_entries)
            .enable_timer()
            .build()?
            .block_on(future),
        ActiveDriver::Uring => {
            RuntimeBuilder::<IoUringDriver>::new().with_entries(ring_entries).enable_timer().build()?.block_on(future)
        }
        ActiveDriver::Legacy => RuntimeBuilder::<LegacyDriver>::new().enable_timer().build()?.block_on(future),
    })
}
