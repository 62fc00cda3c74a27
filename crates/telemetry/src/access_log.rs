//! Access logs: one line per request, in Envoy's default text format or as JSON, written by a
//! dedicated thread. The request path only formats the line and hands it over without blocking
//! (a bounded queue; lines that do not fit are dropped and counted).

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::SystemTime;

use crate::ResponseFlags;

/// Lines waiting for the writer; more are dropped.
const QUEUE: usize = 16 * 1024;

/// Line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Envoy's default format (what Istio's `accessLogEncoding: TEXT` writes).
    Text,
    /// One JSON object per line, Istio's field names.
    Json,
}

/// Where lines go and how they look.
#[derive(Debug)]
pub struct AccessLog {
    tx: SyncSender<String>,
    format: Format,
    /// Lines dropped because the writer fell behind.
    pub dropped: AtomicU64,
}

/// One finished request.
#[derive(Debug, Default)]
pub struct Entry {
    /// When the request arrived.
    pub start: Option<SystemTime>,
    /// Method.
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2`.
    pub protocol: &'static str,
    /// Status sent.
    pub code: u16,
    /// Envoy response flags.
    pub flags: ResponseFlags,
    /// Response body bytes sent.
    pub bytes_sent: u64,
    /// Milliseconds from arrival to the end of the response.
    pub duration_ms: u64,
    /// `x-envoy-upstream-service-time`, if the request went upstream.
    pub upstream_service_time: Option<u64>,
    /// `x-forwarded-for` as received.
    pub forwarded_for: Option<String>,
    /// `user-agent`.
    pub user_agent: Option<String>,
    /// `x-request-id` (as sent upstream, generated when absent).
    pub request_id: Option<String>,
    /// `:authority` / `Host`.
    pub authority: String,
    /// Endpoint of the last attempt.
    pub upstream_host: Option<String>,
    /// Cluster (`outbound|port|subset|host`).
    pub upstream_cluster: Option<String>,
    /// Attempts sent upstream (1 + retries).
    pub attempts: u32,
    /// Route name.
    pub route: Option<String>,
    /// Client address.
    pub downstream_remote: String,
    /// SNI of a TLS connection (`%REQUESTED_SERVER_NAME%`).
    pub requested_server_name: Option<String>,
    /// `TLSv1.3` / `TLSv1.2` on a TLS connection (`%DOWNSTREAM_TLS_VERSION%`).
    pub tls_version: Option<&'static str>,
    /// Negotiated cipher suite (`%DOWNSTREAM_TLS_CIPHER%`).
    pub tls_cipher: Option<&'static str>,
}

impl AccessLog {
    /// Starts a writer thread appending to `path` (standard output when `None`).
    pub fn open(path: Option<PathBuf>, format: Format) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            None => Box::new(std::io::stdout()),
        };
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(rx, out))?;
        Ok(Self {
            tx,
            format,
            dropped: AtomicU64::new(0),
        })
    }

    /// Formats and queues `entry`; never blocks.
    pub fn log(&self, entry: &Entry) {
        let line = match self.format {
            Format::Text => text(entry),
            Format::Json => json(entry),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How often the writer drains the queue and flushes (Envoy flushes access logs every second).
/// The writer never waits on the channel itself: a parked receiver would make every request
/// wake a thread (a futex call and a context switch, ~20 µs on a shared core); polling keeps
/// the request path to a queue push.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

fn write_lines(rx: Receiver<String>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    loop {
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        let _ = out.flush();
        std::thread::sleep(FLUSH_EVERY);
    }
}

fn rfc3339(t: Option<SystemTime>) -> String {
    let Some(t) = t else { return "-".into() };
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Envoy's default format:
/// `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
/// %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
/// "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
/// "%UPSTREAM_HOST%"`, then Istio's additions (cluster, remote address, requested server name,
/// route).
fn text(e: &Entry) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut s = String::with_capacity(256);
    let _ = writeln!(
        s,
        "[{}] \"{} {} {}\" {} {} - {} {} {} \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} {} {} {}",
        rfc3339(e.start),
        e.method,
        e.path,
        e.protocol,
        e.code,
        e.flags,
        e.bytes_sent,
        e.duration_ms,
        e.upstream_service_time
            .map_or_else(|| "-".into(), |t| t.to_string()),
        dash(&e.forwarded_for),
        dash(&e.user_agent),
        dash(&e.request_id),
        e.authority,
        dash(&e.upstream_host),
        dash(&e.upstream_cluster),
        e.downstream_remote,
        dash(&e.requested_server_name),
        dash(&e.route),
    );
    s
}

/// JSON with the field names of Istio's JSON access log.
fn json(e: &Entry) -> String {
    let mut s = String::with_capacity(320);
    s.push('{');
    let mut first = true;
    let mut field = |name: &str, value: JsonValue<'_>| {
        if !first {
            s.push(',');
        }
        first = false;
        s.push('"');
        s.push_str(name);
        s.push_str("\":");
        match value {
            JsonValue::Str(v) => escape_into(&mut s, v),
            JsonValue::Num(n) => {
                let _ = write!(s, "{n}");
            }
            JsonValue::Null => s.push_str("null"),
        }
    };
    let start = rfc3339(e.start);
    let flags = e.flags.to_string();
    field("start_time", JsonValue::Str(&start));
    field("method", JsonValue::Str(&e.method));
    field("path", JsonValue::Str(&e.path));
    field("protocol", JsonValue::Str(e.protocol));
    field("response_code", JsonValue::Num(u64::from(e.code)));
    field("response_flags", JsonValue::Str(&flags));
    field("bytes_sent", JsonValue::Num(e.bytes_sent));
    field("duration", JsonValue::Num(e.duration_ms));
    field(
        "upstream_service_time",
        e.upstream_service_time
            .map_or(JsonValue::Null, JsonValue::Num),
    );
    field("x_forwarded_for", opt(&e.forwarded_for));
    field("user_agent", opt(&e.user_agent));
    field("request_id", opt(&e.request_id));
    field("authority", JsonValue::Str(&e.authority));
    field("upstream_host", opt(&e.upstream_host));
    field("upstream_cluster", opt(&e.upstream_cluster));
    field(
        "upstream_request_attempt_count",
        JsonValue::Num(u64::from(e.attempts)),
    );
    field("route_name", opt(&e.route));
    field(
        "downstream_remote_address",
        JsonValue::Str(&e.downstream_remote),
    );
    field("requested_server_name", opt(&e.requested_server_name));
    field(
        "downstream_tls_version",
        e.tls_version.map_or(JsonValue::Null, JsonValue::Str),
    );
    field(
        "downstream_tls_cipher",
        e.tls_cipher.map_or(JsonValue::Null, JsonValue::Str),
    );
    s.push_str("}\n");
    s
}

fn opt(v: &Option<String>) -> JsonValue<'_> {
    v.as_deref().map_or(JsonValue::Null, JsonValue::Str)
}

enum JsonValue<'a> {
    Str(&'a str),
    Num(u64),
    Null,
}

/// A JSON string literal; control characters and non-ASCII bytes that came in as header text
/// are escaped, so a hostile header never breaks the line.
fn escape_into(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123);
        assert_eq!(rfc3339(Some(t)), "2026-11-18T11:06:40.123Z");
        assert_eq!(
            rfc3339(Some(SystemTime::UNIX_EPOCH)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn json_lines_escape_hostile_text() {
        let e = Entry {
            method: "GET".into(),
            path: "/a\"b".into(),
            user_agent: Some("x\u{1b}[31m".into()),
            ..Entry::default()
        };
        let line = json(&e);
        assert!(line.contains(r#""path":"/a\"b""#), "{line}");
        assert!(line.contains(r#""user_agent":"x\u001b[31m""#), "{line}");
        assert!(line.ends_with("}\n"));
    }
}
