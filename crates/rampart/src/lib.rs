//! Rampart's process: loading and reloading configuration, starting the data-plane workers and
//! the admin server, draining on shutdown; and the `validate`, `explain` and `demo` commands.

pub mod cmd;
pub mod demo;
pub mod gateway;
pub mod load;
pub mod logging;
pub mod rate_limit;
pub mod tracer;
mod watch;

pub use gateway::{Gateway, GatewayOptions};
