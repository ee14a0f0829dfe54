//! The management plane's state in etcd (`--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX`), for a
//! cluster of gateway nodes that serve one configuration. The layout mirrors the state
//! directory's: `PREFIX/state` holds what `state.json` holds, `PREFIX/releases/NAME` each
//! release's snapshot, written once before the state that names it.
//!
//! - Writes are compare-and-swap on the state key's revision: a node whose view is older than
//!   etcd's loses ([`StoreError::Moved`]), reads the newer state and tries its change again on
//!   top of it (`crate::admin::api::handle`), so two concurrent publishes never lose one.
//! - Every node watches the state key ([`EtcdStore::watch`]) and hears of each change; after a
//!   lost connection or a compacted revision it reads the whole state again, then watches on.
//! - etcd-client runs on tokio: one runtime of one thread, owned here, never a worker's. Calls
//!   from the admin threads block on it with a deadline, so a dead etcd is a 503 within
//!   [`DEADLINE`], not a hung admin call.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp, WatchOptions};

use super::seal::{is_sealed, Seal};
use super::store::{State, StoreError, FORMAT};
use crate::config::file;

/// How long one call to etcd may take.
pub const DEADLINE: Duration = Duration::from_secs(3);
/// How long to wait before watching again after the watch broke.
const REWATCH_AFTER: Duration = Duration::from_secs(1);

/// Where the state lives in etcd and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdUrl {
    /// `host:port` of each member.
    pub endpoints: Vec<String>,
    /// The key prefix, starting with `/` and without a trailing one.
    pub prefix: String,
    /// `etcds://`: TLS.
    pub tls: bool,
}

impl EtcdUrl {
    /// Reads `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` (`etcds://` for TLS). The prefix
    /// defaults to `/scfgate`.
    pub fn parse(url: &str) -> Result<EtcdUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("etcd://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("etcds://") {
            (true, rest)
        } else {
            return Err(format!("`{url}`: expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX (or etcds:// for TLS)"));
        };
        let (hosts, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if hosts.contains('@') {
            return Err(format!(
                "`{url}`: put no user or password in the URL (it shows in `ps`): use --store-user and SCFGATE_STORE_PASSWORD"
            ));
        }
        let endpoints: Vec<String> = hosts.split(',').map(str::trim).map(str::to_owned).collect();
        for endpoint in &endpoints {
            let port = endpoint.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return Err(format!("`{url}`: `{endpoint}` is not HOST:PORT"));
            }
        }
        let prefix = if prefix.is_empty() { "/scfgate".to_owned() } else { prefix.to_owned() };
        Ok(EtcdUrl { endpoints, prefix, tls })
    }
}

/// How to connect: the URL, credentials, TLS files, and the seal of the values.
#[derive(Debug)]
pub struct EtcdSettings {
    /// Members and prefix.
    pub url: EtcdUrl,
    /// etcd user and password (`--store-user`, `SCFGATE_STORE_PASSWORD`).
    pub user: Option<(String, String)>,
    /// PEM of the CA that signed etcd's certificates (`--store-ca-file`); TLS only.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM of a client certificate and its key (`--store-client-cert`, `--store-client-key`).
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Seals values; `None` when the operator chose plain text (`--store-plaintext`).
    pub seal: Option<Seal>,
}

/// The state in etcd, as one node sees it.
pub struct EtcdStore {
    runtime: Arc<tokio::runtime::Runtime>,
    client: Client,
    url: EtcdUrl,
    seal: Option<Seal>,
    /// Snapshot names known to be in etcd.
    snapshots: HashSet<String>,
    /// The state key's `mod_revision` as last read or written; 0 before there is one.
    revision: i64,
}

impl EtcdStore {
    /// Connects (lazily: the first call finds out whether etcd answers).
    pub fn connect(settings: EtcdSettings) -> Result<EtcdStore, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("scfgate-etcd")
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the etcd client's thread: {error}"))?;
        let mut options = ConnectOptions::new().with_timeout(DEADLINE).with_connect_timeout(DEADLINE);
        if let Some((user, password)) = &settings.user {
            options = options.with_user(user.clone(), password.clone());
        }
        let scheme = if settings.url.tls { "https" } else { "http" };
        if settings.url.tls {
            let mut tls = etcd_client::TlsOptions::new();
            if let Some(ca) = &settings.ca_pem {
                tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &settings.client_identity {
                tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
            }
            options = options.with_tls(tls);
        }
        let endpoints: Vec<String> =
            settings.url.endpoints.iter().map(|endpoint| format!("{scheme}://{endpoint}")).collect();
        let client = runtime
            .block_on(async { tokio::time::timeout(DEADLINE, Client::connect(&endpoints, Some(options))).await })
            .map_err(|_| format!("etcd at {} did not answer within {DEADLINE:?}", endpoints.join(",")))?
            .map_err(|error| format!("cannot connect to etcd at {}: {error}", endpoints.join(",")))?;
        Ok(EtcdStore {
            runtime: Arc::new(runtime),
            client,
            url: settings.url,
            seal: settings.seal,
            snapshots: HashSet::new(),
            revision: 0,
        })
    }

    /// `etcd://members/prefix`, for messages.
    pub fn describe(&self) -> String {
        format!("{}://{}{}", if self.url.tls { "etcds" } else { "etcd" }, self.url.endpoints.join(","), self.url.prefix)
    }

    /// The state key's revision as this node last saw it.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    fn state_key(&self) -> String {
        format!("{}/state", self.url.prefix)
    }

    fn snapshot_key(&self, name: &str) -> String {
        format!("{}/releases/{name}", self.url.prefix)
    }

    fn block_on<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, StoreError> {
        match self.runtime.block_on(async { tokio::time::timeout(DEADLINE, call).await }) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::Unavailable(format!("etcd ({}): {error}", self.describe()))),
            Err(_) => {
                Err(StoreError::Unavailable(format!("etcd ({}) did not answer within {DEADLINE:?}", self.describe())))
            }
        }
    }

    fn encode(&self, key: &str, plain: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        match &self.seal {
            Some(seal) => seal.seal(key.as_bytes(), &plain).map_err(StoreError::Failed),
            None => Ok(plain),
        }
    }

    fn decode(&self, key: &str, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        match &self.seal {
            Some(seal) => {
                seal.open(key.as_bytes(), stored).map_err(|error| StoreError::Failed(format!("{key}: {error}")))
            }
            None if is_sealed(stored) => Err(StoreError::Failed(format!(
                "{key} is sealed: give this node the cluster's key (--store-seal-key-file)"
            ))),
            None => Ok(stored.to_vec()),
        }
    }

    /// Reads the whole state (`None` when etcd holds none under the prefix yet).
    pub fn load(&mut self) -> Result<Option<State>, StoreError> {
        let key = self.state_key();
        let mut kv = self.client.kv_client();
        let response = self.block_on(kv.get(key.clone(), None))?;
        let Some(found) = response.kvs().first() else {
            self.revision = 0;
            return Ok(None);
        };
        let revision = found.mod_revision();
        let text = self.decode(&key, found.value())?;
        let mut state: State =
            serde_json::from_slice(&text).map_err(|error| StoreError::Failed(format!("{key}: {error}")))?;
        if state.format != FORMAT {
            return Err(StoreError::Failed(format!(
                "{key}: written in layout {} (this scfgate reads {FORMAT})",
                state.format
            )));
        }
        // The snapshots, at the revision the state was read at, so they match it.
        let prefix = self.snapshot_key("");
        let options =
            GetOptions::new().with_prefix().with_revision(response.header().map_or(0, |header| header.revision()));
        let snapshots = self.block_on(kv.get(prefix.clone(), Some(options)))?;
        let mut found_snapshots = std::collections::HashMap::new();
        for entry in snapshots.kvs() {
            let name = String::from_utf8_lossy(&entry.key()[prefix.len()..]).into_owned();
            found_snapshots.insert(name, entry.value().to_vec());
        }
        for service in &mut state.services {
            let id = service.id().to_owned();
            for release in &mut service.releases {
                let snapshot_key = self.snapshot_key(&release.snapshot);
                let stored = found_snapshots.get(&release.snapshot).ok_or_else(|| {
                    StoreError::Failed(format!(
                        "{key} names release {} of service `{id}`, but {snapshot_key} is missing",
                        release.id
                    ))
                })?;
                let text = self.decode(&snapshot_key, stored)?;
                let service: file::Service = serde_json::from_slice(&text)
                    .map_err(|error| StoreError::Failed(format!("{snapshot_key}: {error}")))?;
                release.service = Arc::new(service);
            }
        }
        self.snapshots = found_snapshots.into_keys().collect();
        self.revision = revision;
        Ok(Some(state))
    }

    /// Stores `state` if etcd's state is still the one this node last read or wrote; else
    /// [`StoreError::Moved`] and nothing is stored but, perhaps, snapshots nothing names yet
    /// (removed by a later save).
    pub fn save(&mut self, state: &State) -> Result<(), StoreError> {
        let mut kv = self.client.kv_client();
        let mut written = Vec::new();
        for release in state.services.iter().flat_map(|service| &service.releases) {
            if self.snapshots.contains(&release.snapshot) {
                continue;
            }
            let key = self.snapshot_key(&release.snapshot);
            let text = serde_json::to_vec(&*release.service)
                .map_err(|error| StoreError::Failed(format!("cannot encode release {}: {error}", release.id)))?;
            let value = self.encode(&key, text)?;
            self.block_on(kv.put(key, value, None))?;
            written.push(release.snapshot.clone());
        }
        self.snapshots.extend(written);
        let key = self.state_key();
        let text = serde_json::to_vec(state)
            .map_err(|error| StoreError::Failed(format!("cannot encode the state: {error}")))?;
        let value = self.encode(&key, text)?;
        let unchanged = if self.revision == 0 {
            Compare::version(key.clone(), CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key.clone(), CompareOp::Equal, self.revision)
        };
        let txn = Txn::new().when([unchanged]).and_then([TxnOp::put(key, value, None)]);
        // A swap sent and not answered may still have been applied: say so, and the next change
        // reads the state again (its own swap, on the revision seen before, is lost if it was).
        let response = self.block_on(kv.txn(txn)).map_err(|error| match error {
            StoreError::Unavailable(message) => StoreError::Unavailable(format!(
                "{message}; the change may have been stored all the same: read it back before trying again"
            )),
            other => other,
        })?;
        if !response.succeeded() {
            return Err(StoreError::Moved);
        }
        self.revision = response.header().map_or(self.revision, |header| header.revision());
        self.collect(state);
        Ok(())
    }

    /// Removes the snapshots `state` no longer names (best effort: what stays is removed by a
    /// later save). A snapshot another node wrote for a change that lost its swap is among them.
    fn collect(&mut self, state: &State) {
        let named = state.snapshot_names();
        let unnamed: Vec<String> =
            self.snapshots.iter().filter(|name| !named.contains(name.as_str())).cloned().collect();
        let mut kv = self.client.kv_client();
        for name in unnamed {
            match self.block_on(kv.delete(self.snapshot_key(&name), None)) {
                Ok(_) => {
                    self.snapshots.remove(&name);
                }
                Err(error) => {
                    tracing::warn!(%error, snapshot = name, "cannot remove a release snapshot no longer kept")
                }
            }
        }
    }

    /// Watches the state key from the revision last seen, on the etcd thread: `changed` is told
    /// each new revision written (by any node, this one included), and `changed(None)` when the
    /// watch broke and started again, so that the state must be read whole (a change may have
    /// been missed, or compacted away). Never returns an error: it retries every second.
    pub fn watch(&self, changed: impl Fn(Option<i64>) + Send + 'static) {
        let mut client = self.client.clone();
        let key = self.state_key();
        let mut after = self.revision;
        let describe = self.describe();
        self.runtime.spawn(async move {
            loop {
                let options = WatchOptions::new().with_start_revision(after + 1);
                match client.watch(key.clone(), Some(options)).await {
                    Ok(mut stream) => loop {
                        match stream.message().await {
                            Ok(Some(response)) => {
                                if response.compact_revision() > 0 {
                                    // Watch on from the oldest revision etcd keeps; the full read
                                    // below covers what was compacted away.
                                    after = after.max(response.compact_revision() - 1);
                                }
                                if response.canceled() || response.compact_revision() > 0 {
                                    tracing::warn!(
                                        store = describe,
                                        reason = response.cancel_reason(),
                                        compacted = response.compact_revision(),
                                        "etcd ended the watch; reading the state again"
                                    );
                                    break;
                                }
                                for event in response.events() {
                                    if let Some(kv) = event.kv() {
                                        after = after.max(kv.mod_revision());
                                        changed(Some(kv.mod_revision()));
                                    }
                                }
                            }
                            Ok(None) => break,
                            Err(error) => {
                                tracing::warn!(store = describe, %error, "lost the watch on etcd");
                                break;
                            }
                        }
                    },
                    Err(error) => tracing::debug!(store = describe, %error, "cannot watch etcd yet"),
                }
                tokio::time::sleep(REWATCH_AFTER).await;
                // Read whole before watching again: from there on, watch from what was read.
                changed(None);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = |endpoints: &[&str], prefix: &str, tls: bool| EtcdUrl {
            endpoints: endpoints.iter().map(|endpoint| endpoint.to_string()).collect(),
            prefix: prefix.into(),
            tls,
        };
        #[rustfmt::skip]
        let cases: &[(&str, Result<EtcdUrl, &str>)] = &[
            ("etcd://127.0.0.1:2379/scfgate", Ok(url(&["127.0.0.1:2379"], "/scfgate", false))),
            ("etcd://a:1,b:2/edge/prod/", Ok(url(&["a:1", "b:2"], "/edge/prod", false))),
            ("etcd://a:1", Ok(url(&["a:1"], "/scfgate", false))),
            ("etcds://etcd.internal:2379/x", Ok(url(&["etcd.internal:2379"], "/x", true))),
            ("http://a:1/x", Err("expected etcd://")),
            ("etcd://a/x", Err("`a` is not HOST:PORT")),
            ("etcd://a:port/x", Err("is not HOST:PORT")),
            ("etcd://user:pw@a:1/x", Err("no user or password in the URL")),
        ];
        for (text, expected) in cases {
            match (EtcdUrl::parse(text), expected) {
                (Ok(got), Ok(expected)) => assert_eq!(&got, expected, "{text}"),
                (Err(got), Err(expected)) => assert!(got.contains(expected), "{text}: {got}"),
                (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
            }
        }
    }
}
