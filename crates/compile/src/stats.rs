//! Stat ids: each distinct (route, destination) label set gets one dense index.

use std::collections::HashMap;

use rampart_telemetry::StatKey;

/// Assigns stat ids; id 0 is "no route matched".
pub struct StatTable {
    keys: Vec<StatKey>,
    ids: HashMap<StatKey, u32>,
}

impl StatTable {
    pub fn new() -> Self {
        let mut table = Self {
            keys: Vec::new(),
            ids: HashMap::new(),
        };
        table.id("-", "unknown", "unknown");
        table
    }

    /// The id for these labels, allocating one the first time.
    pub fn id(&mut self, route: &str, service: &str, version: &str) -> u32 {
        let key = StatKey {
            route: route.into(),
            destination_service: service.into(),
            destination_version: version.into(),
        };
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.ids.insert(key, id);
        id
    }

    pub fn into_keys(self) -> Vec<StatKey> {
        self.keys
    }
}
