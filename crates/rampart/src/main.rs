//! The `rampart` binary: command-line parsing only; everything else is in the library.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rampart::cmd::{self, parse_labels};
use rampart::gateway::GatewayOptions;
use rampart_compile::ProxyIdentity;
use rampart_proxy::normalize::PathNormalization;
use rampart_telemetry::AccessLogFormat;

/// mimalloc: see the workspace Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "An API gateway configured with Istio's resources"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start: the size of the `Run` variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Serve the listeners that the Gateway resources declare.
    Run {
        /// YAML file (multi-document) or directory of *.yaml/*.yml; repeatable.
        #[arg(long, short, required = true)]
        config: Vec<PathBuf>,
        /// Admin address (loopback unless you say otherwise).
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
        /// Data-plane worker threads (default: one per core).
        #[arg(long, env = "RAMPART_WORKERS")]
        workers: Option<usize>,
        /// Workload label k=v that Gateway selectors match (repeatable; default istio=ingressgateway).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Namespace of this proxy workload.
        #[arg(long, default_value = "istio-system")]
        namespace: String,
        /// Address listeners bind when a Gateway server has no `bind`.
        #[arg(long, default_value = "0.0.0.0")]
        bind: IpAddr,
        /// This proxy's locality, region/zone/subzone (for localityLbSetting).
        #[arg(long)]
        locality: Option<String>,
        /// Directory of named TLS credentials: credentialName NAME reads NAME/tls.crt, NAME/tls.key and NAME/ca.crt here.
        #[arg(long, default_value = rampart_compile::DEFAULT_CREDENTIALS_DIR)]
        credentials: PathBuf,
        /// Log format.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Seconds in-flight requests get to finish on SIGTERM.
        #[arg(long, default_value_t = 5)]
        drain_timeout: u64,
        /// Trusted proxy hops in front of this gateway (Istio numTrustedProxies).
        #[arg(long, default_value_t = 0)]
        trusted_hops: u32,
        /// Path normalisation before routing and authorization (Istio meshConfig pathNormalization).
        #[arg(long, default_value = "MERGE_SLASHES", value_parser = ["NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"])]
        path_normalization: String,
        /// Istio MeshConfig file (extensionProviders for CUSTOM authorization policies).
        #[arg(long)]
        mesh_config: Option<PathBuf>,
        /// Most downstream connections at once; more are closed at accept (0 = no limit).
        #[arg(long, default_value_t = rampart::gateway::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
        /// Largest request body forwarded, in bytes; larger ones get 413 (0 = no limit).
        #[arg(long, default_value_t = 0)]
        max_request_body: u64,
        /// Seconds an HTTP/1 request head may take to arrive (slowloris); 0 turns it off.
        #[arg(long, default_value_t = 10)]
        request_headers_timeout: u64,
        /// Seconds an HTTP/1 connection may stay idle between requests; 0 turns it off.
        #[arg(long, default_value_t = 60)]
        idle_timeout: u64,
        /// Seconds a request may move no bytes (stalled upload or download); 0 turns it off.
        #[arg(long, default_value_t = 300)]
        stream_idle_timeout: u64,
        /// Do not reload when config files change (SIGHUP still reloads).
        #[arg(long)]
        no_watch: bool,
        /// Write an access log: a file path, or `-` for standard output (off by default).
        #[arg(long)]
        access_log: Option<PathBuf>,
        /// Access-log line format.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        access_log_format: String,
        /// Redis for global rate limits (BackendTrafficPolicy rateLimit.global), shared by every
        /// replica: redis://[:password@]host:port[/db].
        #[arg(long, env = "RAMPART_RATE_LIMIT_REDIS", value_parser = parse_redis)]
        rate_limit_redis: Option<rampart_ratelimit::redis::RedisAddr>,
        /// Bound on each Redis call of a global rate limit (Envoy Gateway's default, 20ms).
        #[arg(long, default_value = "20ms", value_parser = parse_timeout)]
        rate_limit_timeout: Duration,
        /// Refuse requests with 500 when Redis fails, instead of admitting them (Envoy Gateway's
        /// failClosed; local limits apply either way).
        #[arg(long)]
        rate_limit_fail_closed: bool,
        /// Export spans to this OTLP collector: http://HOST:4318/v1/traces (OTLP/HTTP, protobuf)
        /// or grpc://HOST:4317 (OTLP/gRPC). Without it tracing is off and trace headers pass
        /// through untouched.
        #[arg(long, value_name = "URL")]
        tracing_otlp_endpoint: Option<String>,
        /// OTLP protocol, when the endpoint's scheme does not say (e.g. grpc for http://HOST:4317).
        #[arg(long, requires = "tracing_otlp_endpoint", value_parser = ["grpc", "http/protobuf"])]
        tracing_otlp_protocol: Option<String>,
        /// Percentage of new traces sampled, 0 to 100 (Istio's randomSamplingPercentage; a
        /// caller's sampling decision wins; a Telemetry resource overrides it).
        #[arg(long, default_value_t = rampart_trace::sampler::DEFAULT_PERCENT, value_parser = parse_percent)]
        tracing_sampling: f64,
        /// `service.name` of the spans' resource.
        #[arg(long, default_value = rampart_trace::tracer::DEFAULT_SERVICE_NAME)]
        tracing_service_name: String,
    },
    /// Check configuration like `istioctl validate`: every problem as file:line: Kind ns/name: field: message.
    Validate {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Workload label k=v (repeatable; default istio=ingressgateway).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Istio MeshConfig file.
        #[arg(long)]
        mesh_config: Option<PathBuf>,
        /// Directory of named TLS credentials: credentialName NAME reads NAME/tls.crt, NAME/tls.key and NAME/ca.crt here.
        #[arg(long, default_value = rampart_compile::DEFAULT_CREDENTIALS_DIR)]
        credentials: PathBuf,
    },
    /// Show which listener, route and destination a request would take, and why earlier rules did not match.
    Explain {
        /// Files or directories.
        #[arg(long, short, required = true)]
        config: Vec<PathBuf>,
        /// Request header 'name: value' (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// Workload label k=v (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Istio MeshConfig file.
        #[arg(long)]
        mesh_config: Option<PathBuf>,
        /// Directory of named TLS credentials: credentialName NAME reads NAME/tls.crt, NAME/tls.key and NAME/ca.crt here.
        #[arg(long, default_value = rampart_compile::DEFAULT_CREDENTIALS_DIR)]
        credentials: PathBuf,
        /// HTTP method.
        method: String,
        /// URL, e.g. http://reviews.default.svc.cluster.local:8080/reviews/1
        url: String,
    },
    /// Print a running gateway's routes, clusters, endpoint health and golden signals.
    Status {
        /// The gateway's admin address.
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
    },
    /// Start built-in demo services and a gateway in front of them; prints URLs to try.
    Demo {
        /// Gateway port.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Admin address.
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
    },
}

fn identity(
    labels: &[String],
    namespace: Option<String>,
    bind: Option<IpAddr>,
) -> anyhow::Result<ProxyIdentity> {
    let mut me = ProxyIdentity::default();
    if !labels.is_empty() {
        me.labels = parse_labels(labels)?;
    }
    if let Some(ns) = namespace {
        me.namespace = ns;
    }
    if let Some(bind) = bind {
        me.bind = bind;
    }
    Ok(me)
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err("a percentage from 0 to 100".into()),
    }
}

/// Tracing settings from the `--tracing-*` flags; `None` without an endpoint.
fn tracing_settings(
    endpoint: Option<String>,
    protocol: Option<String>,
    sampling: f64,
    service_name: String,
) -> anyhow::Result<Option<rampart_trace::Settings>> {
    let Some(url) = endpoint else {
        return Ok(None);
    };
    let protocol = protocol
        .as_deref()
        .map(rampart_trace::Protocol::parse)
        .transpose()?;
    let endpoint = rampart_trace::Endpoint::parse(&url, protocol)?;
    Ok(Some(rampart_trace::Settings {
        sampling,
        service_name,
        ..rampart_trace::Settings::new(endpoint)
    }))
}

fn parse_redis(s: &str) -> Result<rampart_ratelimit::redis::RedisAddr, String> {
    s.parse()
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    rampart_config::parse_duration(s).and_then(|d| {
        if d.is_zero() {
            Err("must be greater than 0".to_string())
        } else {
            Ok(d)
        }
    })
}

/// A timeout flag: whole seconds, 0 = off.
fn seconds(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n))
}

fn control_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("rampart-control")
        .build()?)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            admin,
            workers,
            labels,
            namespace,
            bind,
            locality,
            credentials,
            log_format,
            drain_timeout,
            trusted_hops,
            path_normalization,
            request_headers_timeout,
            idle_timeout,
            stream_idle_timeout,
            mesh_config,
            max_connections,
            max_request_body,
            no_watch,
            access_log,
            access_log_format,
            rate_limit_redis,
            rate_limit_timeout,
            rate_limit_fail_closed,
            tracing_otlp_endpoint,
            tracing_otlp_protocol,
            tracing_sampling,
            tracing_service_name,
        } => {
            let (filter, control) = rampart::logging::init(log_format == "json");
            let workers = workers.filter(|&n| n > 0).unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let opts = GatewayOptions {
                admin: Some(admin),
                workers,
                identity: ProxyIdentity {
                    locality,
                    credentials,
                    ..identity(&labels, Some(namespace), Some(bind))?
                },
                watch: !no_watch,
                log_filter: filter,
                log_control: Some(control),
                trusted_hops,
                path_normalization: PathNormalization::parse(&path_normalization)
                    .unwrap_or_default(),
                request_headers_timeout: seconds(request_headers_timeout),
                idle_timeout: seconds(idle_timeout),
                stream_idle_timeout: seconds(stream_idle_timeout),
                mesh_config,
                max_connections: (max_connections > 0).then_some(max_connections),
                max_request_body: (max_request_body > 0).then_some(max_request_body),
                access_log: access_log.map(|path| {
                    let format = if access_log_format == "json" {
                        AccessLogFormat::Json
                    } else {
                        AccessLogFormat::Text
                    };
                    let path = (path.as_os_str() != "-").then_some(path);
                    (path, format)
                }),
                rate_limit_global: rate_limit_redis.map(|redis| {
                    rampart_ratelimit::GlobalSettings {
                        redis,
                        timeout: rate_limit_timeout,
                        fail_closed: rate_limit_fail_closed,
                    }
                }),
                tracing: tracing_settings(
                    tracing_otlp_endpoint,
                    tracing_otlp_protocol,
                    tracing_sampling,
                    tracing_service_name,
                )?,
                ..GatewayOptions::new(config)
            };
            control_runtime()?.block_on(cmd::run::run(opts, Duration::from_secs(drain_timeout)))
        }
        Command::Validate {
            paths,
            labels,
            mesh_config,
            credentials,
        } => std::process::exit(cmd::validate::run(
            &paths,
            mesh_config.as_deref(),
            &ProxyIdentity {
                credentials,
                ..identity(&labels, None, None)?
            },
        )),
        Command::Explain {
            config,
            headers,
            labels,
            mesh_config,
            credentials,
            method,
            url,
        } => std::process::exit(cmd::explain::run(
            &config,
            mesh_config.as_deref(),
            &ProxyIdentity {
                credentials,
                ..identity(&labels, None, None)?
            },
            &method,
            &url,
            &headers,
        )?),
        Command::Status { admin } => std::process::exit(cmd::status::run(admin)?),
        Command::Demo { port, admin } => {
            let (filter, control) = rampart::logging::init(false);
            control_runtime()?.block_on(rampart::demo::run(port, admin, filter, control))
        }
    }
}
