//! Maglev consistent hashing (Envoy's `MAGLEV`): a lookup table filled by per-endpoint
//! permutations, so a pick is one modulo and one index.

use std::sync::Arc;

use super::stable_hash;
use crate::endpoint::Endpoint;

/// `consistentHash.maglev`.
#[derive(Debug)]
pub struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// Fills a table of `table_size` (a prime) slots; weights scale each endpoint's turns.
    pub fn new(endpoints: &[Arc<Endpoint>], table_size: u32) -> Self {
        let m = u64::from(table_size.max(1));
        if endpoints.is_empty() {
            return Self { table: Vec::new() };
        }
        let perms: Vec<(u64, u64)> = endpoints
            .iter()
            .map(|ep| {
                let name = ep.address.to_string();
                let offset = stable_hash(name.as_bytes()) % m;
                let skip = stable_hash(format!("{name}#skip").as_bytes())
                    % (m.saturating_sub(1).max(1))
                    + 1;
                (offset, skip)
            })
            .collect();
        let max_weight = u64::from(endpoints.iter().map(|e| e.weight).max().unwrap_or(1));
        let mut next = vec![0u64; endpoints.len()];
        let mut credit = vec![0u64; endpoints.len()];
        let mut table = vec![u32::MAX; m as usize];
        let mut filled = 0u64;
        'fill: loop {
            for (i, ep) in endpoints.iter().enumerate() {
                // Weighted maglev: an endpoint takes a turn each time its credit reaches the
                // largest weight, so turns are proportional to weight.
                credit[i] += u64::from(ep.weight);
                if credit[i] < max_weight {
                    continue;
                }
                credit[i] -= max_weight;
                let (offset, skip) = perms[i];
                loop {
                    let slot = (offset + next[i] * skip) % m;
                    next[i] += 1;
                    if table[slot as usize] == u32::MAX {
                        table[slot as usize] = i as u32;
                        filled += 1;
                        break;
                    }
                }
                if filled == m {
                    break 'fill;
                }
            }
        }
        Self { table }
    }

    /// The endpoint for `hash`. Requires endpoints.
    pub fn pick(&self, hash: u64) -> usize {
        self.table[(hash % self.table.len() as u64) as usize] as usize
    }
}
