//! The commands of the `rampart` binary (DESIGN.md §1).

pub mod explain;
pub mod run;
pub mod status;
pub mod validate;

use std::collections::BTreeMap;

/// Parses `k=v` labels.
pub fn parse_labels(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    raw.iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--label {l:?}: expected key=value"))
        })
        .collect()
}
