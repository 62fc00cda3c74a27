//! Listeners: one per Gateway server port, each with the merged route table of that port.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::route::RouteTable;

/// A bound port and the routes served on it.
#[derive(Debug)]
pub struct Listener {
    /// Name for logs and dumps (`0.0.0.0_8080`, as Envoy names listeners).
    pub name: String,
    /// Address to bind.
    pub address: SocketAddr,
    /// The route table merged from every server and VirtualService bound to this port.
    pub routes: Arc<RouteTable>,
}
