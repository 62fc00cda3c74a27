//! End-to-end tests: real backends and the real gateway on 127.0.0.1 ephemeral ports.

mod admin;
mod cli;
mod codec;
mod config_attacks;
mod demo;
mod errors;
mod hostile;
mod hostile_h2;
mod prometheus;
mod protocols;
mod rate_limit;
mod reload;
mod resilience;
mod routing;
mod scenarios;
mod scenarios_resilience;
mod security;
mod support;
mod tcp_routes;
mod telemetry;
mod tls;
mod tls_origination;
mod tracing;
mod upstreams;
