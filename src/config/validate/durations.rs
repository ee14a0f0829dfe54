//! The range of every duration the config file, the admin API and the command line accept: more
//! than 0 seconds and at most a cap per setting, checked once here so that nothing later has to.
//! Without a cap, `timeout = 9223372036854775807` passed, and then overflowed every deadline
//! computed from it (`Instant::now() + timeout`): each request to the API got 504 at once.
//!
//! The caps: Tencent's documented range where there is one (an API's backend timeout, a
//! function's init timeout), so a config that works here works in Tencent Cloud; one day for the
//! rest, the gateway's own settings, far past any useful value and far below an overflow.

use std::time::Duration;

use super::{ConfigError, Site};
use crate::config::file::Seconds;

/// The most a duration setting may be, and where that limit comes from.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    /// The largest value accepted, in seconds.
    pub seconds: u64,
    /// Why that value, as the error says it.
    pub source: &'static str,
}

/// An API's `timeout` (后端超时, `ServiceTimeout`): Tencent takes 1 to 1800 s (spec
/// tencent-migration §3, `serviceTimeout`; apigw-scf §6.1, 30 min for HTTP backends). Below 1 s
/// is allowed here, for fast local backends and tests.
pub const API_TIMEOUT: Cap = Cap { seconds: 1800, source: "Tencent's limit on an API's backend timeout" };

/// A function's `init_timeout` (初始化超时时间): SCF takes 3 to 300 s (spec tencent-migration §1.9).
pub const INIT_TIMEOUT: Cap = Cap { seconds: 300, source: "SCF's limit on a function's init timeout" };

/// Every other duration: a function's `idle_timeout` and `[gateway]`'s `idle_timeout`,
/// `header_timeout`, `pool_idle_timeout`, `shutdown_timeout`, `websocket_idle_timeout` (and their
/// flags). Tencent documents none of them.
pub const ONE_DAY: Cap = Cap { seconds: 86_400, source: "one day" };

impl Cap {
    /// What a value outside the range is told, up to the value itself.
    fn range(self) -> String {
        format!("must be a number of seconds greater than 0 and at most {} ({})", self.seconds, self.source)
    }

    /// `seconds` as a [`Duration`] when it is in range; otherwise the error, ending in the value.
    fn check(self, seconds: f64) -> Result<Duration, String> {
        // NaN fails both comparisons and so is refused too.
        if seconds > 0.0 && seconds <= self.seconds as f64 {
            Ok(Duration::from_secs_f64(seconds))
        } else {
            Err(format!("{}, got {}", self.range(), shown(seconds)))
        }
    }

    /// A command-line value (`--idle-timeout 30`): clap prints the error with the flag's name.
    pub fn parse_flag(self, text: &str) -> Result<Duration, String> {
        let seconds: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
        self.check(seconds).map_err(|_| self.range())
    }
}

/// A number of seconds as a user wrote it: whole numbers without a fraction, and the huge ones
/// that f64 cannot hold to the digit in exponent form rather than with digits the user never wrote.
fn shown(seconds: f64) -> String {
    if seconds.abs() >= 1e15 {
        format!("{seconds:?}")
    } else if seconds.fract() == 0.0 {
        format!("{}", seconds as i64)
    } else {
        format!("{seconds}")
    }
}

impl Site<'_> {
    /// A duration from the file (or the admin API), within `cap`.
    pub(super) fn duration(&self, field: &str, seconds: Seconds, cap: Cap) -> Result<Duration, ConfigError> {
        cap.check(seconds.0).map_err(|message| self.error(field, message))
    }

    /// A duration from the command line, parsed with [`Cap::parse_flag`] and checked again here
    /// for callers that build [`crate::config::Overrides`] themselves.
    pub(super) fn flag_duration(&self, flag: &str, value: Duration, cap: Cap) -> Result<Duration, ConfigError> {
        if value.is_zero() || value > Duration::from_secs(cap.seconds) {
            return Err(self.error(flag, format!("{}, got {}", cap.range(), shown(value.as_secs_f64()))));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_and_out_of_range() {
        #[rustfmt::skip]
        let cases: &[(f64, Result<Duration, &str>)] = &[
            (0.25, Ok(Duration::from_millis(250))),
            (1800.0, Ok(Duration::from_secs(1800))),
            (1800.5, Err("…, got 1800.5")),
            (0.0, Err("…, got 0")),
            (-1.0, Err("…, got -1")),
            (f64::NAN, Err("…, got NaN")),
            (f64::INFINITY, Err("…, got inf")),
            // i64::MAX as TOML gives it: shown in exponent form, not as ...808.
            (i64::MAX as f64, Err("…, got 9.223372036854776e18")),
        ];
        let range =
            "must be a number of seconds greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout)";
        for (seconds, expected) in cases {
            let expected = expected.map_err(|message| message.replace('…', range));
            assert_eq!(API_TIMEOUT.check(*seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn flags_take_the_same_range() {
        let range = "must be a number of seconds greater than 0 and at most 86400 (one day)";
        assert_eq!(ONE_DAY.parse_flag("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(ONE_DAY.parse_flag("86400"), Ok(Duration::from_secs(86_400)));
        for text in ["86401", "9223372036854775807", "1e300", "inf", "NaN", "0", "-3"] {
            assert_eq!(ONE_DAY.parse_flag(text), Err(range.to_owned()), "{text}");
        }
        assert_eq!(ONE_DAY.parse_flag("soon"), Err("`soon` is not a number of seconds".to_owned()));
    }
}
