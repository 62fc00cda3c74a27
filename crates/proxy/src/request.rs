//! One request through the gateway: route lookup, then the route's action (forward, redirect or
//! direct response), then stats. The stages are called in order here and nowhere else.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::header::HOST;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body as _;
use rampart_jwt::Identity;
use rampart_model::authz::AuthView;
use rampart_model::route::{
    Abort, Action, Fault, PathRewrite, RedirectPort, RequestView, Route, WeightedDestination,
};
use rampart_telemetry::{ResponseFlag, ResponseFlags};
use rampart_upstream::RequestBody;

use crate::access;
use crate::active::{Active, Shared};
use crate::authn;
use crate::authz;
use crate::body::ResponseBody;
use crate::cors;
use crate::error::Error;
use crate::ext_authz;
use crate::forward::{self, Replay, Target};
use crate::headers;
use crate::normalize::{normalize_path, BadPath, PathNormalization};
use crate::respond;
use crate::timeouts::ConnClock;
use crate::trace::RequestTrace;

/// A request as the codecs deliver it: boxed once, so each async step moves a pointer, and its
/// body already in the form sent upstream.
pub type ClientRequest = Box<Request<RequestBody>>;

/// Stat id used when no route matched.
const NO_ROUTE_STAT: u32 = 0;

/// What a connection knows about itself.
#[derive(Debug, Clone)]
pub struct ConnCx {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Client address.
    pub peer: SocketAddr,
    /// Local address the connection arrived on.
    pub local_ip: IpAddr,
    /// Listener port.
    pub port: u16,
    /// `http`, or `https` once TLS is terminated.
    pub scheme: &'static str,
    /// The terminated TLS session, if any.
    pub tls: Option<Arc<crate::tls::TlsInfo>>,
    /// The client IP as a header value, made once per connection for `x-forwarded-for`.
    pub peer_header: HeaderValue,
    /// The connection's request-head clock.
    pub clock: Arc<ConnClock>,
}

impl ConnCx {
    /// Context of a new downstream connection, shut down when `token` is cancelled.
    pub fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        local_ip: IpAddr,
        port: u16,
        scheme: &'static str,
        token: tokio_util::sync::CancellationToken,
    ) -> Self {
        let peer_header = headers::ip_value(peer.ip());
        Self {
            shared,
            peer,
            local_ip,
            port,
            scheme,
            tls: None,
            peer_header,
            clock: ConnClock::start(token),
        }
    }
}

/// Handles one request. Its stats are recorded when the returned [`Recording`] is dropped,
/// once the codec has written the response (or given up on it).
pub async fn handle(mut req: ClientRequest, cx: &ConnCx) -> (Response<ResponseBody>, Recording) {
    let start = Instant::now();
    let active = cx.shared.active();
    let mut flags = ResponseFlags::NONE;
    let log = access_log(cx, &active).map(|log| access::Pending {
        log: log.clone(),
        entry: access::begin(&req, cx.peer, cx.tls.as_deref()),
    });
    let request_bytes = wire_size(
        req.method().as_str().len() + uri_len(req.uri()),
        req.headers(),
        req.body(),
    );
    let is_head = req.method() == http::Method::HEAD;
    // An HTTP/2 stream timed by its own idle timer (see `codec`).
    let activity = req
        .extensions()
        .get::<Arc<rampart_upstream::Activity>>()
        .cloned();
    let mut trace = crate::trace::begin(&mut req, cx, &active);
    // Should the client leave first, this future is dropped mid-way and the guard records the
    // request as Envoy does: response code 0, flag DC.
    let chosen = AtomicU32::new(NO_ROUTE_STAT);
    let mut unfinished = Unfinished {
        active: &active,
        clock: &cx.clock,
        stream: req.version() == Version::HTTP_2,
        activity,
        chosen: &chosen,
        start,
        request_bytes,
        log,
        answered: false,
    };
    let (mut resp, stat) = dispatch(req, cx, &active, &mut flags, trace.as_mut(), &chosen).await;
    unfinished.answered = true;
    let mut log = unfinished.log.take();
    drop(unfinished);
    if cx.shared.draining() && resp.version() != Version::HTTP_2 {
        // Ask HTTP/1.1 clients to reconnect elsewhere while we drain.
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    let stats = active.stats.get(stat as usize);
    if let Some(pending) = &mut log {
        access::response(&mut pending.entry, &resp, stats.map(|s| &*s.key.route));
    }
    if let Some(trace) = trace {
        resp = crate::trace::finish(trace, resp, flags, stats.map(|s| &*s.key.route));
    }
    let recording = Recording {
        code: resp.status().as_u16(),
        flags,
        start,
        request_bytes,
        response_bytes: wire_size(3, resp.headers(), resp.body()),
        stat,
        head: is_head,
        log,
        body_bytes: 0,
        finished: false,
        clock: cx.clock.clone(),
        active,
    };
    (resp, recording)
}

/// A request whose response has been handed to the codec: its stats are recorded when the codec
/// is done with the response ([`Recording::finish`]), as Istio records a request when its stream
/// ends (the duration runs to the response's last byte). Dropped unfinished (the connection
/// closed under the response), it is recorded with flag `SI` if the stream idle timeout closed
/// the connection, else `DC`. Its access-log line, if any, is written then too.
#[derive(Debug)]
pub struct Recording {
    active: Arc<Active>,
    stat: u32,
    code: u16,
    flags: ResponseFlags,
    start: Instant,
    request_bytes: u64,
    response_bytes: u64,
    /// A HEAD request: its response carries no body, which the codec may drop unread.
    head: bool,
    log: Option<access::Pending>,
    /// Response body bytes handed to the connection (the access log's `bytes_sent`).
    body_bytes: u64,
    finished: bool,
    clock: Arc<ConnClock>,
}

impl Recording {
    /// Records the request now that the codec is done with its response: `cut` is why the
    /// response was not written whole, if it was not (`DC` when the client left, `UC` when the
    /// response's own body failed).
    pub fn finish(mut self, cut: Option<ResponseFlag>) {
        if let Some(flag) = cut {
            self.flags.insert(flag);
        }
        self.finished = true;
    }

    /// Counts `bytes` of response body handed to the connection.
    #[inline]
    pub fn sent(&mut self, bytes: usize) {
        self.body_bytes += bytes as u64;
    }

    /// Whether the request was a HEAD request.
    pub fn is_head(&self) -> bool {
        self.head
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if !self.finished {
            self.flags.insert(if self.clock.stream_timed_out() {
                ResponseFlag::StreamIdleTimeout
            } else {
                ResponseFlag::DownstreamConnectionTermination
            });
        }
        if let Some(stats) = self.active.stats.get(self.stat as usize) {
            let micros = self.start.elapsed().as_micros() as u64;
            stats.record(self.code, self.flags, micros);
            stats.record_sizes(self.request_bytes, self.response_bytes);
        }
        if let Some(pending) = self.log.take() {
            pending.write(self.code, self.flags, self.body_bytes, self.start);
        }
    }
}

/// A request being handled, recorded when its future is dropped before the response exists,
/// as Envoy counts it: code 0, flag `DC` when the client closed the connection, `DR` when it
/// reset the request's HTTP/2 stream on a connection still open; flag `SI` when the stream idle
/// timeout cut it off (code 408, which the codec answers, over HTTP/1 and for an HTTP/2 stream
/// its own timer ended; 0 for an HTTP/2 stream whose whole connection the sweep closed).
/// Disarmed once the response is there.
struct Unfinished<'a> {
    active: &'a Active,
    clock: &'a crate::timeouts::ConnClock,
    /// An HTTP/2 stream (which the client can reset alone).
    stream: bool,
    /// The stream's own idle timer, when it has one: expired, it was answered 408.
    activity: Option<Arc<rampart_upstream::Activity>>,
    /// The stat slot of the route or destination chosen so far.
    chosen: &'a AtomicU32,
    start: Instant,
    request_bytes: u64,
    log: Option<access::Pending>,
    answered: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let Some(stats) = self
            .active
            .stats
            .get(self.chosen.load(Ordering::Relaxed) as usize)
        else {
            return;
        };
        let mut flags = ResponseFlags::NONE;
        let mut code = 0;
        let own_timer = self.activity.as_ref().is_some_and(|a| a.expired());
        if own_timer || self.clock.stream_timed_out() {
            flags.insert(ResponseFlag::StreamIdleTimeout);
            if own_timer || !self.stream {
                code = StatusCode::REQUEST_TIMEOUT.as_u16();
            }
        } else if self.stream && !self.clock.peer_gone() {
            flags.insert(ResponseFlag::DownstreamRemoteReset);
        } else {
            flags.insert(ResponseFlag::DownstreamConnectionTermination);
        }
        stats.record(code, flags, self.start.elapsed().as_micros() as u64);
        stats.record_sizes(self.request_bytes, 0);
        if let Some(mut pending) = self.log.take() {
            pending.entry.route = Some(&*stats.key.route)
                .filter(|r| *r != "-")
                .map(str::to_owned);
            pending.write(code, flags, 0, self.start);
        }
    }
}

/// Where this request's access-log line goes, when logging is on: a `Telemetry` resource's
/// `accessLogging` decides, else the command line (`--access-log`).
fn access_log<'a>(
    cx: &'a ConnCx,
    active: &Active,
) -> Option<&'a Arc<rampart_telemetry::AccessLog>> {
    let on = active
        .model
        .access_logging
        .unwrap_or(cx.shared.options.access_log_on);
    cx.shared.options.access_log.as_ref().filter(|_| on)
}

/// Bytes of a message as HTTP/1.1 puts them on the wire: start line (whose variable part is
/// `start` bytes long), headers, and the body's declared length (0 when it is streamed with no
/// length known up front). Istio's `istio_request_bytes`/`istio_response_bytes`.
fn wire_size(start: usize, headers: &http::HeaderMap, body: &impl http_body::Body) -> u64 {
    // "<start> HTTP/1.1\r\n" … "\r\n", and ": " plus "\r\n" per field.
    let head = start
        + 13
        + headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    head as u64 + body.size_hint().exact().unwrap_or(0)
}

fn uri_len(uri: &http::Uri) -> usize {
    uri.path_and_query().map_or(1, |pq| pq.as_str().len())
}

async fn dispatch(
    mut req: ClientRequest,
    cx: &ConnCx,
    active: &Arc<Active>,
    flags: &mut ResponseFlags,
    trace: Option<&mut RequestTrace<'_>>,
    chosen: &AtomicU32,
) -> (Response<ResponseBody>, u32) {
    let version = req.version();
    if let Err(refusal) = headers::sanitize_request(version, req.headers_mut()) {
        return refused(refusal, cx, flags);
    }
    if let Err(bad) = normalize_uri(&mut req, cx.shared.options.path_normalization) {
        return refused(bad, cx, flags);
    }
    if let Some(limit) = cx.shared.options.max_request_body {
        if req.body().size_hint().lower() > limit {
            return refused(headers::Refusal::BodyTooLarge, cx, flags);
        }
    }
    let Some(listener) = active
        .model
        .listeners
        .iter()
        .find(|l| l.address.port() == cx.port)
    else {
        return (local_error(&Error::NoRoute, flags), NO_ROUTE_STAT);
    };
    let sni = cx.tls.as_ref().and_then(|t| t.sni.as_deref());
    let Some(routes) = listener.http_routes(sni) else {
        return (local_error(&Error::NoRoute, flags), NO_ROUTE_STAT);
    };
    let authority = authority_of(&req);
    let vhost = routes.find_host(authority);
    let found = vhost.and_then(|v| v.find_route(&route_view(&req, authority, cx, None)));
    let stat = found.map_or(NO_ROUTE_STAT, |(route, _)| route.stat);
    chosen.store(stat, Ordering::Relaxed);
    let mut cors_origin = None;
    if let Some(policy) = found.and_then(|(route, _)| route.cors.as_deref()) {
        match cors::check(policy, &req) {
            cors::Verdict::NotCors => {}
            cors::Verdict::Answer(resp) => return (*resp, stat),
            cors::Verdict::Allowed(origin) => cors_origin = Some(origin),
        }
    }
    // Authentication, then authorization (Istio's order), before anything is routed.
    // Without policies the (large) access-control future is never built.
    let (req, identity, allowed_headers) =
        if active.authn.is_none() && active.model.authorization.is_empty() {
            (req, None, None)
        } else {
            match access_control(req, cx, active, flags).await {
                Ok(admitted) => admitted,
                Err(resp) => return (resp, stat),
            }
        };
    // Routes that match on JWT claims are chosen again, now that the token is verified.
    let found = match (vhost, identity.as_deref()) {
        (Some(v), Some(identity)) if v.claim_routes => {
            let jwt = authn::JwtView(identity);
            v.find_route(&route_view(&req, authority_of(&req), cx, Some(&jwt)))
        }
        _ => found,
    };
    let Some(vhost) = vhost else {
        return (local_error(&Error::NoRoute, flags), NO_ROUTE_STAT);
    };
    if vhost.https_redirect {
        let location = format!(
            "https://{}{}",
            host_without_port(authority_of(&req)),
            path_and_query(req.uri())
        );
        return (
            respond::redirect(StatusCode::MOVED_PERMANENTLY, &location),
            NO_ROUTE_STAT,
        );
    }
    let Some((route, matched)) = found else {
        return (local_error(&Error::NoRoute, flags), NO_ROUTE_STAT);
    };
    let mut quota = None;
    if let Some(rl) = &route.rate_limit {
        let view = route_view(&req, authority_of(&req), cx, None);
        match crate::rate_limit::check(rl, &view, cx, flags).await {
            Ok(q) => quota = q,
            Err(resp) => return (*resp, route.stat),
        }
    }
    let (mut resp, stat) = match &route.action {
        Action::Direct(direct) => {
            let mut resp = respond::text(direct.status, direct.body.clone());
            route.response_headers.apply(resp.headers_mut());
            (resp, route.stat)
        }
        Action::Redirect(redirect) => {
            let authority = authority_of(&req);
            let location = redirect_location(redirect, route, matched, authority, cx, req.uri());
            (respond::redirect(redirect.status, &location), route.stat)
        }
        Action::Forward(fwd) => {
            let dest = fwd.pick(fastrand::u32(..fwd.total_weight));
            chosen.store(dest.stat, Ordering::Relaxed);
            let aborted = match &route.fault {
                Some(fault) => inject_fault(fault, flags).await,
                None => None,
            };
            let resp = match aborted {
                Some(resp) => resp,
                None => match proxy(req, cx, active, route, matched, dest, flags, trace).await {
                    Ok(resp) => resp,
                    Err(err) => local_error(&err, flags),
                },
            };
            (resp, dest.stat)
        }
    };
    if let (Some(policy), Some(origin)) = (&route.cors, cors_origin) {
        cors::decorate(policy, origin, resp.headers_mut());
    }
    if let Some(q) = &quota {
        crate::rate_limit::decorate(q, resp.headers_mut());
    }
    if let Some(headers) = allowed_headers {
        resp.headers_mut().extend(headers);
    }
    (resp, stat)
}

/// What route matching sees of `req` (with its verified JWT, once there is one).
fn route_view<'a, B>(
    req: &'a Request<B>,
    authority: &'a str,
    cx: &ConnCx,
    auth: Option<&'a dyn AuthView>,
) -> RequestView<'a> {
    RequestView {
        method: req.method(),
        scheme: cx.scheme,
        authority,
        path: req.uri().path(),
        query: req.uri().query(),
        headers: req.headers(),
        port: cx.port,
        auth,
    }
}

/// JWT authentication, then authorization policies (CUSTOM, then DENY and ALLOW): the request
/// (token and output headers edited), its identity and the headers an external authorizer
/// asked to add to the response; or the refusal to send.
async fn access_control(
    mut req: ClientRequest,
    cx: &ConnCx,
    active: &Active,
    flags: &mut ResponseFlags,
) -> Result<(ClientRequest, Option<Arc<Identity>>, Option<HeaderMap>), Response<ResponseBody>> {
    let identity = match &active.authn {
        Some(authn) => {
            let taken = std::mem::replace(&mut *req, Request::new(RequestBody::empty()));
            let (authenticated, identity) = authn::authenticate(authn, taken, cx).await?;
            *req = authenticated;
            identity
        }
        None => None,
    };
    let policies = &active.model.authorization;
    if policies.is_empty() {
        return Ok((req, identity, None));
    }
    let jwt = identity.as_deref().map(authn::JwtView);
    let auth = || jwt.as_ref().map(|v| v as &dyn AuthView);
    let mut allowed_headers = None;
    let custom = match policies.custom.is_empty() {
        true => None,
        false => policies
            .custom_check(&authz::view(&req, authority_of(&req), cx, auth()))
            .cloned(),
    };
    if let Some(provider) = custom {
        match ext_authz::check(&provider, &mut req, active, cx, flags).await {
            ext_authz::Decision::Allow(headers) => allowed_headers = Some(headers),
            ext_authz::Decision::Deny(resp) => return Err(resp),
        }
    }
    if let Some(resp) = authz::check(policies, &req, authority_of(&req), cx, auth()) {
        return Err(resp);
    }
    Ok((req, identity, allowed_headers))
}

/// Replaces the request's path with its normalised form (see [`crate::normalize`]).
fn normalize_uri<B>(req: &mut Request<B>, mode: PathNormalization) -> Result<(), headers::Refusal> {
    let path = match normalize_path(req.uri().path(), mode) {
        Ok(std::borrow::Cow::Borrowed(_)) => return Ok(()),
        Ok(std::borrow::Cow::Owned(path)) => path,
        Err(BadPath::EscapedSlash) => return Err(headers::Refusal::EscapedSlash),
        Err(BadPath::EncodedNul) => return Err(headers::Refusal::EncodedNul),
    };
    let mut parts = req.uri().clone().into_parts();
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    // Normalising only removes or decodes unreserved characters: the result stays valid.
    parts.path_and_query = pq.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    Ok(())
}

/// A request refused before routing: 400 (413 for a declared body over the limit), flag `DPE`,
/// counted, and the connection closed (nothing after this request is read).
#[cold]
fn refused(
    refusal: headers::Refusal,
    cx: &ConnCx,
    flags: &mut ResponseFlags,
) -> (Response<ResponseBody>, u32) {
    flags.insert(ResponseFlag::DownstreamProtocolError);
    tracing::debug!(?refusal, peer = %cx.peer, "request refused");
    cx.shared.count_refusal(refusal);
    let mut resp = match refusal {
        headers::Refusal::BodyTooLarge => {
            respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")
        }
        _ => respond::text(StatusCode::BAD_REQUEST, ""),
    };
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    (resp, NO_ROUTE_STAT)
}

/// Forwards to the chosen destination and shapes the response.
#[allow(clippy::too_many_arguments)] // each stage's input, passed explicitly
async fn proxy(
    req: ClientRequest,
    cx: &ConnCx,
    active: &Arc<Active>,
    route: &Route,
    matched: Option<usize>,
    dest: &WeightedDestination,
    flags: &mut ResponseFlags,
    mut trace: Option<&mut RequestTrace<'_>>,
) -> Result<Response<ResponseBody>, Error> {
    let cluster = dest
        .cluster
        .and_then(|id| active.clusters.get(id.0 as usize))
        .ok_or(Error::NoCluster)?;
    let (mut upstream_req, downstream_upgrade) = upstream_request(req, cx, route, matched, dest);
    if let Some(trace) = trace.as_deref_mut() {
        let mirrored = !route.mirrors.is_empty();
        crate::trace::forwarding(trace, cluster, upstream_req.headers_mut(), mirrored);
    }
    let logging = access_log(cx, active).is_some();
    let request_id = logging
        .then(|| upstream_req.headers().get(headers::X_REQUEST_ID).cloned())
        .flatten();
    let hashed = forward::request_hash(&cluster.state().spec.lb, &upstream_req, cx.peer.ip());
    let target = Target {
        cluster,
        hash: hashed.hash,
        retry: &route.retry,
        count_attempts: logging,
        trace: trace.as_deref(),
    };
    let replay = if route.mirrors.is_empty() {
        None
    } else {
        let replay = Replay::prepare(&mut upstream_req);
        crate::mirror::spawn(&route.mirrors, &replay, active);
        Some(replay)
    };
    let sent_at = Instant::now();
    let deadline = route
        .timeout
        .map(|limit| tokio::time::Instant::now() + limit);
    // The forwarding future is built inside each arm (not before the match) so the request's
    // future holds one copy of it, not two.
    let result = match deadline {
        Some(deadline) => {
            let call = forward::send(&target, upstream_req, replay, flags);
            match tokio::time::timeout_at(deadline, call).await {
                Ok(result) => result,
                Err(_) => {
                    cluster.load.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::Timeout);
                }
            }
        }
        None => forward::send(&target, upstream_req, replay, flags).await,
    };
    let mut resp = result?;
    if logging {
        record_upstream(&mut resp, cluster, request_id);
    }
    let upstream_ms = sent_at.elapsed().as_millis() as u64;
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        if let (Some(down), Some(up)) = (downstream_upgrade, resp.body_mut().take_upgrade()) {
            crate::upgrade::splice(down, up);
        }
    } else {
        headers::strip_hop_by_hop(resp.headers_mut(), false);
    }
    let (mut parts, body) = resp.into_parts();
    parts.headers.insert(
        headers::X_ENVOY_UPSTREAM_SERVICE_TIME,
        headers::number_value(upstream_ms),
    );
    if let Some(cookie) = hashed.set_cookie {
        parts.headers.append(http::header::SET_COOKIE, cookie);
    }
    route.response_headers.apply(&mut parts.headers);
    dest.response_headers.apply(&mut parts.headers);
    let body = match deadline {
        Some(deadline) => {
            ResponseBody::Deadline(body, Box::pin(tokio::time::sleep_until(deadline)))
        }
        None => ResponseBody::Upstream(body),
    };
    Ok(Response::from_parts(parts, body))
}

/// The request as the upstream will see it: proxy headers, header edits and rewrites applied
/// in place.
fn upstream_request(
    mut req: ClientRequest,
    cx: &ConnCx,
    route: &Route,
    matched: Option<usize>,
    dest: &WeightedDestination,
) -> (ClientRequest, Option<hyper::upgrade::OnUpgrade>) {
    let upgrade = headers::is_upgrade(req.headers());
    let downstream_upgrade = upgrade.then(|| hyper::upgrade::on(&mut *req));
    headers::strip_hop_by_hop(req.headers_mut(), upgrade);
    let authority = (!req.headers().contains_key(HOST))
        .then(|| req.uri().authority())
        .flatten()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    let h = req.headers_mut();
    if let Some(authority) = authority {
        // HTTP/2 clients send `:authority`; HTTP/1.1 upstreams need `Host`.
        h.insert(HOST, authority);
    }
    headers::set_forwarded(
        h,
        &cx.peer_header,
        cx.scheme,
        cx.shared.options.trusted_hops,
    );
    crate::tls::set_client_cert(h, cx.tls.as_deref());
    headers::ensure_request_id(h);
    route.request_headers.apply(h);
    dest.request_headers.apply(h);
    if let Some(authority) = route.rewrite.as_ref().and_then(|r| r.authority.as_ref()) {
        h.insert(HOST, authority.clone());
    }
    let mut path: Option<String> = None;
    if let Some(rewrite) = &route.rewrite {
        if let Some(uri) = &rewrite.uri {
            path = Some(rewrite_path(uri, route, matched, req.uri().path()));
        } else if let Some((re, replacement)) = &rewrite.uri_regex {
            path = Some(
                re.replace_all(req.uri().path(), &**replacement)
                    .into_owned(),
            );
        }
    }
    // Upstream requests are origin-form; an HTTP/1.1 request already is unless rewritten.
    let uri = req.uri();
    if path.is_some() || uri.scheme().is_some() || uri.authority().is_some() {
        let path = path.as_deref().unwrap_or(uri.path());
        let pq = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        *req.uri_mut() = Uri::try_from(pq).unwrap_or_else(|_| Uri::from_static("/"));
    }
    *req.version_mut() = Version::HTTP_11;
    (req, downstream_upgrade)
}

/// Notes, for the access log, which endpoint answered, in which cluster, after how many
/// attempts, and the request id sent.
fn record_upstream(
    resp: &mut Response<rampart_upstream::PooledBody>,
    cluster: &rampart_upstream::Cluster,
    request_id: Option<HeaderValue>,
) {
    let attempts = resp
        .extensions()
        .get::<forward::Attempts>()
        .map_or(1, |a| a.0);
    let info = access::UpstreamInfo {
        host: resp.body().endpoint().address,
        cluster: cluster.key.to_string().into(),
        attempts,
        request_id,
    };
    resp.extensions_mut().insert(info);
}

/// Applies a path rewrite: a prefix rewrite replaces the prefix the route matched, otherwise the
/// whole path.
fn rewrite_path(
    rewrite: &PathRewrite,
    route: &Route,
    matched: Option<usize>,
    path: &str,
) -> String {
    match rewrite {
        PathRewrite::Full(p) => p.to_string(),
        PathRewrite::Prefix(p) => match matched_prefix(route, matched) {
            Some(prefix) if path.len() >= prefix.len() => format!("{p}{}", &path[prefix.len()..]),
            _ => p.to_string(),
        },
    }
}

fn matched_prefix(route: &Route, matched: Option<usize>) -> Option<&str> {
    use rampart_model::route::StrMatch;
    let m = route.matches.get(matched?)?;
    match &m.uri.as_ref()?.kind {
        StrMatch::Prefix(p) => Some(p),
        _ => None,
    }
}

fn redirect_location(
    redirect: &rampart_model::route::Redirect,
    route: &Route,
    matched: Option<usize>,
    authority: &str,
    cx: &ConnCx,
    uri: &Uri,
) -> String {
    let scheme = redirect.scheme.as_deref().unwrap_or(cx.scheme);
    let original_host = host_without_port(authority);
    let original_port = authority
        .strip_prefix(original_host)
        .and_then(|p| p.strip_prefix(':'));
    let host = redirect.authority.as_deref().unwrap_or(original_host);
    let port = match redirect.port {
        Some(RedirectPort::Fixed(p)) => Some(p.to_string()),
        Some(RedirectPort::FromRequest) => Some(cx.port.to_string()),
        Some(RedirectPort::ProtocolDefault) => None,
        None if redirect.authority.is_none() && redirect.scheme.is_none() => {
            original_port.map(str::to_owned)
        }
        None => None,
    };
    let path = match &redirect.path {
        Some(rewrite) => rewrite_path(rewrite, route, matched, uri.path()),
        None => uri.path().to_owned(),
    };
    let mut location = format!("{scheme}://{host}");
    if let Some(port) = port {
        location.push(':');
        location.push_str(&port);
    }
    location.push_str(&path);
    if let Some(q) = uri.query() {
        location.push('?');
        location.push_str(q);
    }
    location
}

/// Applies a route's `fault`: the delay first, then the abort, each to its share of requests.
/// Returns the abort's response when this request is aborted.
async fn inject_fault(fault: &Fault, flags: &mut ResponseFlags) -> Option<Response<ResponseBody>> {
    if let Some((delay, share)) = fault.delay {
        if share.hit(fastrand::f64()) {
            flags.insert(ResponseFlag::DelayInjected);
            tokio::time::sleep(delay).await;
        }
    }
    let (abort, share) = fault.abort?;
    if !share.hit(fastrand::f64()) {
        return None;
    }
    flags.insert(ResponseFlag::FaultInjected);
    Some(match abort {
        Abort::Http(status) => respond::text(status, "fault filter abort"),
        Abort::Grpc(code) => respond::grpc_status(code, "fault filter abort"),
    })
}

/// A local reply for `err`, with its flag recorded.
fn local_error(err: &Error, flags: &mut ResponseFlags) -> Response<ResponseBody> {
    let (status, flag) = err.outcome();
    flags.insert(flag);
    let mut resp = respond::text(status, err.body());
    if flag == ResponseFlag::UpstreamOverflow {
        resp.headers_mut().insert(
            headers::X_ENVOY_OVERLOADED,
            HeaderValue::from_static("true"),
        );
    }
    tracing::debug!(status = status.as_u16(), flags = %flags, "local reply");
    resp
}

/// `Host` header (HTTP/1.1) or `:authority` (HTTP/2).
fn authority_of<B>(req: &Request<B>) -> &str {
    req.headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
}

pub(crate) fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn path_and_query(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}
