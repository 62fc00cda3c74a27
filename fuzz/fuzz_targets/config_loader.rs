//! The config loader, validator and compiler on arbitrary input: never a panic, never a hang.
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run config_loader -- -max_total_time=300`

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = rampart_config::load_str("fuzz.yaml", text);
    for d in &loaded.diagnostics {
        let _ = d.to_string();
    }
    if !loaded.has_errors() {
        let _ = rampart_compile::compile(&loaded.config, &rampart_compile::ProxyIdentity::default());
    }
});
