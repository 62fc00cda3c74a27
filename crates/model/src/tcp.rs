//! Layer-4 routes: VirtualService `tcp` routes (plain TCP, or TCP inside terminated TLS) and
//! `tls` routes (TLS passed through unterminated, routed by SNI).
//!
//! Rules are tried in order and the first match wins, except that a connection with SNI goes to
//! the rule whose `sniHosts` name it most specifically (an exact name, then the longest wildcard
//! suffix), as Envoy picks among the SNI filter chains Istio generates for `tls` routes.

use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::listener::ServerName;
use crate::route::Forward;

/// The ordered layer-4 rules of one listener (or of one TLS chain of it).
#[derive(Debug, Default)]
pub struct TcpRoutes {
    /// Rules in VirtualService load order, then rule order.
    pub rules: Vec<TcpRule>,
}

impl TcpRoutes {
    /// The rule for the connection: the first that matches, or with SNI the one that names it
    /// most specifically (ties: the first).
    pub fn find(&self, conn: &TcpConn<'_>) -> Option<&TcpRule> {
        if conn.sni.is_none() {
            // Without SNI every matching rule ranks the same: first match.
            return self.rules.iter().find(|r| r.rank(conn).is_some());
        }
        let mut best: Option<(&TcpRule, usize)> = None;
        for rule in &self.rules {
            if let Some(rank) = rule.rank(conn) {
                if best.is_none_or(|(_, b)| rank > b) {
                    best = Some((rule, rank));
                }
            }
        }
        best.map(|(rule, _)| rule)
    }
}

/// What a layer-4 rule can look at.
#[derive(Debug, Clone, Copy)]
pub struct TcpConn<'a> {
    /// The listener port the connection arrived on.
    pub port: u16,
    /// The client's address.
    pub source: IpAddr,
    /// The local address the connection arrived on.
    pub destination: IpAddr,
    /// SNI from the ClientHello, lower-case, when the connection is TLS.
    pub sni: Option<&'a str>,
}

/// One `TCPRoute` or `TLSRoute`.
#[derive(Debug)]
pub struct TcpRule {
    /// `namespace/name` of the VirtualService, for logs and `/config_dump`.
    pub virtual_service: Box<str>,
    /// `<namespace>/<name>.tcp.<index>` (or `.tls.`): the rule, in logs and metrics.
    pub name: Box<str>,
    /// Alternatives (OR); empty matches every connection.
    pub matches: Vec<TcpMatch>,
    /// Weighted destinations (each cluster carries its `connectionPool.tcp.idleTimeout`).
    pub forward: Forward,
}

impl TcpRule {
    /// How specifically the rule matches `conn` (see [`TcpMatch::rank`]); `None`: it does not.
    fn rank(&self, conn: &TcpConn<'_>) -> Option<usize> {
        if self.matches.is_empty() {
            return Some(0);
        }
        self.matches.iter().filter_map(|m| m.rank(conn)).max()
    }
}

/// One `L4MatchAttributes` or `TLSMatchAttributes`, with the parts that depend on the proxy
/// itself (`gateways`, `sourceLabels`, `sourceNamespace`) and the listener (`port`) already
/// decided at compile time.
#[derive(Debug, Default)]
pub struct TcpMatch {
    /// `port`.
    pub port: Option<u16>,
    /// `sniHosts` (TLS routes): any of these; empty = any SNI.
    pub sni_hosts: Vec<ServerName>,
    /// `destinationSubnets`: any of these; empty = any.
    pub destination_subnets: Vec<Cidr>,
    /// `sourceSubnet`.
    pub source_subnet: Option<Cidr>,
}

impl TcpMatch {
    /// Whether every condition holds for `conn`.
    pub fn matches(&self, conn: &TcpConn<'_>) -> bool {
        self.rank(conn).is_some()
    }

    /// `None` unless every condition holds; else how specifically `sniHosts` names the SNI:
    /// `usize::MAX` for an exact name, the suffix length for a wildcard, 0 without `sniHosts`.
    pub fn rank(&self, conn: &TcpConn<'_>) -> Option<usize> {
        let addresses = self.port.is_none_or(|p| p == conn.port)
            && (self.destination_subnets.is_empty()
                || self
                    .destination_subnets
                    .iter()
                    .any(|c| c.contains(conn.destination)))
            && self
                .source_subnet
                .as_ref()
                .is_none_or(|c| c.contains(conn.source));
        if !addresses {
            return None;
        }
        if self.sni_hosts.is_empty() {
            return Some(0);
        }
        let sni = conn.sni?;
        self.sni_hosts
            .iter()
            .filter(|h| h.matches(sni))
            .map(|h| match h {
                ServerName::Exact(_) => usize::MAX,
                ServerName::Suffix(s) => s.len(),
                ServerName::Any => 0,
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::WeightedDestination;

    fn rule(name: &str, matches: Vec<TcpMatch>, weights: &[u32]) -> TcpRule {
        let destinations = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| WeightedDestination {
                cluster: None,
                weight,
                name: format!("{name}-{i}").into(),
                stat: 0,
                request_headers: Default::default(),
                response_headers: Default::default(),
            })
            .collect();
        TcpRule {
            virtual_service: "default/vs".into(),
            name: name.into(),
            matches,
            forward: Forward {
                destinations,
                total_weight: weights.iter().sum(),
            },
        }
    }

    fn sni(hosts: &[&str]) -> TcpMatch {
        TcpMatch {
            sni_hosts: hosts.iter().map(|h| ServerName::parse(h)).collect(),
            ..Default::default()
        }
    }

    fn conn(sni: Option<&str>) -> TcpConn<'_> {
        TcpConn {
            port: 443,
            source: "10.1.2.3".parse().unwrap(),
            destination: "192.168.0.1".parse().unwrap(),
            sni,
        }
    }

    #[test]
    fn first_match_wins_without_sni() {
        let subnet = |s: &str| TcpMatch {
            source_subnet: Some(Cidr::parse(s).unwrap()),
            ..Default::default()
        };
        let routes = TcpRoutes {
            rules: vec![
                rule("other-net", vec![subnet("10.9.0.0/16")], &[1]),
                rule("our-net", vec![subnet("10.1.0.0/16")], &[1]),
                rule("all", vec![], &[1]),
            ],
        };
        assert_eq!(&*routes.find(&conn(None)).unwrap().name, "our-net");
        let elsewhere = TcpConn {
            source: "172.16.0.1".parse().unwrap(),
            ..conn(None)
        };
        assert_eq!(&*routes.find(&elsewhere).unwrap().name, "all");
    }

    #[test]
    fn the_most_specific_sni_wins_then_the_first() {
        let routes = TcpRoutes {
            rules: vec![
                rule("wide", vec![sni(&["*.com"])], &[1]),
                rule("narrow", vec![sni(&["*.example.com"])], &[1]),
                rule("narrow-again", vec![sni(&["*.example.com"])], &[1]),
                rule(
                    "exact",
                    vec![sni(&["b.example.com"]), sni(&["x.org"])],
                    &[1],
                ),
            ],
        };
        let pick = |name| routes.find(&conn(name)).map(|r| &*r.name);
        assert_eq!(pick(Some("a.example.com")), Some("narrow"));
        assert_eq!(pick(Some("b.example.com")), Some("exact"));
        assert_eq!(pick(Some("x.org")), Some("exact"));
        assert_eq!(pick(Some("other.com")), Some("wide"));
        assert_eq!(pick(Some("example.net")), None);
        assert_eq!(pick(None), None, "sniHosts need an SNI");
    }

    #[test]
    fn destination_subnets_and_port_must_hold() {
        let m = TcpMatch {
            port: Some(443),
            destination_subnets: vec![
                Cidr::parse("10.0.0.0/8").unwrap(),
                Cidr::parse("192.168.0.0/24").unwrap(),
            ],
            ..Default::default()
        };
        assert!(m.matches(&conn(None)));
        assert!(!m.matches(&TcpConn {
            destination: "192.168.1.1".parse().unwrap(),
            ..conn(None)
        }));
        assert!(!m.matches(&TcpConn {
            port: 444,
            ..conn(None)
        }));
    }
}
