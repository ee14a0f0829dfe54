//! `[gateway]` → [`GatewaySettings`]: listeners, workers, limits and timeouts with their
//! defaults, the command-line overrides that win over the file (errors name the flag), the
//! Tencent identity (`region`, `appid`, `uin`) and the WebSocket push settings, including the rule
//! that a push endpoint off loopback needs a token.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use super::durations::ONE_DAY;
use super::{ConfigError, Site};
use crate::config::file::{self, Seconds};
use crate::config::{Api, DriverChoice, GatewaySettings, Overrides, PushToken, TencentIdentity, WebSocketSettings};

/// SCF's limit on a synchronous invocation's request and response payload (spec §6.1).
const SCF_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080));
const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Long enough that a client sending request after request (a browser's burst, a load test)
/// never parks; short next to the idle timeout, so a held connection costs its parked size for
/// nearly all of it.
pub(super) const DEFAULT_PARK_AFTER_SECS: u64 = 1;
const DEFAULT_QUEUE_DEPTH: usize = 1024;
/// Idle backend connections a worker may keep per endpoint. High enough that connections follow
/// demand (as HAProxy's and Envoy's pools do by default) rather than being opened and closed per
/// request whenever more requests are in flight than the cap; the idle ones are closed after
/// `pool_idle_timeout`. At 256 connections on one worker, a cap of 64 cost 10.3 µs per request
/// against 9.0 µs (README, "Tuning").
const DEFAULT_POOL_SIZE: usize = 1024;
pub(super) const DEFAULT_MAX_CONNECTIONS: usize = 65_536;
pub(super) const DEFAULT_READ_BUFFER_BYTES: usize = 8 * 1024;
pub(super) const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// nginx's `send_timeout` default.
pub(super) const DEFAULT_SEND_TIMEOUT_SECS: u64 = 60;
/// `body_memory` per worker: ten bodies of SCF's 6 MiB at once.
pub(super) const DEFAULT_BODY_MEMORY_PER_WORKER: usize = 64 << 20;
const DEFAULT_POOL_IDLE_TIMEOUT_SECS: u64 = 30;
/// The reverse-push endpoint: loopback, so that by default only this machine's functions can push.
pub(super) const DEFAULT_PUSH_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8095));
/// The environment variable that holds the push token (it wins over `push_token` in the file).
pub const PUSH_TOKEN_ENV: &str = "SCFGATE_PUSH_TOKEN";
pub(super) const DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// AWS API Gateway's WebSocket idle timeout; Tencent documents none.
pub(super) const DEFAULT_WEBSOCKET_IDLE_TIMEOUT_SECS: u64 = 600;

pub(super) fn build_gateway(
    section: file::Gateway,
    overrides: &Overrides,
    source: &Path,
) -> Result<GatewaySettings, ConfigError> {
    let site = Site::new(source, "[gateway]".to_owned());
    // A bad flag value is reported against the flag, so the user does not hunt for it in the file.
    let flags = Site::new(source, "command line".to_owned());

    let listen = if !overrides.listen.is_empty() {
        overrides.listen.clone()
    } else {
        match section.listen {
            None => vec![DEFAULT_LISTEN],
            Some(list) if list.is_empty() => {
                return Err(site.error("listen", "at least one address is required"));
            }
            Some(list) => list
                .iter()
                .map(|address| {
                    address.parse::<SocketAddr>().map_err(|_| {
                        site.error("listen", format!("`{address}` is not an IP address and port like `127.0.0.1:8080`"))
                    })
                })
                .collect::<Result<_, _>>()?,
        }
    };

    let tls_listen: Vec<SocketAddr> = if !overrides.tls_listen.is_empty() {
        overrides.tls_listen.clone()
    } else {
        section
            .tls_listen
            .unwrap_or_default()
            .iter()
            .map(|address| {
                address.parse::<SocketAddr>().map_err(|_| {
                    site.error("tls_listen", format!("`{address}` is not an IP address and port like `0.0.0.0:8443`"))
                })
            })
            .collect::<Result<_, _>>()?
    };

    let workers = match (overrides.workers, section.workers) {
        (Some(workers), _) => flags.at_least_one("--workers", workers)?,
        (None, Some(workers)) => site.at_least_one("workers", workers)?,
        (None, None) => std::thread::available_parallelism().map_or(1, |count| count.get()),
    };

    // A zero head limit would answer every request with 431; zero body or queue or pool sizes are
    // meaningful (no bodies, no waiting, no pooling) and allowed.
    let max_header_bytes = match (overrides.max_header_bytes, section.max_header_bytes) {
        (Some(bytes), _) => flags.at_least_one("--max-header-bytes", bytes)?,
        (None, Some(bytes)) => site.at_least_one("max_header_bytes", bytes)?,
        (None, None) => DEFAULT_MAX_HEADER_BYTES,
    };
    let max_response_bytes = match section.max_response_bytes {
        Some(bytes) => site.at_least_one("max_response_bytes", bytes)?,
        None => SCF_SYNC_PAYLOAD_BYTES,
    };

    let at_least_one =
        |flag_value: Option<usize>, flag: &str, file_value: Option<usize>, key: &str, default: usize| match (
            flag_value, file_value,
        ) {
            (Some(value), _) => flags.at_least_one(flag, value),
            (None, Some(value)) => site.at_least_one(key, value),
            (None, None) => Ok(default),
        };

    let duration =
        |flag_value: Option<Duration>, flag: &str, file_value: Option<Seconds>, key: &str, default_secs: u64| match (
            flag_value, file_value,
        ) {
            (Some(value), _) => flags.flag_duration(flag, value, ONE_DAY),
            (None, Some(seconds)) => site.duration(key, seconds, ONE_DAY),
            (None, None) => Ok(Duration::from_secs(default_secs)),
        };

    Ok(GatewaySettings {
        listen,
        tls_listen,
        workers,
        driver: overrides.driver.or(section.driver).unwrap_or(DriverChoice::Auto),
        max_header_bytes,
        max_body_bytes: overrides.max_body_bytes.or(section.max_body_bytes).unwrap_or(SCF_SYNC_PAYLOAD_BYTES),
        body_memory: at_least_one(
            overrides.body_memory,
            "--body-memory",
            section.body_memory,
            "body_memory",
            DEFAULT_BODY_MEMORY_PER_WORKER.saturating_mul(workers),
        )?,
        max_response_bytes,
        idle_timeout: duration(
            overrides.idle_timeout,
            "--idle-timeout",
            section.idle_timeout,
            "idle_timeout",
            DEFAULT_IDLE_TIMEOUT_SECS,
        )?,
        park_after: duration(
            overrides.park_after,
            "--park-after",
            section.park_after,
            "park_after",
            DEFAULT_PARK_AFTER_SECS,
        )?,
        header_timeout: duration(
            overrides.header_timeout,
            "--header-timeout",
            section.header_timeout,
            "header_timeout",
            DEFAULT_HEADER_TIMEOUT_SECS,
        )?,
        send_timeout: duration(
            overrides.send_timeout,
            "--send-timeout",
            section.send_timeout,
            "send_timeout",
            DEFAULT_SEND_TIMEOUT_SECS,
        )?,
        queue_depth: overrides.queue_depth.or(section.queue_depth).unwrap_or(DEFAULT_QUEUE_DEPTH),
        max_connections: at_least_one(
            overrides.max_connections,
            "--max-connections",
            section.max_connections,
            "max_connections",
            DEFAULT_MAX_CONNECTIONS,
        )?,
        read_buffer_bytes: at_least_one(
            overrides.read_buffer_bytes,
            "--read-buffer-bytes",
            section.read_buffer_bytes,
            "read_buffer_bytes",
            DEFAULT_READ_BUFFER_BYTES,
        )?,
        shutdown_timeout: duration(
            overrides.shutdown_timeout,
            "--shutdown-timeout",
            section.shutdown_timeout,
            "shutdown_timeout",
            DEFAULT_SHUTDOWN_TIMEOUT_SECS,
        )?,
        pool_size: overrides.pool_size.or(section.pool_size).unwrap_or(DEFAULT_POOL_SIZE),
        pool_idle_timeout: duration(
            overrides.pool_idle_timeout,
            "--pool-idle-timeout",
            section.pool_idle_timeout,
            "pool_idle_timeout",
            DEFAULT_POOL_IDLE_TIMEOUT_SECS,
        )?,
        websocket: build_websocket_settings(
            &site,
            section.push_listen,
            section.push_token,
            section.websocket_max_message_bytes,
            section.websocket_idle_timeout,
        )?,
        identity: build_identity(&site, section.region, section.appid, section.uin)?,
    })
}

/// `region`, `appid`, `uin`: sent as header values and environment variables, so each is checked
/// to look like what Tencent uses (a region name; digits) rather than just any text.
fn build_identity(
    site: &Site,
    region: Option<String>,
    appid: Option<String>,
    uin: Option<String>,
) -> Result<TencentIdentity, ConfigError> {
    let defaults = TencentIdentity::default();
    let region = region.unwrap_or(defaults.region);
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(site.error(
            "region",
            format!("`{region}` is not a region name like `ap-guangzhou` (lower-case letters, digits and `-`)"),
        ));
    }
    let digits = |field: &str, value: Option<String>, default: String| {
        let value = value.unwrap_or(default);
        if value.is_empty() || value.len() > 20 || !value.chars().all(|c| c.is_ascii_digit()) {
            return Err(
                site.error(field, format!("`{value}` is not a number like `1250000000` (digits only, as a string)"))
            );
        }
        Ok(value)
    };
    Ok(TencentIdentity {
        appid: digits("appid", appid, defaults.appid)?,
        uin: digits("uin", uin, defaults.uin)?,
        region,
    })
}

/// `push_listen`, `push_token` (or `SCFGATE_PUSH_TOKEN`) and the frame limits. Whether a token is
/// required is decided in [`parse_str`](super::parse_str), once it knows whether any API is a WebSocket API.
fn build_websocket_settings(
    site: &Site,
    push_listen: Option<String>,
    push_token: Option<String>,
    max_message_bytes: Option<usize>,
    idle_timeout: Option<Seconds>,
) -> Result<WebSocketSettings, ConfigError> {
    let push_listen = match push_listen {
        None => DEFAULT_PUSH_LISTEN,
        Some(address) => address.parse::<SocketAddr>().map_err(|_| {
            site.error("push_listen", format!("`{address}` is not an IP address and port like `127.0.0.1:8095`"))
        })?,
    };
    let push_token = match std::env::var(PUSH_TOKEN_ENV) {
        Ok(token) if token.is_empty() => {
            return Err(site.error("push_token", format!("environment variable `{PUSH_TOKEN_ENV}` is set but empty")))
        }
        Ok(token) => Some(token),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(site.error("push_token", format!("environment variable `{PUSH_TOKEN_ENV}` is not UTF-8")))
        }
        Err(std::env::VarError::NotPresent) => match push_token {
            Some(token) if token.is_empty() => return Err(site.error("push_token", "may not be empty")),
            other => other,
        },
    };
    // The token travels in an HTTP header: it must be a valid field value with no spaces.
    if let Some(bad) = push_token.as_deref().and_then(|token| token.chars().find(|c| !c.is_ascii_graphic())) {
        return Err(
            site.error("push_token", format!("character {bad:?} is not allowed (printable ASCII without spaces)"))
        );
    }
    Ok(WebSocketSettings {
        push_listen,
        push_token: push_token.map(PushToken),
        max_message_bytes: site.at_least_one(
            "websocket_max_message_bytes",
            max_message_bytes.unwrap_or(DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES),
        )?,
        idle_timeout: match idle_timeout {
            Some(seconds) => site.duration("websocket_idle_timeout", seconds, ONE_DAY)?,
            None => Duration::from_secs(DEFAULT_WEBSOCKET_IDLE_TIMEOUT_SECS),
        },
    })
}

/// With WebSocket APIs the reverse-push endpoint opens; anyone who can reach it could write to
/// any client, so off loopback it must require a token.
pub(super) fn check_push_token(gateway: &GatewaySettings, apis: &[Api], source: &Path) -> Result<(), ConfigError> {
    let settings = &gateway.websocket;
    let websocket_apis = apis.iter().any(|api| api.websocket.is_some());
    if websocket_apis && settings.push_token.is_none() && !settings.push_listen.ip().is_loopback() {
        let site = Site::new(source, "[gateway]".to_owned());
        return Err(site.error(
            "push_token",
            format!(
                "the WebSocket push endpoint listens on {} (not loopback), so it needs a token: set `push_token` or the `{PUSH_TOKEN_ENV}` environment variable",
                settings.push_listen
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::super::parse_str;
    use super::super::test_support::{check_errors, check_errors_in, secs, Scratch, FULL, WEBSOCKET};
    use crate::config::{DriverChoice, Overrides, PushToken};

    #[test]
    fn overrides_win_over_the_file() {
        let scratch = Scratch::new("overrides");
        let overrides = Overrides {
            listen: vec!["127.0.0.2:9999".parse().unwrap()],
            workers: Some(5),
            driver: Some(DriverChoice::Uring),
            max_header_bytes: Some(100),
            max_body_bytes: Some(200),
            idle_timeout: Some(secs(7.0)),
            park_after: Some(secs(2.5)),
            header_timeout: Some(secs(8.0)),
            send_timeout: Some(secs(16.0)),
            body_memory: Some(17),
            pool_size: Some(9),
            pool_idle_timeout: Some(secs(11.0)),
            queue_depth: Some(12),
            tls_listen: vec![],
            max_connections: Some(13),
            read_buffer_bytes: Some(14),
            shutdown_timeout: Some(secs(15.0)),
        };
        let gateway = parse_str(FULL, &scratch.source(), &overrides).unwrap().gateway;
        assert_eq!(gateway.listen, overrides.listen);
        assert_eq!(gateway.workers, 5);
        assert_eq!(gateway.driver, DriverChoice::Uring);
        assert_eq!((gateway.max_header_bytes, gateway.max_body_bytes), (100, 200));
        assert_eq!((gateway.idle_timeout, gateway.header_timeout), (secs(7.0), secs(8.0)));
        assert_eq!(gateway.park_after, secs(2.5));
        assert_eq!((gateway.send_timeout, gateway.body_memory), (secs(16.0), 17));
        assert_eq!((gateway.pool_size, gateway.pool_idle_timeout, gateway.queue_depth), (9, secs(11.0), 12));
        assert_eq!(
            (gateway.max_connections, gateway.read_buffer_bytes, gateway.shutdown_timeout),
            (13, 14, secs(15.0))
        );
        // No flag for it: the file's value stays.
        assert_eq!(gateway.max_response_bytes, 2048);
    }

    #[test]
    fn bad_override_values_name_the_flag() {
        let scratch = Scratch::new("bad-flags");
        let file = scratch.source();
        #[rustfmt::skip]
        let cases: &[(Overrides, &str)] = &[
            (Overrides { workers: Some(0), ..Default::default() }, "command line: field `--workers`: must be at least 1"),
            (Overrides { max_header_bytes: Some(0), ..Default::default() }, "command line: field `--max-header-bytes`: must be at least 1"),
            (Overrides { idle_timeout: Some(Duration::ZERO), ..Default::default() }, "command line: field `--idle-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            (Overrides { header_timeout: Some(Duration::ZERO), ..Default::default() }, "command line: field `--header-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            (Overrides { pool_idle_timeout: Some(Duration::ZERO), ..Default::default() }, "command line: field `--pool-idle-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            (Overrides { shutdown_timeout: Some(Duration::from_secs(86_401)), ..Default::default() }, "command line: field `--shutdown-timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 86401"),
        ];
        for (overrides, expected) in cases {
            let error = parse_str(FULL, &file, overrides).unwrap_err();
            assert_eq!(error.to_string(), format!("{}: {expected}", file.display()));
        }
    }

    #[test]
    fn gateway_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("listen = [\"127.0.0.1:8080\", \"[::1]:8081\"]", "listen = []", ": [gateway]: field `listen`: at least one address is required"),
            ("listen = [\"127.0.0.1:8080\", \"[::1]:8081\"]", "listen = [\"localhost:80\"]", ": [gateway]: field `listen`: `localhost:80` is not an IP address and port like `127.0.0.1:8080`"),
            ("listen = [\"127.0.0.1:8080\", \"[::1]:8081\"]", "listen = [\"127.0.0.1\"]", ": [gateway]: field `listen`: `127.0.0.1` is not an IP address and port like `127.0.0.1:8080`"),
            ("workers = 2", "workers = 0", ": [gateway]: field `workers`: must be at least 1"),
            ("max_header_bytes = 8192", "max_header_bytes = 0", ": [gateway]: field `max_header_bytes`: must be at least 1"),
            ("max_response_bytes = 2048", "max_response_bytes = 0", ": [gateway]: field `max_response_bytes`: must be at least 1"),
            ("idle_timeout = 1.5", "idle_timeout = 0", ": [gateway]: field `idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0"),
            ("header_timeout = 5", "header_timeout = -1", ": [gateway]: field `header_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got -1"),
            ("pool_idle_timeout = 20", "pool_idle_timeout = nan", ": [gateway]: field `pool_idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got NaN"),
            ("pool_idle_timeout = 20", "pool_idle_timeout = inf", ": [gateway]: field `pool_idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got inf"),
            ("workers = 2", "workers = 2\nregion = \"AP Guangzhou\"", ": [gateway]: field `region`: `AP Guangzhou` is not a region name like `ap-guangzhou` (lower-case letters, digits and `-`)"),
            ("workers = 2", "workers = 2\nappid = \"12x\"", ": [gateway]: field `appid`: `12x` is not a number like `1250000000` (digits only, as a string)"),
            ("workers = 2", "workers = 2\nuin = \"\"", ": [gateway]: field `uin`: `` is not a number like `1250000000` (digits only, as a string)"),
        ];
        check_errors("gateway", cases);
    }

    #[test]
    fn websocket_settings_parse_with_their_defaults() {
        let scratch = Scratch::new("websocket");
        let config = parse_str(WEBSOCKET, &scratch.source(), &Overrides::default()).unwrap();
        let settings = &config.gateway.websocket;
        assert_eq!(settings.push_listen, "127.0.0.1:9095".parse::<SocketAddr>().unwrap());
        assert_eq!((settings.max_message_bytes, settings.idle_timeout), (4096, secs(30.0)));
        // No WebSocket API: the push endpoint is never opened, so it needs no token anywhere.
        let plain = FULL.replacen("workers = 2", "workers = 2\npush_listen = \"0.0.0.0:8095\"", 1);
        assert!(parse_str(&plain, &scratch.source(), &Overrides::default()).is_ok());
        // Defaults.
        let text = WEBSOCKET.replacen(
            "push_listen = \"127.0.0.1:9095\"\nwebsocket_max_message_bytes = 4096\nwebsocket_idle_timeout = 30\n",
            "",
            1,
        );
        let settings = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap().gateway.websocket;
        assert_eq!(settings.push_listen, "127.0.0.1:8095".parse::<SocketAddr>().unwrap());
        assert_eq!((settings.max_message_bytes, settings.idle_timeout), (1024 * 1024, secs(600.0)));
        let text = WEBSOCKET.replacen(
            "push_listen = \"127.0.0.1:9095\"",
            "push_listen = \"0.0.0.0:9095\"\npush_token = \"s3cret\"",
            1,
        );
        let settings = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap().gateway.websocket;
        assert_eq!(settings.push_token, Some(PushToken("s3cret".into())));
        assert_eq!(format!("{:?}", settings.push_token), "Some(PushToken(..))");
    }

    #[test]
    fn websocket_settings_errors() {
        let gateway = ": [gateway]";
        let e = |location: &str, rest: &str| format!("{location}: {rest}");
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, String)> = vec![
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"localhost:9095\"", e(gateway, "field `push_listen`: `localhost:9095` is not an IP address and port like `127.0.0.1:8095`")),
            // The push endpoint can write to any client: off loopback it needs a token.
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"0.0.0.0:9095\"", e(gateway, "field `push_token`: the WebSocket push endpoint listens on 0.0.0.0:9095 (not loopback), so it needs a token: set `push_token` or the `SCFGATE_PUSH_TOKEN` environment variable")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"[::]:9095\"", e(gateway, "field `push_token`: the WebSocket push endpoint listens on [::]:9095 (not loopback), so it needs a token: set `push_token` or the `SCFGATE_PUSH_TOKEN` environment variable")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"127.0.0.1:9095\"\npush_token = \"\"", e(gateway, "field `push_token`: may not be empty")),
            ("push_listen = \"127.0.0.1:9095\"", "push_listen = \"127.0.0.1:9095\"\npush_token = \"two words\"", e(gateway, "field `push_token`: character ' ' is not allowed (printable ASCII without spaces)")),
            ("websocket_max_message_bytes = 4096", "websocket_max_message_bytes = 0", e(gateway, "field `websocket_max_message_bytes`: must be at least 1")),
            ("websocket_idle_timeout = 30", "websocket_idle_timeout = 0", e(gateway, "field `websocket_idle_timeout`: must be a number of seconds greater than 0 and at most 86400 (one day), got 0")),
        ];
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(find, replace, expected)| (*find, *replace, expected.as_str())).collect();
        check_errors_in(WEBSOCKET, "websocket", &cases);
    }
}
