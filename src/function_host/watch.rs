//! `--watch` (development): a thread that polls each local function's code folder every 500 ms
//! and, when something under it changed and then stayed unchanged for one more poll, bumps that
//! function's counter; the host thread sees it on its next tick and restarts that function's
//! processes (`FunctionSlot::restart_for_new_code`). Other functions are not touched. The list
//! of folders follows reloads.
//!
//! Polling file metadata (names, sizes, modification times) needs no platform API and sees
//! changes on any file system, network and container mounts included; inotify would be quicker
//! but misses those. Names starting with `.` (`.git`, editor swap files) and `__pycache__` (which
//! Python writes into the code folder itself) are ignored, and at most [`MAX_ENTRIES`] entries
//! per folder are looked at.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const POLL: Duration = Duration::from_millis(500);
/// Files and folders looked at per code folder: a folder with a huge dependency tree still
/// costs a bounded walk every poll.
const MAX_ENTRIES: usize = 20_000;

/// The watcher's list of code folders, which reloads replace ([`Watcher::set`]).
#[derive(Clone, Default)]
pub struct Watcher {
    watched: Arc<Mutex<Vec<Watched>>>,
}

impl Watcher {
    /// Starts the watcher thread; it ends once `stop` is set.
    pub fn start(stop: Arc<AtomicBool>) -> io::Result<Watcher> {
        let watcher = Watcher::default();
        let polled = watcher.clone();
        std::thread::Builder::new().name("scfgate-watch".into()).spawn(move || {
            tracing::info!("watching local functions' code folders for changes (--watch)");
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(POLL);
                for watched in polled.lock().iter_mut() {
                    if watched.poll() {
                        watched.counter.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
        })?;
        Ok(watcher)
    }

    /// Watches `folders` (each with the counter its unit reads) from now on: a folder watched
    /// already keeps its state; a new one is looked at now, so a change made right after this
    /// returns is seen.
    pub fn set(&self, folders: Vec<(PathBuf, Arc<AtomicU64>)>) {
        let mut watched = self.lock();
        let mut next = Vec::with_capacity(folders.len());
        for (folder, counter) in folders {
            let kept = watched.iter().position(|old| Arc::ptr_eq(&old.counter, &counter) && old.folder == folder);
            next.push(match kept {
                Some(index) => watched.swap_remove(index),
                None => Watched { fingerprint: fingerprint(&folder), folder, counter, settling: false },
            });
        }
        *watched = next;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        self.watched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Watched {
    /// Bumped when the folder changed; its unit restarts its processes.
    counter: Arc<AtomicU64>,
    folder: PathBuf,
    fingerprint: Fingerprint,
    /// Changed at the last poll: report it once it stops changing (an editor or `cp -r` may
    /// write several files, and a half-written `bootstrap` must not be started).
    settling: bool,
}

impl Watched {
    /// True when a change has settled and the function should restart.
    fn poll(&mut self) -> bool {
        let now = fingerprint(&self.folder);
        if now != self.fingerprint {
            if now.truncated && !self.fingerprint.truncated {
                tracing::warn!(folder = %self.folder.display(), max_entries = MAX_ENTRIES, "code folder has more entries than --watch looks at; changes past them are not seen");
            }
            self.fingerprint = now;
            self.settling = true;
            return false;
        }
        std::mem::take(&mut self.settling)
    }
}

#[derive(Debug, PartialEq)]
struct Fingerprint {
    hash: u64,
    truncated: bool,
}

/// A hash of every entry's relative path, kind, size and modification time under `folder`.
fn fingerprint(folder: &Path) -> Fingerprint {
    let mut hasher = DefaultHasher::new();
    let mut budget = MAX_ENTRIES;
    walk(folder, &mut hasher, &mut budget);
    Fingerprint { hash: hasher.finish(), truncated: budget == 0 }
}

fn walk(folder: &Path, hasher: &mut DefaultHasher, budget: &mut usize) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    // read_dir's order is the file system's; sorting makes the hash depend on contents only.
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") || name == "__pycache__" {
            continue;
        }
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        name.hash(hasher);
        // Follows a symbolic link to see its target's changes, but never descends into a linked
        // folder (which could loop).
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        match std::fs::metadata(entry.path()) {
            Ok(metadata) => {
                (is_folder, metadata.len(), metadata.modified().ok()).hash(hasher);
            }
            Err(_) => 0u8.hash(hasher),
        }
        if is_folder {
            walk(&entry.path(), hasher, budget);
            // Marks the folder's end, so moving a file between levels changes the hash.
            b'/'.hash(hasher);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_reported_once_it_has_settled() {
        let folder = std::env::temp_dir().join(format!("scfgate-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(folder.join("lib")).unwrap();
        std::fs::write(folder.join("bootstrap"), "v1").unwrap();
        let mut watched = Watched {
            counter: Arc::default(),
            fingerprint: fingerprint(&folder),
            folder: folder.clone(),
            settling: false,
        };
        assert!(!watched.poll(), "nothing changed");

        // Each kind of change: seen at one poll, reported at the next one that sees no change.
        type Change<'a> = (&'a str, &'a dyn Fn(&Path));
        #[rustfmt::skip]
        let changes: &[Change] = &[
            ("a file's size", &|folder| std::fs::write(folder.join("bootstrap"), "v22").unwrap()),
            ("a new file in a subfolder", &|folder| std::fs::write(folder.join("lib/util.sh"), "x").unwrap()),
            ("a removed file", &|folder| std::fs::remove_file(folder.join("lib/util.sh")).unwrap()),
            ("a renamed file", &|folder| std::fs::rename(folder.join("bootstrap"), folder.join("bootstrap2")).unwrap()),
        ];
        for (what, change) in changes {
            change(&folder);
            assert!(!watched.poll(), "{what}: reported before it settled");
            assert!(watched.poll(), "{what}: not reported");
            assert!(!watched.poll(), "{what}: reported twice");
        }

        // Ignored names.
        std::fs::write(folder.join(".swp"), "x").unwrap();
        std::fs::create_dir_all(folder.join("__pycache__")).unwrap();
        std::fs::write(folder.join("__pycache__/m.pyc"), "x").unwrap();
        assert!(!watched.poll() && !watched.poll(), "hidden files and __pycache__ count as changes");
        let _ = std::fs::remove_dir_all(&folder);
    }
}
