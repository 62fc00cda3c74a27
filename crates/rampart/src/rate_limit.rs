//! The gateway-level rate-limit settings (Envoy Gateway keeps them in its own configuration, not
//! in the BackendTrafficPolicy): where Redis is, how long to wait for it, and whether to refuse
//! requests when it fails. A configuration with global limits is refused when no Redis is set.

use rampart_model::route::RouteTable;
use rampart_model::Snapshot;

/// One message per policy with global rules, when this gateway has no Redis.
pub fn require_redis(snapshot: &Snapshot, has_redis: bool) -> Result<(), Vec<String>> {
    if has_redis {
        return Ok(());
    }
    let mut out: Vec<String> = Vec::new();
    for l in &snapshot.listeners {
        collect(&l.routes, &mut out);
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

fn collect(table: &RouteTable, out: &mut Vec<String>) {
    for vhost in &table.vhosts {
        for route in &vhost.routes {
            let Some(rl) = &route.rate_limit else {
                continue;
            };
            let Some(at) = &rl.policy.global_at else {
                continue;
            };
            let msg = format!(
                "{at}: global rate limits need a Redis server: start rampart with --rate-limit-redis redis://HOST:PORT"
            );
            if !out.contains(&msg) {
                out.push(msg);
            }
        }
    }
}
