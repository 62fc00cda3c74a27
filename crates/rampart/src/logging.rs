//! Logging to stderr (text or JSON) with a filter that the admin `/logging` endpoint can change.

use rampart_admin::LogControl;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

/// Installs the global subscriber; returns the initial filter and a control to change it.
pub fn init(json: bool) -> (String, LogControl) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let (layer, handle) = reload::Layer::new(EnvFilter::new(&filter));
    let registry = tracing_subscriber::registry().with(layer);
    if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        // Colours only for a terminal: log files and collectors get plain text.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .init();
    }
    let control: LogControl = Box::new(move |level: &str| {
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    });
    (filter, control)
}
