//! scfgate: an edge API gateway for SCF (Serverless Cloud Function) backends, compatible with
//! Tencent Cloud API Gateway, built thread-per-core on monoio (io_uring).
//!
//! # Layout, in the order a request travels
//! - [`cli`]: command-line flags (parse only, no I/O); [`config`]: the TOML file, validated once
//!   into the typed runtime [`config::Config`]; [`check`]: `--check`'s route table.
//! - [`runtime`]: one monoio runtime per worker thread, io_uring or epoll.
//! - [`listener`]: one SO_REUSEPORT socket per worker per address.
//! - [`worker`]: per-core state (routes, backend pool, request ids) and its control task;
//!   [`accept`]: its accept loops, plain and TLS.
//! - [`connection`]: one client connection: keep-alive, pipelining, timeouts; [`send`]: writes to
//!   clients, bounded by `--send-timeout`.
//! - [`buffer_pool`]: a worker's free list of the buffers a connection needs only while it serves
//!   a request, so idle keep-alive connections hold little; [`memory`]: the worker's budget for
//!   request bodies held whole, and giving freed memory back to the system.
//! - [`http`]: the HTTP/1.1 wire format: request parsing, bodies, response writing.
//! - [`route`]: which API a request is for: the host and stage (custom domains' path mappings,
//!   Function URLs' hosts; `route::Router`), then Tencent's path priorities in a trie.
//! - [`policy`]: the API's frontend checks (protocol, key pair or OAuth, usage plans, params) and
//!   CORS, preflights included.
//! - [`backend`]: the SCF event (and the Function URL event), the pooled invoke client (plain HTTP, or Tencent Cloud's signed
//!   `Invoke` API over HTTPS), response integration; web functions' proxy and the choice of the
//!   instance a request goes to.
//! - [`websocket`]: WebSocket APIs: the handshake, frames, the register/transport/cleanup
//!   functions, and the reverse-push endpoint that reaches a connection on whichever core holds it.
//! - [`function_host`]: local function processes behind the SCF custom-runtime API, and web
//!   functions' processes, scaled and restarted the same way.
//! - [`calendar`]: UTC date arithmetic shared by the date-reading and date-writing parts.
//! - [`error`]: every request error and the one place that maps it to a status.
//! - [`admin`]: the management plane beside the request path: the admin API, its state
//!   directory, publishing and rollback, generated docs, OpenAPI import/export.
//! - [`import`]: `scfgate import`, a Tencent deployment's `serverless.yml` and OpenAPI files
//!   turned into one configuration, with a report of what was not carried over.
//! - [`metrics`]: what the workers and the function host count, each in cells of its own,
//!   merged when scraped (`/metrics`, `/healthz`, `/readyz`) and sampled for the console.
//! - [`gateway`]: the process's life: start, reload (`apply`), upgrade, drain; the binary is a
//!   thin `main` around [`gateway::serve`].
//! - Running as a service: [`notify`] tells systemd when the gateway is ready, reloading or
//!   stopping; [`readiness`] says when the warm local functions are ready; [`upgrade`] hands
//!   the listening sockets to a new binary, which serves before the old one drains.
#![deny(missing_docs)]

pub mod accept;
pub mod admin;
pub mod backend;
pub mod buffer_pool;
pub mod calendar;
pub mod check;
pub mod cli;
pub mod config;
pub mod connection;
pub mod constant_time;
pub mod control;
pub mod error;
pub mod function_host;
pub mod gateway;
pub mod http;
pub mod import;
pub mod listener;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod readiness;
pub mod route;
pub mod runtime;
pub mod send;
pub mod shared_limits;
pub mod tls;
pub mod upgrade;
pub mod websocket;
pub mod worker;
