//! Layer-4 routes: VirtualService `tcp` routes (plain TCP, or TCP inside terminated TLS) and
//! `tls` routes (TLS passed through unterminated, routed by SNI). First match wins.

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
    /// The first rule that matches the connection.
    pub fn find(&self, conn: &TcpConn<'_>) -> Option<&TcpRule> {
        self.rules
            .iter()
            .find(|r| r.matches.is_empty() || r.matches.iter().any(|m| m.matches(conn)))
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
    /// Alternatives (OR); empty matches every connection.
    pub matches: Vec<TcpMatch>,
    /// Weighted destinations.
    pub forward: Forward,
}

/// One `L4MatchAttributes` or `TLSMatchAttributes`, with the parts that depend on the proxy
/// itself (`gateways`, `sourceLabels`, `sourceNamespace`) already decided at compile time.
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
        self.port.is_none_or(|p| p == conn.port)
            && (self.sni_hosts.is_empty()
                || conn
                    .sni
                    .is_some_and(|sni| self.sni_hosts.iter().any(|h| h.matches(sni))))
            && (self.destination_subnets.is_empty()
                || self
                    .destination_subnets
                    .iter()
                    .any(|c| c.contains(conn.destination)))
            && self
                .source_subnet
                .as_ref()
                .is_none_or(|c| c.contains(conn.source))
    }
}
