//! Global limits: a fixed-window counter per (rule, route unless `shared`, descriptor, window)
//! in Redis, as envoyproxy/ratelimit keeps them. One `EVAL` per request counts every matching
//! global rule atomically: `INCR` each key and, on its first count, `PEXPIRE` it at the end of
//! its window. `EVAL` (not `EVALSHA`) keeps the client stateless across Redis restarts; Redis
//! caches the compiled script by its digest either way.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::redis::{encode, Client, RedisError, Value};

const SCRIPT: &[u8] = b"local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[i]) end
  out[i] = n
end
return out";

/// Descriptors longer than this are hashed in the key (FNV-1a, identical on every replica).
const MAX_RAW_DESCRIPTOR: usize = 200;

/// One counter to increment.
#[derive(Debug)]
pub struct Counter<'a> {
    /// Rule identity.
    pub rule: &'a str,
    /// Route key, empty when the rule is shared.
    pub route: &'a str,
    /// Distinct values.
    pub descriptor: &'a str,
    /// Window length in seconds.
    pub unit_secs: u64,
}

/// A counted window: the count after this request and the milliseconds until the window ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Requests counted in the window, this one included.
    pub count: u64,
    /// Until the window resets.
    pub reset_ms: u64,
}

/// Counts one request on every counter, in one round trip.
pub async fn count(client: &Client, counters: &[Counter<'_>]) -> Result<Vec<Counted>, RedisError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut keys = Vec::with_capacity(counters.len());
    let mut ttls = Vec::with_capacity(counters.len());
    let mut resets = Vec::with_capacity(counters.len());
    for c in counters {
        let unit_ms = c.unit_secs.max(1) * 1000;
        let window = now_ms / unit_ms;
        let reset_ms = (window + 1) * unit_ms - now_ms;
        keys.push(key(c, window));
        // A little slack so a replica whose clock runs late still finds the key.
        ttls.push((reset_ms + 1000).to_string());
        resets.push(reset_ms);
    }
    let n = counters.len().to_string();
    let mut args: Vec<&[u8]> = vec![b"EVAL", SCRIPT, n.as_bytes()];
    args.extend(keys.iter().map(|k| k.as_slice()));
    args.extend(ttls.iter().map(|t| t.as_bytes()));
    let mut cmd = Vec::with_capacity(256);
    encode(&mut cmd, &args);
    match client.call(cmd).await? {
        Value::Array(Some(items)) if items.len() == counters.len() => items
            .into_iter()
            .zip(resets)
            .map(|(v, reset_ms)| match v {
                Value::Int(n) => Ok(Counted {
                    count: n.max(0) as u64,
                    reset_ms,
                }),
                other => Err(RedisError::Server(format!("unexpected reply {other:?}"))),
            })
            .collect(),
        other => Err(RedisError::Server(format!("unexpected reply {other:?}"))),
    }
}

/// `rampart_rl:<rule>:<route>:<descriptor>:<window>`.
fn key(c: &Counter<'_>, window: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(64 + c.descriptor.len().min(MAX_RAW_DESCRIPTOR));
    k.extend_from_slice(b"rampart_rl:");
    k.extend_from_slice(c.rule.as_bytes());
    k.push(b':');
    k.extend_from_slice(c.route.as_bytes());
    k.push(b':');
    if c.descriptor.len() > MAX_RAW_DESCRIPTOR {
        k.extend_from_slice(format!("#{:016x}", fnv1a(c.descriptor.as_bytes())).as_bytes());
    } else {
        k.extend_from_slice(c.descriptor.as_bytes());
    }
    k.push(b':');
    k.extend_from_slice(window.to_string().as_bytes());
    k
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_rule_route_descriptor_and_window() {
        let c = Counter {
            rule: "ns/p/global/0",
            route: "ns/vs/1",
            descriptor: "alice",
            unit_secs: 60,
        };
        assert_eq!(key(&c, 7), b"rampart_rl:ns/p/global/0:ns/vs/1:alice:7");
        let long = "x".repeat(300);
        let c = Counter {
            descriptor: &long,
            ..c
        };
        let k = String::from_utf8(key(&c, 7)).unwrap();
        assert!(k.len() < 80 && k.contains(":#"), "{k}");
    }
}
