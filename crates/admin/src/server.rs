//! The admin HTTP server (HTTP/1.1, loopback by default).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::status::AdminState;
use crate::{clusters, metrics};

/// Serves the admin endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&req, &state)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

fn route(req: &Request<Incoming>, state: &AdminState) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    let json_format = query.split('&').any(|p| p == "format=json");
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/ready") => {
            if state.ready() {
                reply(StatusCode::OK, "text/plain", "LIVE\n")
            } else if state.shared.draining() {
                reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "DRAINING\n")
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "PRE_INITIALIZING\n",
                )
            }
        }
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "text/plain", "OK\n"),
        (&Method::GET, "/config_dump") => {
            let status = state.status.load();
            let active = state.shared.active();
            let body = json!({
                "version": status.version,
                "sources": status.sources,
                "lastReload": {"rejected": status.last_failed, "messages": status.messages},
                "config": active.model.dump,
            });
            reply(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec_pretty(&body).unwrap_or_default(),
            )
        }
        (&Method::GET, "/clusters") if json_format => reply(
            StatusCode::OK,
            "application/json",
            serde_json::to_vec_pretty(&clusters::json(state)).unwrap_or_default(),
        ),
        (&Method::GET, "/clusters") => reply(StatusCode::OK, "text/plain", clusters::text(state)),
        (&Method::GET, "/stats/prometheus") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics::prometheus(state),
        ),
        (&Method::GET, "/stats") => reply(
            StatusCode::OK,
            "text/plain",
            crate::stats_text::render(
                &metrics::prometheus(state),
                crate::stats_text::filter_param(query).as_deref(),
            ),
        ),
        // A mutation asked for with GET (a link, an image tag) is refused: POST only.
        (&Method::GET, "/logging") if query.contains("level=") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "changing the log level needs POST /logging?level=<filter>\n",
        ),
        (&Method::GET, "/logging") => reply(
            StatusCode::OK,
            "text/plain",
            format!("{}\n", state.log_filter.load()),
        ),
        (&Method::POST, "/logging") => {
            let level = query.split('&').find_map(|p| p.strip_prefix("level="));
            match (level, &state.log_control) {
                (Some(level), Some(control)) => match control(level) {
                    Ok(()) => {
                        state.log_filter.store(Arc::new(level.to_string()));
                        reply(StatusCode::OK, "text/plain", format!("{level}\n"))
                    }
                    Err(e) => reply(StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
                },
                (None, _) => reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "usage: POST /logging?level=<filter>\n",
                ),
                (_, None) => reply(
                    StatusCode::NOT_IMPLEMENTED,
                    "text/plain",
                    "log level is fixed in this process\n",
                ),
            }
        }
        (_, "/") => reply(
            StatusCode::OK,
            "text/plain",
            "/ready /healthz /config_dump /clusters[?format=json] /stats[?filter=TEXT] /stats/prometheus /logging\n",
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}
