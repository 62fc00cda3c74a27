//! `rampart explain --config PATH... METHOD URL [-H 'k: v']...`

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use rampart_compile::explain::{explain, Probe};
use rampart_compile::ProxyIdentity;

/// Prints the routing decision; returns the exit code.
pub fn run(
    paths: &[PathBuf],
    mesh: Option<&Path>,
    me: &ProxyIdentity,
    method: &str,
    url: &str,
    headers: &[String],
) -> anyhow::Result<i32> {
    let loaded = match crate::load::load(paths, mesh, me) {
        Ok(l) => l,
        Err(diags) => {
            for d in diags {
                eprintln!("{d}");
            }
            return Ok(1);
        }
    };
    let method = Method::from_bytes(method.as_bytes())?;
    let uri: Uri = url.parse()?;
    let mut map = HeaderMap::new();
    for h in headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("-H {h:?}: expected 'name: value'"))?;
        map.append(
            HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes())?,
            HeaderValue::try_from(v.trim())?,
        );
    }
    let authority = map
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.host().to_string()))
        .unwrap_or_default();
    let port = uri.port_u16().unwrap_or(80);
    let probe = Probe {
        method: &method,
        port,
        authority: &authority,
        path: uri.path(),
        query: uri.query(),
        headers: &map,
    };
    print!("{}", explain(&loaded.snapshot, &probe));
    Ok(0)
}
