//! `[[service.api]]` → [`Api`]: name, path, method, timeout and response documentation, the
//! function it invokes (or, for a WebSocket API, its `register`, `transport` and `cleanup`
//! functions), and its Base64 settings ([`super::base64_encoding`]) and frontend policies
//! ([`super::policy`]).

use std::time::Duration;

use super::durations::API_TIMEOUT;
use super::function::{resolve_function, resolve_function_field, FunctionKey, DEFAULT_QUALIFIER};
use super::policy::{build_auth, build_cors, build_params, build_protocol};
use super::{base64_encoding, ConfigError, Site};
use crate::config::file;
use crate::config::path::parse_api_path;
use crate::config::{Api, ApiMethod, ApiPolicy, Function, ServiceIndex, StatusConversion, WebSocketFunctions};

/// Tencent's console limit on an API name.
const MAX_API_NAME_CHARS: usize = 60;
/// Tencent's default backend timeout, "默认为15秒" (spec §6.1).
pub(super) const DEFAULT_API_TIMEOUT_SECS: u64 = 15;

/// Builds one API; also returns its path as written, for messages that name it.
pub(super) fn build_api(
    api: file::Api,
    service: ServiceIndex,
    site: &Site,
    functions: &[(Function, FunctionKey)],
) -> Result<(Api, String), ConfigError> {
    let name = site.required_text("name", api.name)?;
    let name_chars = name.chars().count();
    if name_chars > MAX_API_NAME_CHARS {
        return Err(
            site.error("name", format!("{name_chars} characters long; at most {MAX_API_NAME_CHARS} are allowed"))
        );
    }
    let Some(raw_path) = api.path else {
        return Err(site.error("path", "required but missing"));
    };
    let path = parse_api_path(&raw_path).map_err(|message| site.error("path", message))?;
    let (protocol, is_websocket) = build_protocol(site, api.protocol)?;
    let qualifier = api
        .function
        .as_ref()
        .or(api.register.as_ref())
        .and_then(|reference| reference.qualifier.clone())
        .unwrap_or_else(|| DEFAULT_QUALIFIER.to_owned());
    // A WebSocket handshake is a GET (RFC 6455 §4.1), so a WebSocket API's method defaults to it.
    let method_name = match api.method {
        None if is_websocket => "GET".to_owned(),
        method => site.required_text("method", method)?,
    };
    let method = ApiMethod::parse(&method_name).ok_or_else(|| {
        site.error("method", format!("`{method_name}` is not one of GET, POST, PUT, DELETE, HEAD, ANY"))
    })?;
    let (function, websocket) = if is_websocket {
        if method != ApiMethod::Get {
            return Err(
                site.error("method", format!("a WebSocket API is reached with GET (RFC 6455 §4.1), not {method_name}"))
            );
        }
        if api.function.is_some() {
            return Err(
                site.error("function", "a WebSocket API has `register`, `transport` and `cleanup` functions instead")
            );
        }
        if api.integrated_response.is_some() {
            return Err(site.error(
                "integrated_response",
                "not used by WebSocket APIs (their functions' values are not HTTP responses)",
            ));
        }
        let resolve = |field: &str, reference: Option<file::FunctionRef>| match reference {
            None => {
                Err(site.error(field, format!("required for a WebSocket API; write `{field} = {{ name = \"...\" }}`")))
            }
            some => {
                let id = resolve_function_field(site, field, some, functions)?;
                if functions[id.get()].0.is_web() {
                    // A web function takes HTTP, not events; an HTTP API passes WebSocket
                    // upgrades through to it instead.
                    return Err(site.error(field, "a web function (runtime = \"web\") cannot take WebSocket events; give it to an HTTP API, which passes WebSocket upgrades through to it"));
                }
                Ok(id)
            }
        };
        let functions = WebSocketFunctions {
            register: resolve("register", api.register)?,
            transport: resolve("transport", api.transport)?,
            cleanup: resolve("cleanup", api.cleanup)?,
        };
        (functions.register, Some(functions))
    } else {
        for (field, present) in [
            ("register", api.register.is_some()),
            ("transport", api.transport.is_some()),
            ("cleanup", api.cleanup.is_some()),
        ] {
            if present {
                return Err(site.error(field, "only WebSocket APIs (protocol = \"ws\", \"wss\" or \"ws&wss\") have it"));
            }
        }
        let function = resolve_function(site, api.function, functions)?;
        if functions[function.get()].0.is_web() && api.integrated_response.is_some() {
            return Err(site.error(
                "integrated_response",
                "not used with a web function (runtime = \"web\"): its HTTP response is passed through as it is",
            ));
        }
        (function, None)
    };
    let timeout = match api.timeout {
        Some(seconds) => site.duration("timeout", seconds, API_TIMEOUT)?,
        None => Duration::from_secs(DEFAULT_API_TIMEOUT_SECS),
    };
    let status_conversions = check_error_codes(site, api.response_type.as_deref(), &api.error_codes, is_websocket)?;
    let base64 = base64_encoding::build_base64(site, api.base64, api.base64_rules, is_websocket)?;
    let policy = ApiPolicy {
        protocol,
        auth: build_auth(site, api.auth, api.oauth)?,
        cors: build_cors(site, api.cors, api.cors_origins)?,
        params: build_params(site, api.params, &path, &raw_path)?,
    };
    let api = Api {
        service,
        name,
        path,
        method,
        function,
        qualifier,
        timeout,
        integrated_response: api.integrated_response.unwrap_or(false),
        base64,
        function_url: false,
        policy,
        websocket,
        status_conversions,
    };
    Ok((api, raw_path))
}

/// Step 4 of the console's API editor (response type, error codes). Mostly documentation, but
/// checked like everything else so the generated docs never show a nameless code; the codes with
/// `converted_code` become the API's status conversions.
fn check_error_codes(
    site: &Site,
    response_type: Option<&str>,
    error_codes: &[file::ErrorCode],
    is_websocket: bool,
) -> Result<Box<[StatusConversion]>, ConfigError> {
    if let Some(kind) = response_type {
        if !["json", "html", "text", "xml", "binary"].contains(&kind.to_ascii_lowercase().as_str()) {
            return Err(site.error("response_type", format!("`{kind}` is not one of json, html, text, xml, binary")));
        }
    }
    let mut seen: Vec<i64> = Vec::with_capacity(error_codes.len());
    let mut conversions = Vec::new();
    for (index, error_code) in error_codes.iter().enumerate() {
        let Some(code) = error_code.code else {
            return Err(site.error(&format!("error_code #{}.code", index + 1), "required but missing"));
        };
        let field = |key: &str| format!("error_code.{code}.{key}");
        if seen.contains(&code) {
            return Err(site.error(&field("code"), format!("code {code} is listed twice")));
        }
        seen.push(code);
        match &error_code.message {
            None => return Err(site.error(&field("message"), "required but missing")),
            Some(message) if message.is_empty() => return Err(site.error(&field("message"), "may not be empty")),
            Some(_) => {}
        }
        let Some(converted) = error_code.converted_code else { continue };
        if is_websocket {
            return Err(site.error(
                &field("converted_code"),
                "not used by WebSocket APIs (their functions' values are not HTTP responses)",
            ));
        }
        // The conversion rewrites an HTTP status, so both ends must be ones whose message
        // framing is the same as the status it replaces: 204 and 304 carry no body.
        let convertible = |status: i64| (200..=599).contains(&status) && status != 204 && status != 304;
        if !convertible(code) {
            return Err(site.error(
                &field("code"),
                format!("{code} is converted, so it must be an HTTP status from 200 to 599 (not 204 or 304): the status the function answers with"),
            ));
        }
        if !convertible(converted) {
            return Err(site.error(
                &field("converted_code"),
                format!("{converted} is not an HTTP status from 200 to 599 (204 and 304 carry no body, so a response cannot become one)"),
            ));
        }
        conversions.push(StatusConversion { from: code as u16, to: converted as u16 });
    }
    Ok(conversions.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::super::test_support::{check_errors, check_errors_in, secs, Scratch, FULL, WEBSOCKET};
    use crate::config::{ApiMethod, FunctionIndex, Overrides, Protocol, StatusConversion, WebSocketFunctions};

    #[test]
    fn api_errors() {
        let long_name = "a".repeat(61);
        let long_name_line = format!("name = \"{long_name}\"");
        let long_name_error =
            format!(": service `hello` api `{long_name}`: field `name`: 61 characters long; at most 60 are allowed");
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("name = \"say-hello\"\n", "", ": service `hello` api #1: field `name`: required but missing"),
            ("name = \"say-hello\"", &long_name_line, &long_name_error),
            ("name = \"echo\"\npath", "name = \"say-hello\"\npath", ": service `hello` api `say-hello`: field `name`: another api of this service has the same name"),
            ("path = \"/hello/{name}\"\n", "", ": service `hello` api `say-hello`: field `path`: required but missing"),
            ("path = \"/hello/{name}\"", "path = \"/hello/.*\"", ": service `hello` api `say-hello`: field `path`: `*` at byte 8: regular expressions other than {param} are not supported"),
            ("path = \"/hello/{name}\"", "path = \"/{a}{b}\"", ": service `hello` api `say-hello`: field `path`: placeholder `{b}` at byte 4 follows the previous one directly; literal text must separate two placeholders"),
            ("method = \"GET\"\n", "", ": service `hello` api `say-hello`: field `method`: required but missing"),
            ("method = \"GET\"", "method = \"PATCH\"", ": service `hello` api `say-hello`: field `method`: `PATCH` is not one of GET, POST, PUT, DELETE, HEAD, ANY"),
            ("function = { name = \"hello\" }\ntimeout = 2.5\n", "timeout = 2.5\n", ": service `hello` api `say-hello`: field `function`: required but missing; write `function = { name = \"...\" }`"),
            ("function = { name = \"hello\" }\ntimeout", "function = { qualifier = \"1\" }\ntimeout", ": service `hello` api `say-hello`: field `function.name`: required but missing"),
            ("function = { name = \"hello\" }\ntimeout", "function = { name = \"hola\" }\ntimeout", ": service `hello` api `say-hello`: field `function`: no [[function]] is defined as `default/hola:$LATEST`"),
            ("function = { name = \"echo\", namespace = \"tools\", qualifier = \"1\" }", "function = { name = \"echo\", namespace = \"tools\" }", ": service `hello` api `echo`: field `function`: no [[function]] is defined as `tools/echo:$LATEST`"),
            ("timeout = 2.5", "timeout = 0", ": service `hello` api `say-hello`: field `timeout`: must be a number of seconds greater than 0 and at most 1800 (Tencent's limit on an API's backend timeout), got 0"),
            // spec §1.1: path + method identify an API; `{param}` names do not change what matches.
            ("path = \"=/echo\"\nmethod = \"post\"", "path = \"/hello/{who}\"\nmethod = \"get\"", ": service `hello` api `echo`: field `path`: `GET /hello/{who}` conflicts with api `say-hello` (`GET /hello/{name}`): same path and overlapping method"),
            ("path = \"^~/static\"", "path = \"/hello/{x}\"", ": service `hello` api `static`: field `path`: `ANY /hello/{x}` conflicts with api `say-hello` (`GET /hello/{name}`): same path and overlapping method"),
            ("path = \"^~/static\"", "path = \"=/echo\"", ": service `hello` api `static`: field `path`: `ANY =/echo` conflicts with api `echo` (`POST =/echo`): same path and overlapping method"),
        ];
        check_errors("api", cases);
    }

    #[test]
    fn error_codes_convert_http_statuses_only() {
        let hello = ": service `hello` api `say-hello`: field";
        // `[[service.api.error_code]]` tables appended to the first API, `say-hello`.
        let with_codes = |tables: &[&str]| {
            let tables: String =
                tables.iter().map(|fields| format!("[[service.api.error_code]]\n{fields}\n")).collect();
            FULL.replacen("timeout = 2.5\n", &format!("timeout = 2.5\n{tables}"), 1)
        };
        let not_status =
            "is not an HTTP status from 200 to 599 (204 and 304 carry no body, so a response cannot become one)";
        let not_convertible = "is converted, so it must be an HTTP status from 200 to 599 (not 204 or 304): the status the function answers with";
        #[rustfmt::skip]
        let cases: Vec<(&str, String)> = vec![
            ("code = 503\nmessage = \"closed\"\nconverted_code = 1000", format!("{hello} `error_code.503.converted_code`: 1000 {not_status}")),
            ("code = 503\nmessage = \"closed\"\nconverted_code = 304", format!("{hello} `error_code.503.converted_code`: 304 {not_status}")),
            ("code = 10001\nmessage = \"business\"\nconverted_code = 500", format!("{hello} `error_code.10001.code`: 10001 {not_convertible}")),
            ("code = 204\nmessage = \"empty\"\nconverted_code = 200", format!("{hello} `error_code.204.code`: 204 {not_convertible}")),
            ("message = \"nameless\"\nconverted_code = 200", format!("{hello} `error_code #1.code`: required but missing")),
            ("code = 10001\nmessage = \"documented only\"", "<accepted>".to_owned()),
        ];
        let scratch = Scratch::new("error-codes");
        let mut failures = Vec::new();
        for (fields, expected) in &cases {
            let got = match parse_str(&with_codes(&[fields]), &scratch.source(), &Overrides::default()) {
                Ok(_) => "<accepted>".to_owned(),
                Err(error) => error.to_string(),
            };
            if !got.ends_with(expected.as_str()) {
                failures.push(format!("`{fields}`:\n  got      {got}\n  expected …{expected}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // The codes with converted_code become the API's conversions; the others stay documentation.
        let text = with_codes(&[
            "code = 503\nmessage = \"closed\"\nconverted_code = 502",
            "code = 10001\nmessage = \"business\"",
        ]);
        let config = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap();
        assert_eq!(&*config.apis[0].status_conversions, &[StatusConversion { from: 503, to: 502 }]);
        assert!(config.apis[1].status_conversions.is_empty());
    }

    #[test]
    fn websocket_api_parses_into_the_expected_model() {
        let scratch = Scratch::new("websocket");
        let config = parse_str(WEBSOCKET, &scratch.source(), &Overrides::default()).unwrap();
        let api = &config.apis[0];
        assert_eq!(
            api.websocket,
            Some(WebSocketFunctions {
                register: FunctionIndex::new(0),
                transport: FunctionIndex::new(1),
                cleanup: FunctionIndex::new(2)
            })
        );
        // The register function is the one a request invokes; the method defaults to GET.
        assert_eq!(
            (api.function, api.method, api.policy.protocol, api.timeout),
            (FunctionIndex::new(0), ApiMethod::Get, Protocol::HttpAndHttps, secs(5.0))
        );
        // spec §5.2: ws is WebSocket over HTTP, wss over HTTPS, for the protocol policy (426).
        for (protocol, expected) in
            [("ws", Protocol::Http), ("wss", Protocol::Https), ("WS&WSS", Protocol::HttpAndHttps)]
        {
            let text = WEBSOCKET.replacen("\"ws&wss\"", &format!("\"{protocol}\""), 1);
            let config = parse_str(&text, &scratch.source(), &Overrides::default()).unwrap();
            assert_eq!(config.apis[0].policy.protocol, expected, "{protocol}");
        }
    }

    #[test]
    fn websocket_api_errors() {
        let room = ": service `chat` api `room`";
        let e = |location: &str, rest: &str| format!("{location}: {rest}");
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, String)> = vec![
            ("register = { name = \"register\" }\n", "", e(room, "field `register`: required for a WebSocket API; write `register = { name = \"...\" }`")),
            ("cleanup = { name = \"cleanup\", namespace = \"chat\" }\n", "", e(room, "field `cleanup`: required for a WebSocket API; write `cleanup = { name = \"...\" }`")),
            ("transport = { name = \"transport\", qualifier = \"2\" }", "transport = { name = \"transport\" }", e(room, "field `transport`: no [[function]] is defined as `default/transport:$LATEST`")),
            ("register = { name = \"register\" }", "register = { qualifier = \"1\" }", e(room, "field `register.name`: required but missing")),
            ("timeout = 5", "timeout = 5\nmethod = \"POST\"", e(room, "field `method`: a WebSocket API is reached with GET (RFC 6455 §4.1), not POST")),
            ("timeout = 5", "timeout = 5\nfunction = { name = \"register\" }", e(room, "field `function`: a WebSocket API has `register`, `transport` and `cleanup` functions instead")),
            ("timeout = 5", "timeout = 5\nintegrated_response = true", e(room, "field `integrated_response`: not used by WebSocket APIs (their functions' values are not HTTP responses)")),
            ("timeout = 5", "timeout = 5\n[[service.api.error_code]]\ncode = 500\nmessage = \"down\"\nconverted_code = 503", e(room, "field `error_code.500.converted_code`: not used by WebSocket APIs (their functions' values are not HTTP responses)")),
            ("protocol = \"ws&wss\"", "protocol = \"http\"\nmethod = \"GET\"\nfunction = { name = \"register\" }", e(room, "field `register`: only WebSocket APIs (protocol = \"ws\", \"wss\" or \"ws&wss\") have it")),
            ("protocol = \"ws&wss\"", "protocol = \"websocket\"", e(room, "field `protocol`: `websocket` is not one of \"http\", \"https\", \"http&https\", \"ws\", \"wss\", \"ws&wss\"")),
        ];
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(find, replace, expected)| (*find, *replace, expected.as_str())).collect();
        check_errors_in(WEBSOCKET, "websocket", &cases);
    }
}
