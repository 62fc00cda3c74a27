//! The admin server, with Envoy's endpoint names so operators' habits carry over.
//!
//! Runs on the control runtime, apart from the data-plane workers. Reads the active snapshot,
//! the cluster registry and the reload status; changes nothing but the log level.

mod clusters;
mod health;
mod load;
mod metrics;
mod series;
mod server;
mod stats_text;
mod status;

pub use server::serve;
pub use status::{AdminState, LogControl, ReloadStatus};
