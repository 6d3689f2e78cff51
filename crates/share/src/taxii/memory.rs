//! A TAXII backend held in memory: for tests, demos, and as a reference for the database
//! backend.

use super::{
    select, BackendError, CollectionInfo, Credentials, ObjectQuery, Page, Status, StatusDetail,
    StoredObject, TaxiiBackend,
};
use crate::timestamp::Timestamp;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// Users with passwords, API keys, collections with per-user read and write grants, and
/// the statuses of add requests, all behind one lock. Clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    passwords: HashMap<String, String>,
    api_keys: HashMap<String, String>,
    collections: Vec<MemoryCollection>,
    /// Status id → (user who asked, status).
    statuses: HashMap<String, (String, Status)>,
    /// The last `date_added` given out; each add gets a later one.
    clock: Option<Timestamp>,
    requests: u64,
}

#[derive(Debug)]
struct MemoryCollection {
    info: CollectionInfo,
    readers: HashSet<String>,
    writers: HashSet<String>,
    objects: Vec<StoredObject>,
}

impl MemoryState {
    /// Now, but strictly after every earlier `date_added`, so paging keys never tie
    /// between requests even when the wall clock does.
    fn tick(&mut self) -> Timestamp {
        let now = Timestamp::now();
        let t = match self.clock {
            Some(last) if now <= last => last.next_micro(),
            _ => now,
        };
        self.clock = Some(t);
        t
    }

    fn collection(&mut self, id: &str) -> Result<&mut MemoryCollection, BackendError> {
        self.collections
            .iter_mut()
            .find(|c| c.info.id == id)
            .ok_or(BackendError::NotFound)
    }

    fn add(
        &mut self,
        user: &str,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Status, BackendError> {
        let requested = self.tick();
        self.requests += 1;
        let status_id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!(
                "taxii-status\u{1f}{}\u{1f}{}",
                self.requests,
                requested.unix_micros()
            )
            .as_bytes(),
        )
        .to_string();
        let c = self.collection(collection)?;
        let (mut successes, mut failures) = (Vec::new(), Vec::new());
        for object in objects {
            let id = object
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match StoredObject::new(object, requested) {
                Ok(stored) => {
                    let version = stored.version.to_string();
                    // The same version added twice is one version; the second add succeeds.
                    let known = c
                        .objects
                        .iter()
                        .any(|o| o.id == stored.id && o.version == stored.version);
                    if !known {
                        c.objects.push(stored);
                    }
                    successes.push(StatusDetail {
                        id,
                        version,
                        message: None,
                    });
                }
                Err(e) => failures.push(StatusDetail {
                    id,
                    version: String::new(),
                    message: Some(e.to_string()),
                }),
            }
        }
        let status = Status::from_details(
            status_id.clone(),
            requested,
            successes,
            failures,
            Vec::new(),
        );
        self.statuses
            .insert(status_id, (user.to_string(), status.clone()));
        Ok(status)
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while holding the lock leaves plain data behind, still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or replaces) a user who signs in with HTTP Basic.
    pub fn add_user(&self, user: &str, password: &str) {
        self.lock()
            .passwords
            .insert(user.to_string(), password.to_string());
    }

    /// Adds an API key that signs in as `user`.
    pub fn add_api_key(&self, key: &str, user: &str) {
        self.lock()
            .api_keys
            .insert(key.to_string(), user.to_string());
    }

    /// Adds an empty collection that nobody may see until [`MemoryBackend::grant`].
    pub fn add_collection(&self, id: &str, title: &str, description: Option<&str>) {
        let mut info = CollectionInfo::new(id, title, false, false);
        info.description = description.map(str::to_string);
        self.lock().collections.push(MemoryCollection {
            info,
            readers: HashSet::new(),
            writers: HashSet::new(),
            objects: Vec::new(),
        });
    }

    /// Lets `user` read and/or write a collection (a user with neither does not see it).
    pub fn grant(&self, collection: &str, user: &str, read: bool, write: bool) {
        let mut st = self.lock();
        if let Ok(c) = st.collection(collection) {
            if read {
                c.readers.insert(user.to_string());
            }
            if write {
                c.writers.insert(user.to_string());
            }
        }
    }

    /// Adds objects as an add request would, without credentials (for seeding).
    pub fn insert(&self, collection: &str, objects: Vec<Value>) -> Result<Status, BackendError> {
        self.lock().add("", collection, objects)
    }

    /// Every stored version in a collection, in the order added.
    pub fn objects(&self, collection: &str) -> Vec<StoredObject> {
        self.lock()
            .collection(collection)
            .map(|c| c.objects.clone())
            .unwrap_or_default()
    }
}

impl TaxiiBackend for MemoryBackend {
    /// The user name.
    type Principal = String;

    async fn authenticate(
        &self,
        credentials: &Credentials,
    ) -> Result<Option<String>, BackendError> {
        let st = self.lock();
        Ok(match credentials {
            Credentials::Basic { user, password } => st
                .passwords
                .get(user)
                .filter(|p| *p == password)
                .map(|_| user.clone()),
            Credentials::ApiKey(key) => st.api_keys.get(key).cloned(),
        })
    }

    async fn collections(&self, user: &String) -> Result<Vec<CollectionInfo>, BackendError> {
        let st = self.lock();
        Ok(st
            .collections
            .iter()
            .filter_map(|c| {
                let (read, write) = (c.readers.contains(user), c.writers.contains(user));
                (read || write).then(|| CollectionInfo {
                    can_read: read,
                    can_write: write,
                    ..c.info.clone()
                })
            })
            .collect())
    }

    async fn get_objects(
        &self,
        user: &String,
        collection: &str,
        query: &ObjectQuery,
    ) -> Result<Page, BackendError> {
        let mut st = self.lock();
        let c = st.collection(collection)?;
        if !c.readers.contains(user) {
            return Err(BackendError::NotFound);
        }
        select(&c.objects, query)
    }

    async fn add_objects(
        &self,
        user: &String,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Status, BackendError> {
        let mut st = self.lock();
        if !st.collection(collection)?.writers.contains(user) {
            return Err(BackendError::NotFound);
        }
        st.add(user, collection, objects)
    }

    async fn status(&self, user: &String, id: &str) -> Result<Option<Status>, BackendError> {
        let st = self.lock();
        Ok(st
            .statuses
            .get(id)
            .filter(|(owner, _)| owner == user)
            .map(|(_, s)| s.clone()))
    }
}
