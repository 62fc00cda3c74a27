//! Locality-aware load balancing (`localityLbSetting`), resolved at compile time into per-endpoint
//! priorities and weights, as Istio resolves it into Envoy's `priority` and locality weights.
//!
//! - `distribute`: for a proxy whose locality matches `from`, traffic is split over the `to`
//!   localities by their weights; endpoints elsewhere get none. A locality's weight is shared by
//!   its endpoints in proportion to their own weights.
//! - failover (only with `outlierDetection`, which Istio requires for it): endpoints are ranked
//!   by how much of the proxy's locality they share: priority 0 = same region/zone/subzone, 1 =
//!   same region/zone, 2 = same region, 3 = elsewhere (4 when a `failover` rule for the proxy's
//!   region names another region). `failoverPriority` labels rank first: endpoints matching the
//!   proxy's labels on more leading labels come first. Priorities are then made contiguous.
//!   Traffic goes to the best priority while enough of it is healthy (see `upstream`).

use std::collections::{BTreeMap, BTreeSet};

use rampart_config::networking::LocalityLoadBalancerSetting;
use rampart_model::EndpointSpec;

/// Scale for distribute weights, so integer weights keep two decimals of a percentage.
const WEIGHT_SCALE: u64 = 100;

/// Applies `setting` to `endpoints` for a proxy at `proxy_locality` with `proxy_labels`.
pub fn apply(
    setting: Option<&LocalityLoadBalancerSetting>,
    outlier_detection: bool,
    proxy_locality: Option<&str>,
    proxy_labels: &BTreeMap<String, String>,
    endpoints: &mut Vec<EndpointSpec>,
) {
    let proxy = proxy_locality.unwrap_or("");
    let enabled = setting.and_then(|s| s.enabled).unwrap_or(true);
    if !enabled {
        return;
    }
    if let Some(rules) = setting.map(|s| &s.distribute).filter(|d| !d.is_empty()) {
        if let Some(rule) = rules.iter().find(|r| locality_matches(proxy, &r.from)) {
            distribute(&rule.to, endpoints);
        }
        return;
    }
    if outlier_detection {
        let failover = setting.map(|s| s.failover.as_slice()).unwrap_or(&[]);
        let labels = setting
            .map(|s| s.failover_priority.as_slice())
            .unwrap_or(&[]);
        let rank = |ep: &EndpointSpec| {
            let label_rank = label_priority(labels, proxy_labels, &ep.labels);
            let here = ep.locality.as_deref().unwrap_or("");
            let mut locality_rank = locality_priority(proxy, here);
            if locality_rank == 3 {
                let proxy_region = region(proxy);
                if let Some(rule) = failover.iter().find(|f| f.from == proxy_region) {
                    if region(here) != rule.to {
                        locality_rank = 4;
                    }
                }
            }
            (label_rank, locality_rank)
        };
        let ranks: BTreeSet<(usize, u32)> = endpoints.iter().map(rank).collect();
        let order: Vec<(usize, u32)> = ranks.into_iter().collect();
        for ep in endpoints.iter_mut() {
            let r = rank(ep);
            ep.priority = order.iter().position(|o| *o == r).unwrap_or(0) as u32;
        }
    }
}

/// Splits traffic over the `to` localities; endpoints in no listed locality are dropped.
fn distribute(to: &BTreeMap<String, u32>, endpoints: &mut Vec<EndpointSpec>) {
    let mut weights: Vec<Option<u64>> = vec![None; endpoints.len()];
    let mut claimed = vec![false; endpoints.len()];
    for (target, share) in to {
        let members: Vec<usize> = (0..endpoints.len())
            .filter(|&i| {
                !claimed[i]
                    && locality_matches(endpoints[i].locality.as_deref().unwrap_or(""), target)
            })
            .collect();
        let total: u64 = members
            .iter()
            .map(|&i| u64::from(endpoints[i].weight))
            .sum();
        for &i in &members {
            claimed[i] = true;
            let w = u64::from(*share) * WEIGHT_SCALE * u64::from(endpoints[i].weight);
            weights[i] = Some(w.div_ceil(total.max(1)));
        }
    }
    let mut i = 0;
    endpoints.retain(|_| {
        let keep = weights[i].is_some_and(|w| w > 0);
        i += 1;
        keep
    });
    let kept: Vec<u64> = weights.into_iter().flatten().filter(|&w| w > 0).collect();
    for (ep, w) in endpoints.iter_mut().zip(kept) {
        ep.weight = w.min(u64::from(u32::MAX)) as u32;
    }
}

/// 0 when the first labels (up to all of them) all match, counting up per label that does not.
fn label_priority(
    keys: &[String],
    proxy: &BTreeMap<String, String>,
    endpoint: &BTreeMap<String, String>,
) -> usize {
    let matched = keys
        .iter()
        .take_while(|k| proxy.get(*k).is_some_and(|v| endpoint.get(*k) == Some(v)))
        .count();
    keys.len() - matched
}

/// Istio's `LbPriority`: 0 same region/zone/subzone, 1 same region/zone, 2 same region, 3 other.
fn locality_priority(proxy: &str, endpoint: &str) -> u32 {
    let p: Vec<&str> = split(proxy);
    let e: Vec<&str> = split(endpoint);
    if p[0] != e[0] {
        3
    } else if p[1] != e[1] {
        2
    } else if p[2] != e[2] {
        1
    } else {
        0
    }
}

fn split(locality: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = locality.splitn(3, '/').collect();
    parts.resize(3, "");
    parts
}

fn region(locality: &str) -> &str {
    locality.split('/').next().unwrap_or("")
}

/// Istio's `LocalityMatch`: `pattern` is `region[/zone[/subzone]]`, where a trailing `*` matches
/// anything from there on.
fn locality_matches(locality: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let have = split(locality);
    for (i, want) in pattern.split('/').enumerate() {
        if want == "*" {
            return true;
        }
        if have.get(i).copied().unwrap_or("") != want {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::EndpointAddress;

    fn ep(port: u16, locality: &str) -> EndpointSpec {
        EndpointSpec {
            address: EndpointAddress::Socket(([127, 0, 0, 1], port).into()),
            weight: 1,
            labels: BTreeMap::new(),
            locality: (!locality.is_empty()).then(|| locality.into()),
            priority: 0,
        }
    }

    fn setting(yaml: &str) -> LocalityLoadBalancerSetting {
        serde_json::from_str(yaml).unwrap()
    }

    #[test]
    fn failover_ranks_by_shared_locality_and_compacts() {
        let mut eps = vec![
            ep(1, "us-east/a/1"),
            ep(2, "us-east/b/1"),
            ep(3, "eu-west/a/1"),
            ep(4, "us-east/a/2"),
        ];
        apply(None, true, Some("us-east/a/1"), &BTreeMap::new(), &mut eps);
        let p: Vec<u32> = eps.iter().map(|e| e.priority).collect();
        assert_eq!(p, [0, 2, 3, 1]);
    }

    #[test]
    fn no_failover_without_outlier_detection() {
        let mut eps = vec![ep(1, "us-east/a/1"), ep(2, "eu-west/a/1")];
        apply(None, false, Some("us-east/a/1"), &BTreeMap::new(), &mut eps);
        assert!(eps.iter().all(|e| e.priority == 0));
    }

    #[test]
    fn failover_rule_puts_its_target_region_before_others() {
        let s = setting(r#"{"failover": [{"from": "us-east", "to": "eu-west"}]}"#);
        let mut eps = vec![
            ep(1, "us-east/a/1"),
            ep(2, "ap-south/a/1"),
            ep(3, "eu-west/a/1"),
        ];
        apply(
            Some(&s),
            true,
            Some("us-east/a/1"),
            &BTreeMap::new(),
            &mut eps,
        );
        let p: Vec<u32> = eps.iter().map(|e| e.priority).collect();
        assert_eq!(p, [0, 2, 1]);
    }

    #[test]
    fn failover_priority_labels_rank_first() {
        let s = setting(r#"{"failoverPriority": ["topology.istio.io/network"]}"#);
        let me = BTreeMap::from([("topology.istio.io/network".to_string(), "n1".to_string())]);
        let mut same = ep(1, "eu-west/a/1");
        same.labels = me.clone();
        let mut eps = vec![ep(2, "us-east/a/1"), same];
        apply(Some(&s), true, Some("us-east/a/1"), &me, &mut eps);
        assert_eq!(
            eps[1].priority, 0,
            "same network first, whatever the locality"
        );
        assert_eq!(eps[0].priority, 1);
    }

    #[test]
    fn distribute_splits_by_locality_weight_and_drops_the_rest() {
        let s = setting(
            r#"{"distribute": [{"from": "us-east/*", "to": {"us-east/a/*": 80, "us-east/b/*": 20}}]}"#,
        );
        let mut eps = vec![
            ep(1, "us-east/a/1"),
            ep(2, "us-east/a/2"),
            ep(3, "us-east/b/1"),
            ep(4, "eu-west/a/1"),
        ];
        apply(
            Some(&s),
            false,
            Some("us-east/a/1"),
            &BTreeMap::new(),
            &mut eps,
        );
        let w: Vec<(u16, u32)> = eps
            .iter()
            .map(|e| match e.address {
                EndpointAddress::Socket(a) => (a.port(), e.weight),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(w, [(1, 4000), (2, 4000), (3, 2000)]);
    }

    #[test]
    fn locality_patterns() {
        assert!(locality_matches("us-east/a/1", "us-east/*"));
        assert!(locality_matches("us-east/a/1", "us-east"));
        assert!(locality_matches("us-east/a/1", "*"));
        assert!(!locality_matches("us-east/a/1", "us-east/b/*"));
        assert!(locality_matches("us-east/a/1", "us-east/a/1"));
    }
}
