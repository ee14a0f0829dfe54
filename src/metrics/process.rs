//! The process's own gauges, read from `/proc` when scraped: resident memory, open files, CPU
//! time and start time, under the names Prometheus's client libraries use for them.

/// What `/proc/self` says now; fields it could not read are `None`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessSample {
    /// Resident set size.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// User and system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Start time, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// Reads the sample (a few small `/proc` files; the scrape's thread, never a worker).
pub fn sample() -> ProcessSample {
    // SAFETY: sysconf has no memory effects.
    let (page, ticks) = unsafe { (libc::sysconf(libc::_SC_PAGESIZE), libc::sysconf(libc::_SC_CLK_TCK)) };
    let page = u64::try_from(page).unwrap_or(4096);
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let mut sample = ProcessSample::default();
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        let mut fields = statm.split_whitespace().map(|field| field.parse::<u64>().ok());
        sample.virtual_bytes = fields.next().flatten().map(|pages| pages * page);
        sample.resident_bytes = fields.next().flatten().map(|pages| pages * page);
    }
    sample.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|entries| entries.count() as u64);
    // SAFETY: getrlimit fills a stack struct for this process.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            sample.max_fds = Some(limit.rlim_cur);
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        // `after` starts at field 3 (state): utime is field 14, stime 15, starttime 22.
        let field = |number: usize| fields.get(number - 3).and_then(|text| text.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (field(14), field(15)) {
            sample.cpu_seconds = Some((user + system) / ticks);
        }
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|text| {
            text.lines().find_map(|line| line.strip_prefix("btime ").and_then(|value| value.trim().parse::<f64>().ok()))
        });
        if let (Some(started), Some(boot)) = (field(22), boot) {
            sample.start_time_seconds = Some(boot + started / ticks);
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_reads_this_process() {
        let sample = super::sample();
        assert!(sample.resident_bytes.unwrap() > 1 << 20);
        assert!(sample.open_fds.unwrap() >= 3);
        assert!(sample.max_fds.unwrap() >= sample.open_fds.unwrap());
        let started = sample.start_time_seconds.unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0, "{started} vs {now}");
        assert!(sample.cpu_seconds.unwrap() >= 0.0);
    }
}
