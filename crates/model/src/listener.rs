//! Listeners: one per bound address, built from the Gateway servers on that port. A plain-text
//! port serves HTTP or TCP; a TLS port reads the ClientHello and lets its SNI pick one chain
//! (Envoy's filter chains), which either terminates TLS (then HTTP or TCP routes) or passes the
//! encrypted stream through by SNI.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::route::RouteTable;
use crate::tcp::TcpRoutes;
use crate::tls::ServerTls;

/// A bound port and what serves it.
#[derive(Debug)]
pub struct Listener {
    /// Name for logs and dumps (`0.0.0.0_8080`, as Envoy names listeners).
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// The route table of the plain-text HTTP servers on this port (empty for other ports).
    pub routes: Arc<RouteTable>,
    /// What a new connection on this port is.
    pub transport: Transport,
}

impl Listener {
    /// The HTTP routes for a connection that arrived with `sni` (`None` for plain text).
    pub fn http_routes(&self, sni: Option<&str>) -> Option<&Arc<RouteTable>> {
        match &self.transport {
            Transport::Http => Some(&self.routes),
            Transport::Tls(chains) => match &chains.find(sni)?.app {
                ChainApp::Http(routes) => Some(routes),
                _ => None,
            },
            Transport::Tcp(_) => None,
        }
    }
}

/// The protocol a listener expects on new connections.
#[derive(Debug)]
pub enum Transport {
    /// Plain-text HTTP/1.1 or HTTP/2 (prior knowledge), served by [`Listener::routes`].
    Http,
    /// Plain TCP proxied per `tcp` routes.
    Tcp(Arc<TcpRoutes>),
    /// TLS: the ClientHello's SNI picks a chain.
    Tls(Arc<TlsChains>),
}

/// The chains of a TLS port, one per Gateway server (or per distinct set of hosts).
#[derive(Debug, Default)]
pub struct TlsChains {
    /// In Gateway order.
    pub chains: Vec<TlsChain>,
}

impl TlsChains {
    /// The chain for a ClientHello's SNI, as Envoy picks filter chains: an exact server name
    /// first, then the longest wildcard suffix, then a chain without names (`hosts: ["*"]`).
    /// Without SNI only a chain without names serves.
    pub fn find(&self, sni: Option<&str>) -> Option<&TlsChain> {
        let mut best: Option<(&TlsChain, usize)> = None;
        if let Some(sni) = sni {
            for chain in &self.chains {
                for name in &chain.server_names {
                    let score = match name {
                        ServerName::Exact(n) if n.eq_ignore_ascii_case(sni) => usize::MAX,
                        ServerName::Suffix(s) if name.matches(sni) => s.len(),
                        _ => continue,
                    };
                    if best.is_none_or(|(_, b)| score > b) {
                        best = Some((chain, score));
                    }
                }
            }
        }
        best.map(|(c, _)| c)
            .or_else(|| self.chains.iter().find(|c| c.server_names.is_empty()))
    }
}

/// One chain: the server names it answers and what it does with the connection.
#[derive(Debug)]
pub struct TlsChain {
    /// Name for logs and dumps: the Gateway server (`namespace/name` and port name).
    pub name: Box<str>,
    /// SNI values served; empty serves any SNI and none.
    pub server_names: Vec<ServerName>,
    /// Handshake settings; `None` passes TLS through unterminated.
    pub tls: Option<Arc<ServerTls>>,
    /// What runs on the (decrypted or passed-through) stream.
    pub app: ChainApp,
}

/// What a chain serves.
#[derive(Debug)]
pub enum ChainApp {
    /// HTTP routes (an HTTPS server).
    Http(Arc<RouteTable>),
    /// Layer-4 routes: `tcp` routes after termination, `tls` routes when passing through.
    Tcp(Arc<TcpRoutes>),
}

/// A host name pattern from a Gateway server or a TLS route's `sniHosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerName {
    /// `example.com`, lower-case.
    Exact(Box<str>),
    /// `*.example.com`, kept as `.example.com`, lower-case.
    Suffix(Box<str>),
    /// `*`.
    Any,
}

impl ServerName {
    /// Parses `host`, `*.suffix` or `*`.
    pub fn parse(host: &str) -> Self {
        let host = host.to_ascii_lowercase();
        if host == "*" {
            Self::Any
        } else if let Some(suffix) = host.strip_prefix('*') {
            Self::Suffix(suffix.into())
        } else {
            Self::Exact(host.into())
        }
    }

    /// Whether `name` (case-insensitive) matches. A wildcard needs at least one character
    /// before its suffix.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(n) => n.eq_ignore_ascii_case(name),
            Self::Suffix(s) => {
                name.len() > s.len()
                    && name.is_char_boundary(name.len() - s.len())
                    && name[name.len() - s.len()..].eq_ignore_ascii_case(s)
            }
            Self::Any => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(name: &str, hosts: &[&str]) -> TlsChain {
        TlsChain {
            name: name.into(),
            server_names: hosts.iter().map(|h| ServerName::parse(h)).collect(),
            tls: None,
            app: ChainApp::Tcp(Arc::default()),
        }
    }

    #[test]
    fn exact_beats_longest_suffix_beats_catch_all() {
        let chains = TlsChains {
            chains: vec![
                chain("any", &[]),
                chain("wide", &["*.com"]),
                chain("narrow", &["*.example.com"]),
                chain("exact", &["a.example.com"]),
            ],
        };
        let pick = |sni| chains.find(sni).map(|c| &*c.name);
        assert_eq!(pick(Some("A.example.com")), Some("exact"));
        assert_eq!(pick(Some("b.example.com")), Some("narrow"));
        assert_eq!(pick(Some("other.com")), Some("wide"));
        assert_eq!(pick(Some("example.org")), Some("any"));
        assert_eq!(pick(None), Some("any"));
    }

    #[test]
    fn without_a_catch_all_unknown_or_missing_sni_finds_nothing() {
        let chains = TlsChains {
            chains: vec![chain("exact", &["a.example.com"])],
        };
        assert!(chains.find(Some("b.example.com")).is_none());
        assert!(chains.find(None).is_none());
        assert!(!ServerName::parse("*.example.com").matches("example.com"));
        assert!(!ServerName::parse("*.example.com").matches(".example.com"));
    }
}
