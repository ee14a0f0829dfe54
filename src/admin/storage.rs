//! Where the management plane's state is kept: a state directory for one node (the default,
//! [`super::store::Store`]), or etcd for a cluster of nodes that serve one configuration
//! ([`super::etcd::EtcdStore`]). The admin code sees one interface and one error type.

use std::path::PathBuf;

use super::etcd::{EtcdSettings, EtcdStore};
pub use super::store::StoreError;
use super::store::{State, Store};

/// What the operator chose (`--state-dir` or `--store`).
#[derive(Debug)]
pub enum StoreChoice {
    /// A state directory.
    Directory(PathBuf),
    /// etcd.
    Etcd(Box<EtcdSettings>),
}

/// The open store.
pub enum Storage {
    /// `--state-dir`.
    Directory(Store),
    /// `--store etcd://...`.
    Etcd(Box<EtcdStore>),
}

impl Storage {
    /// Opens the store and reads its state (`None` when it holds none yet). A directory is
    /// locked when `exclusive`; etcd is shared by design.
    pub fn open(choice: StoreChoice, exclusive: bool) -> Result<(Storage, Option<State>), String> {
        match choice {
            StoreChoice::Directory(dir) => {
                let (store, state) = Store::open(&dir, exclusive)?;
                Ok((Storage::Directory(store), state))
            }
            StoreChoice::Etcd(settings) => {
                let mut store = EtcdStore::connect(*settings)?;
                let state = store.load().map_err(|error| format!("cannot read the state from etcd: {error}"))?;
                Ok((Storage::Etcd(Box::new(store)), state))
            }
        }
    }

    /// Stores `state` (in etcd, only over the state this node last read or wrote).
    pub fn save(&mut self, state: &State) -> Result<(), StoreError> {
        match self {
            Storage::Directory(store) => store.save(state).map_err(StoreError::Failed),
            Storage::Etcd(store) => store.save(state),
        }
    }

    /// Where the state is, for people: the directory, or `etcd://members/prefix`.
    pub fn describe(&self) -> String {
        match self {
            Storage::Directory(store) => store.dir().display().to_string(),
            Storage::Etcd(store) => store.describe(),
        }
    }

    /// A binary upgrade hands a directory's lock over; etcd has none to hand.
    pub fn set_locked(&self, locked: bool) -> Result<(), String> {
        match self {
            Storage::Directory(store) => store.set_locked(locked),
            Storage::Etcd(_) => Ok(()),
        }
    }
}
