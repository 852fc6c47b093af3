//! Shared pieces of the channels benchmark: the server (`channels_server`) and the load
//! client (`channels_load`) both raise their open-files limit, read memory figures from
//! `/proc`, and time events on the machine-wide monotonic clock so that timestamps taken in
//! different processes can be compared.

use std::io;

/// The topic every load-client socket joins (a `room:*` channel on the server).
pub const TOPIC: &str = "room:bench";

/// The event the server broadcasts when asked to (`POST /broadcast`).
pub const TICK_EVENT: &str = "bench_tick";

/// Raise the soft `RLIMIT_NOFILE` to `want` (also the hard limit when the process may, i.e.
/// it has `CAP_SYS_RESOURCE`), else to the hard limit. Returns the `(soft, hard)` limits in
/// force afterwards.
pub fn raise_nofile(want: u64) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_max < want {
            let raised = libc::rlimit { rlim_cur: want, rlim_max: want };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Ok((want, want));
            }
        }
        let target = libc::rlimit { rlim_cur: want.min(lim.rlim_max), rlim_max: lim.rlim_max };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &target) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((target.rlim_cur, target.rlim_max))
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`, …); `pid` `None` is this process.
pub fn proc_status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process on the machine, so a
/// receipt time taken in a load-client worker compares with the send time taken by the
/// coordinator.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we pass; CLOCK_MONOTONIC always exists.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time (user + system) this process has used so far, in microseconds.
pub fn cpu_time_us() -> u64 {
    let (user, system) = cpu_times_us();
    user + system
}

/// CPU time this process has used so far in user space and in the kernel, in microseconds.
pub fn cpu_times_us() -> (u64, u64) {
    // SAFETY: getrusage writes the struct we pass; all-zero bytes are a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// The value at quantile `q` (0.0–1.0) of an ascending slice (nearest rank); 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn reads_own_rss() {
        assert!(proc_status_kib(None, "VmRSS").unwrap() > 0);
    }
}
