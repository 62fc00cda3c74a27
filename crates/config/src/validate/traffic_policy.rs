//! DestinationRule traffic-policy validation (Istio `validateTrafficPolicy` and helpers):
//! connection pool, outlier detection, load balancer, locality settings, client TLS,
//! port-level settings, tunnel, proxy protocol and retry budget (`trafficPolicy.retryBudget`
//! or, a Rampart extension, `connectionPool.http.retryBudget`; one per traffic policy).
//!
//! Receives: a `TrafficPolicy` at a field path. Hands on: diagnostics via [`Check`].

use std::collections::HashSet;

use super::{fqdn, is_ip, percent_int, port, set, Check};
use crate::networking::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, DestinationRule, H2UpgradePolicy,
    LoadBalancerSettings, LocalityFailover, OutlierDetection, RetryBudget, TrafficPolicy,
};

type C<'a, 'b> = &'a mut Check<'b, DestinationRule>;

/// Checks a traffic policy at `at`.
pub(super) fn validate(c: C<'_, '_>, at: &str, tp: &TrafficPolicy) {
    if tp.outlier_detection.is_none()
        && tp.connection_pool.is_none()
        && tp.load_balancer.is_none()
        && tp.tls.is_none()
        && tp.port_level_settings.is_empty()
        && tp.tunnel.is_none()
        && tp.proxy_protocol.is_none()
        && tp.retry_budget.is_none()
    {
        c.err(at, "traffic policy must have at least one field");
        return;
    }
    if tp.tunnel.is_some() && tp.proxy_protocol.is_some() {
        c.err(at, "tunnel and proxyProtocol must not be set together");
    }
    policies(
        c,
        at,
        tp.outlier_detection.as_ref(),
        tp.connection_pool.as_ref(),
        tp.load_balancer.as_ref(),
        tp.tls.as_ref(),
    );
    for (i, pl) in tp.port_level_settings.iter().enumerate() {
        let pp = format!("{at}.portLevelSettings[{i}]");
        match &pl.port {
            None => c.err(
                &format!("{pp}.port"),
                "portTrafficPolicy must have valid port",
            ),
            Some(p) => c.check(&format!("{pp}.port.number"), port(p.number)),
        }
        if pl.outlier_detection.is_none()
            && pl.connection_pool.is_none()
            && pl.load_balancer.is_none()
            && pl.tls.is_none()
        {
            c.err(&pp, "port traffic policy must have at least one field");
        } else {
            policies(
                c,
                &pp,
                pl.outlier_detection.as_ref(),
                pl.connection_pool.as_ref(),
                pl.load_balancer.as_ref(),
                pl.tls.as_ref(),
            );
        }
    }
    if let Some(t) = &tp.tunnel {
        let tp_ = format!("{at}.tunnel");
        if let Some(p) = t.protocol.as_deref().filter(|p| !p.is_empty()) {
            if p != "CONNECT" && p != "POST" {
                c.err(
                    &format!("{tp_}.protocol"),
                    "tunnel protocol must be \"CONNECT\" or \"POST\"",
                );
            }
        }
        if let Err(e) = fqdn(&t.target_host) {
            if !is_ip(&t.target_host) {
                c.err(
                    &format!("{tp_}.targetHost"),
                    format!("tunnel target host must be valid FQDN or IP address: {e}; {} is not a valid IP", t.target_host),
                );
            }
        }
        if let Err(e) = port(t.target_port) {
            c.err(
                &format!("{tp_}.targetPort"),
                format!("tunnel target port is invalid: {e}"),
            );
        }
    }
    if let Some(rb) = &tp.retry_budget {
        retry_budget(c, &format!("{at}.retryBudget"), rb);
        let pooled = tp.connection_pool.as_ref().and_then(|p| p.http.as_ref());
        if pooled.is_some_and(|h| h.retry_budget.is_some()) {
            c.err(
                &format!("{at}.connectionPool.http.retryBudget"),
                "only one of retryBudget and connectionPool.http.retryBudget may be set",
            );
        }
    }
}

/// `retryBudget`, at the traffic policy or in `connectionPool.http`.
fn retry_budget(c: C<'_, '_>, at: &str, rb: &RetryBudget) {
    if let Some(p) = rb.percent {
        if !(0.0..=100.0).contains(&p) {
            c.err(
                &format!("{at}.percent"),
                format!("retry budget percent {p} is not in range 0..100"),
            );
        }
    }
    c.duration(&format!("{at}.budgetInterval"), &rb.budget_interval);
}

fn policies(
    c: C<'_, '_>,
    at: &str,
    od: Option<&OutlierDetection>,
    cp: Option<&ConnectionPoolSettings>,
    lb: Option<&LoadBalancerSettings>,
    tls: Option<&ClientTlsSettings>,
) {
    if let Some(od) = od {
        outlier(c, &format!("{at}.outlierDetection"), od);
    }
    if let Some(cp) = cp {
        pool(c, &format!("{at}.connectionPool"), cp);
    }
    if let Some(lb) = lb {
        load_balancer(c, &format!("{at}.loadBalancer"), lb, od);
    }
    if let Some(tls) = tls {
        client_tls(c, &format!("{at}.tls"), tls);
    }
}

fn outlier(c: C<'_, '_>, at: &str, od: &OutlierDetection) {
    c.duration(&format!("{at}.baseEjectionTime"), &od.base_ejection_time);
    if od.consecutive_errors.is_some_and(|e| e != 0) {
        c.warn(
            &format!("{at}.consecutiveErrors"),
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
        );
    }
    if !od.split_external_local_origin_errors
        && od.consecutive_local_origin_failures.is_some_and(|v| v > 0)
    {
        c.err(
            &format!("{at}.consecutiveLocalOriginFailures"),
            "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
        );
    }
    c.duration(&format!("{at}.interval"), &od.interval);
    if let Some(p) = od.max_ejection_percent {
        c.check(&format!("{at}.maxEjectionPercent"), percent_int(p));
    }
    if let Some(p) = od.min_health_percent {
        c.check(&format!("{at}.minHealthPercent"), percent_int(p));
    }
    for (i, code) in od.outlier_detection_http_error_codes.iter().enumerate() {
        if !(100..=599).contains(code) {
            c.err(
                &format!("{at}.outlierDetectionHttpErrorCodes[{i}]"),
                format!("outlier detection http error code {code} is not in range 100-599"),
            );
        }
    }
}

fn non_negative(c: C<'_, '_>, at: &str, v: Option<i32>, what: &str) {
    if v.is_some_and(|v| v < 0) {
        c.err(at, format!("{what} must be non-negative"));
    }
}

fn pool(c: C<'_, '_>, at: &str, cp: &ConnectionPoolSettings) {
    if cp.http.is_none() && cp.tcp.is_none() {
        c.err(at, "connection pool must have at least one field");
        return;
    }
    if let Some(h) = &cp.http {
        let f = |x: &str| format!("{at}.http.{x}");
        non_negative(
            c,
            &f("http1MaxPendingRequests"),
            h.http1_max_pending_requests,
            "http1 max pending requests",
        );
        non_negative(
            c,
            &f("http2MaxRequests"),
            h.http2_max_requests,
            "http2 max requests",
        );
        non_negative(
            c,
            &f("maxRequestsPerConnection"),
            h.max_requests_per_connection,
            "max requests per connection",
        );
        non_negative(c, &f("maxRetries"), h.max_retries, "max retries");
        c.duration(&f("idleTimeout"), &h.idle_timeout);
        if h.h2_upgrade_policy == Some(H2UpgradePolicy::Upgrade) && h.use_client_protocol {
            c.err(
                &f("useClientProtocol"),
                "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
            );
        }
        non_negative(
            c,
            &f("maxConcurrentStreams"),
            h.max_concurrent_streams,
            "max concurrent streams",
        );
        if let Some(rb) = &h.retry_budget {
            retry_budget(c, &f("retryBudget"), rb);
        }
        if let Some(ka) = &h.http2_keep_alive {
            let kp = f("http2KeepAlive");
            match &ka.interval {
                None => c.err(&kp, "http2 keepalive interval is required"),
                Some(_) => c.duration(&format!("{kp}.interval"), &ka.interval),
            }
            match &ka.timeout {
                None => c.err(&kp, "http2 keepalive timeout is required"),
                Some(_) => c.duration(&format!("{kp}.timeout"), &ka.timeout),
            }
        }
    }
    if let Some(t) = &cp.tcp {
        let f = |x: &str| format!("{at}.tcp.{x}");
        non_negative(
            c,
            &f("maxConnections"),
            t.max_connections,
            "max connections",
        );
        c.duration(&f("connectTimeout"), &t.connect_timeout);
        c.duration(&f("maxConnectionDuration"), &t.max_connection_duration);
        if let Some(idle) = &t.idle_timeout {
            // `0s` disables the idle timeout; anything else (e.g. `0.5ms`) must be a valid duration.
            let zero = crate::duration::parse_duration(idle).is_ok_and(|d| d.is_zero());
            if !zero {
                c.duration(&f("idleTimeout"), &t.idle_timeout);
            }
        }
        if let Some(ka) = &t.tcp_keepalive {
            c.duration(&f("tcpKeepalive.time"), &ka.time);
            c.duration(&f("tcpKeepalive.interval"), &ka.interval);
        }
    }
}

// `is_multiple_of` needs Rust 1.87; the workspace MSRV is 1.85.
#[allow(clippy::manual_is_multiple_of)]
fn is_prime(x: u64) -> bool {
    if x != 0 && x < 4 {
        return true;
    }
    if x & 1 == 0 {
        return false;
    }
    let mut f = 3u64;
    while f.saturating_mul(f) <= x {
        if x % f == 0 {
            return false;
        }
        f += 2;
    }
    true
}

fn load_balancer(c: C<'_, '_>, at: &str, lb: &LoadBalancerSettings, od: Option<&OutlierDetection>) {
    if lb.simple.is_some() && lb.consistent_hash.is_some() {
        c.err(at, "only one of simple or consistentHash may be set");
    }
    if let Some(ch) = &lb.consistent_hash {
        let cp = format!("{at}.consistentHash");
        let keys = usize::from(set(&ch.http_header_name))
            + usize::from(ch.http_cookie.is_some())
            + usize::from(ch.use_source_ip == Some(true))
            + usize::from(set(&ch.http_query_parameter_name));
        if keys > 1 {
            c.err(&cp, "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set");
        }
        if let Some(cookie) = &ch.http_cookie {
            let kp = format!("{cp}.httpCookie");
            if cookie.name.is_empty() {
                c.err(&format!("{kp}.name"), "name required for HttpCookie");
            }
            c.duration(
                &format!("{kp}.ttl"),
                &cookie
                    .ttl
                    .clone()
                    .filter(|t| crate::duration::parse_duration(t).map_or(true, |d| !d.is_zero())),
            );
            let mut names = HashSet::new();
            for (i, a) in cookie.attributes.iter().enumerate() {
                let ap = format!("{kp}.attributes[{i}].name");
                if a.name.is_empty() {
                    c.err(&ap, "cookie attribute name cannot be empty");
                } else if !names.insert(a.name.as_str()) {
                    c.err(&ap, format!("duplicate cookie attribute name: {}", a.name));
                }
            }
        }
        if ch.minimum_ring_size.is_some_and(|m| m != 0) {
            c.warn(
                &format!("{cp}.minimumRingSize"),
                "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
            );
            if ch.ring_hash.is_some() || ch.maglev.is_some() {
                c.err(
                    &cp,
                    "only one of MinimumRingSize or Maglev/Ringhash can be specified",
                );
            }
        }
        if ch.ring_hash.is_some() && ch.maglev.is_some() {
            c.err(&cp, "only one of ringHash or maglev may be set");
        }
        if let Some(ml) = &ch.maglev {
            let mp = format!("{cp}.maglev.tableSize");
            let size = ml.table_size.unwrap_or(0);
            if size == 0 {
                c.err(&mp, "tableSize must be set for maglev");
            }
            if size >= 5_000_011 {
                c.err(&mp, "tableSize must be less than 5000011 for maglev");
            }
            if !is_prime(size) {
                c.err(&mp, "tableSize must be a prime number for maglev");
            }
        }
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        c.err(
            at,
            "only one of localityLbSetting and zoneAwareLbSetting can be set",
        );
    }
    if let Some(l) = &lb.locality_lb_setting {
        let lp = format!("{at}.localityLbSetting");
        if !l.distribute.is_empty() && !l.failover.is_empty() {
            c.err(
                &lp,
                "can not simultaneously specify 'distribute' and 'failover'",
            );
        } else {
            let mut sources = Vec::new();
            for (i, d) in l.distribute.iter().enumerate() {
                let dp = format!("{lp}.distribute[{i}]");
                sources.push(d.from.as_str());
                if d.to.values().any(|w| *w == 0 || *w > 100) {
                    c.err(
                        &format!("{dp}.to"),
                        "locality weight must be in range [1, 100]",
                    );
                    continue;
                }
                let total: u32 = d.to.values().sum();
                if total != 100 {
                    c.err(
                        &format!("{dp}.to"),
                        format!("total locality weight {total} != 100"),
                    );
                    continue;
                }
                c.check(
                    &format!("{dp}.to"),
                    localities(d.to.keys().map(String::as_str)),
                );
            }
            c.check(&format!("{lp}.distribute"), localities(sources.into_iter()));
            failover(
                c,
                &lp,
                &l.failover,
                !l.failover_priority.is_empty(),
                od,
                "locality lb",
            );
            if !l.failover.is_empty() {
                for p in &l.failover_priority {
                    if TOPOLOGY.contains(&p.as_str()) {
                        c.err(&format!("{lp}.failoverPriority"), format!("can not simultaneously set 'failover' and topology label '{p}' in 'failover_priority'"));
                    }
                }
            }
        }
    }
    if let Some(z) = &lb.zone_aware_lb_setting {
        let zp = format!("{at}.zoneAwareLbSetting");
        for p in &z.failover_priority {
            if TOPOLOGY.contains(&p.as_str()) {
                c.err(&format!("{zp}.failoverPriority"), format!("'failover_priority' for zone aware lb must not use topology label '{p}'; region- and zone-level routing are handled automatically"));
            }
        }
        failover(
            c,
            &zp,
            &z.failover,
            !z.failover_priority.is_empty(),
            od,
            "zone aware lb",
        );
    }
    if let Some(w) = &lb.warmup {
        let wp = format!("{at}.warmup");
        match &w.duration {
            None => c.err(&format!("{wp}.duration"), "duration is required"),
            Some(_) => c.duration(&format!("{wp}.duration"), &w.duration),
        }
        if w.minimum_percent.is_some_and(|p| p > 100.0) {
            c.err(
                &format!("{wp}.minimumPercent"),
                "minimumPercent value should be less than or equal to 100",
            );
        }
        if w.aggression.is_some_and(|a| a <= 0.0) {
            c.err(
                &format!("{wp}.aggression"),
                "aggression should be greater than 0",
            );
        }
    }
    if lb.warmup.is_some() && lb.warmup_duration_secs.is_some() {
        c.err(at, "only one of warmup or warmupDurationSecs may be set");
    }
    c.duration(
        &format!("{at}.warmupDurationSecs"),
        &lb.warmup_duration_secs,
    );
}

const TOPOLOGY: [&str; 3] = [
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

fn failover(
    c: C<'_, '_>,
    at: &str,
    list: &[LocalityFailover],
    has_priority: bool,
    od: Option<&OutlierDetection>,
    what: &str,
) {
    if (!list.is_empty() || has_priority) && od.is_none() {
        c.warn(at, "outlier detection policy must be provided for failover");
    }
    for (i, f) in list.iter().enumerate() {
        let fp = format!("{at}.failover[{i}]");
        if f.from == f.to {
            c.err(
                &fp,
                format!("{what} failover settings must specify different regions"),
            );
        }
        if f.from.contains('/') || f.to.contains('/') {
            c.err(&fp, format!("{what} failover only specify region"));
        }
        if f.from.contains('*') || f.to.contains('*') {
            c.err(
                &fp,
                format!("{what} failover region should not contain '*' wildcard"),
            );
        }
    }
}

/// Locality list: `region[/zone[/subzone]]`, at most one trailing `*`, no overlaps.
fn localities<'a>(list: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen: Vec<Vec<&str>> = Vec::new();
    for l in list {
        let stars = l.matches('*').count();
        if stars > 1 || (stars == 1 && !l.ends_with('*')) {
            return Err(format!(
                "locality {l} wildcard '*' number can not exceed 1 and must be in the end"
            ));
        }
        let parts: Vec<&str> = l.splitn(3, '/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "locality {l} must not contain empty region/zone/subzone info"
            ));
        }
        let covers = |a: &[&str], b: &[&str]| {
            a.iter()
                .zip(b.iter())
                .all(|(x, y)| x == y || *x == "*" || *y == "*")
        };
        if seen.iter().any(|s| covers(s, &parts)) {
            return Err(format!("locality {l} overlap with previous specified ones"));
        }
        seen.push(parts);
    }
    Ok(())
}

fn client_tls(c: C<'_, '_>, at: &str, tls: &ClientTlsSettings) {
    let mode = tls.mode.unwrap_or_default();
    if tls.insecure_skip_verify == Some(true) {
        if mode == ClientTlsMode::Simple
            && (set(&tls.ca_certificates)
                || set(&tls.credential_name)
                || !tls.subject_alt_names.is_empty())
        {
            c.err(at, "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
        }
        if mode == ClientTlsMode::Mutual
            && (set(&tls.ca_certificates) || !tls.subject_alt_names.is_empty())
        {
            c.err(at, "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true");
        }
    }
    if matches!(mode, ClientTlsMode::Simple | ClientTlsMode::Mutual) && set(&tls.credential_name) {
        if set(&tls.client_certificate)
            || set(&tls.ca_certificates)
            || set(&tls.private_key)
            || set(&tls.ca_crl)
        {
            c.err(at, "cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
        }
        return;
    }
    if mode == ClientTlsMode::Mutual {
        if !set(&tls.client_certificate) {
            c.err(
                &format!("{at}.clientCertificate"),
                "client certificate required for mutual tls",
            );
        }
        if !set(&tls.private_key) {
            c.err(
                &format!("{at}.privateKey"),
                "private key required for mutual tls",
            );
        }
    }
    if mode == ClientTlsMode::IstioMutual
        && (set(&tls.client_certificate)
            || set(&tls.private_key)
            || set(&tls.ca_certificates)
            || set(&tls.credential_name)
            || set(&tls.ca_crl))
    {
        c.err(
            at,
            "ISTIO_MUTUAL TLS cannot have associated certificates or credentialName",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_and_localities() {
        assert!(is_prime(65537));
        assert!(!is_prime(65536));
        assert!(localities(["us-east/*", "us-west"].into_iter()).is_ok());
        assert!(localities(["us-east/*", "us-east/a"].into_iter()).is_err());
        assert!(localities(["us-*/a"].into_iter()).is_err());
    }
}
