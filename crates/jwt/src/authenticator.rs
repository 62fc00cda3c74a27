//! The authentication stage: `RequestAuthentication` as Envoy's `jwt_authn` runs it for Istio
//! (`requires_any: [every provider…, allow_missing]`, `bypass_cors_preflight: true`).
//!
//! Receives the request head; answers [`Outcome`] and, unless it rejects, edits the head: the
//! verified token is removed (unless `forwardOriginalToken`), every configured output header is
//! first removed (so clients cannot forge them) and then set from the verified token.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method};
use rampart_model::authn::{JwksSource, JwtRule};
use serde_json::Value;

use crate::extract::Location;
use crate::identity::Identity;
use crate::jwks::{JwksError, KeySet};
use crate::registry::{JwksRegistry, RemoteJwks};
use crate::status::Status;
use crate::token::Jwt;
use crate::verify::{check_audience, check_signature, check_time, sanitize_audience};

/// What authentication decided about one request.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// No token anywhere: the request goes on without an identity (authorization decides).
    Anonymous,
    /// A token verified against a rule.
    Authenticated(Arc<Identity>),
    /// A token was present and invalid: answer `401` with the rejection's message.
    Rejected(Rejection),
}

/// Why a request is refused with `401`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The reason.
    pub status: Status,
    /// Envoy's response body for it, e.g. `Jwt is expired`.
    pub message: &'static str,
}

impl From<Status> for Rejection {
    fn from(status: Status) -> Self {
        Rejection {
            status,
            message: status.message(),
        }
    }
}

/// A rule that cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The inline `jwks` is not a usable JWKS.
    #[error("{origin}: jwks: {source}")]
    InlineJwks {
        /// The rule (`namespace/name jwtRules[i]`).
        origin: Box<str>,
        /// What is wrong with it.
        source: JwksError,
    },
    /// The `jwksUri` cannot be fetched.
    #[error("{origin}: jwksUri {uri:?}: {reason}")]
    JwksUri {
        /// The rule.
        origin: Box<str>,
        /// The URI as configured.
        uri: Box<str>,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The JWT rules bound to this proxy, ready to check requests. Built at snapshot install.
#[derive(Debug)]
pub struct Authenticator {
    providers: Box<[Provider]>,
    /// Distinct token locations, each with the providers that configured it.
    locations: Box<[(Location, Box<[usize]>)]>,
    /// Every output header of every rule: removed from every request that is not rejected.
    output_headers: Box<[HeaderName]>,
}

#[derive(Debug)]
struct Provider {
    issuer: Box<str>,
    /// Sanitized as Envoy does (scheme and trailing slash dropped).
    audiences: Box<[Box<str>]>,
    keys: Keys,
    payload_header: Option<HeaderName>,
    claim_headers: Box<[(HeaderName, Box<[Box<str>]>)]>,
    forward_original_token: bool,
    fetch_timeout: Duration,
    space_delimited: Arc<[Box<str>]>,
}

#[derive(Debug)]
enum Keys {
    Inline(Arc<KeySet>),
    Remote(Arc<RemoteJwks>),
}

/// Tokens found in one request.
enum Scan {
    None,
    Invalid(Status),
    /// One distinct token, and the indices of the locations it was found at.
    One(String, Vec<usize>),
}

impl Authenticator {
    /// Compiles `rules`; remote key sets come from (and start fetching in) `registry`.
    pub fn new(rules: &[JwtRule], registry: &Arc<JwksRegistry>) -> Result<Self, BuildError> {
        let mut providers = Vec::with_capacity(rules.len());
        let mut locations: Vec<(Location, Vec<usize>)> = Vec::new();
        let mut output_headers: Vec<HeaderName> = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            for location in rule_locations(rule) {
                match locations.iter_mut().find(|(l, _)| *l == location) {
                    Some((_, users)) => users.push(index),
                    None => locations.push((location, vec![index])),
                }
            }
            let outputs = rule.output_payload_to_header.iter();
            let outputs = outputs.chain(rule.output_claim_to_headers.iter().map(|(h, _)| h));
            for header in outputs {
                if !output_headers.contains(header) {
                    output_headers.push(header.clone());
                }
            }
            providers.push(Provider::new(rule, registry)?);
        }
        Ok(Authenticator {
            providers: providers.into(),
            locations: locations
                .into_iter()
                .map(|(l, users)| (l, users.into()))
                .collect(),
            output_headers: output_headers.into(),
        })
    }

    /// Whether no rule applies (the stage can be skipped).
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Authenticates the request and edits its head (see the module docs).
    pub async fn authenticate(&self, parts: &mut Parts) -> Outcome {
        if self.is_empty() {
            return Outcome::Anonymous;
        }
        if is_cors_preflight(parts) {
            self.strip_outputs(parts);
            return Outcome::Anonymous;
        }
        let (token, at) = match self.scan(parts) {
            Scan::None => {
                self.strip_outputs(parts);
                return Outcome::Anonymous;
            }
            Scan::Invalid(status) => return Outcome::Rejected(status.into()),
            Scan::One(token, at) => (token, at),
        };
        let jwt = match Jwt::parse(&token) {
            Ok(jwt) => jwt,
            Err(status) => return Outcome::Rejected(status.into()),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut failure = Status::JwtUnknownIssuer;
        for index in self.candidates(&at) {
            let provider = &self.providers[index];
            let issuer_ok =
                provider.issuer.is_empty() || jwt.issuer.as_deref() == Some(&*provider.issuer);
            if !issuer_ok {
                continue;
            }
            match provider.verify(&jwt, &token, now).await {
                Ok(()) => return Outcome::Authenticated(self.accept(index, jwt, &at, parts)),
                // The first matching rule's reason is reported, as the most specific.
                Err(status) if failure == Status::JwtUnknownIssuer => failure = status,
                Err(_) => {}
            }
        }
        Outcome::Rejected(failure.into())
    }

    /// Finds the token: none, one (possibly at several locations), or a reason to reject.
    fn scan(&self, parts: &Parts) -> Scan {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        let mut at = Vec::new();
        for (index, (location, _)) in self.locations.iter().enumerate() {
            found.clear();
            location.find(parts, &mut found);
            for hit in found.drain(..) {
                let Ok(text) = hit else {
                    return Scan::Invalid(Status::JwtBadFormat);
                };
                match &token {
                    Some(t) if *t != *text => return Scan::Invalid(Status::JwtMultipleTokens),
                    Some(_) => {}
                    None => token = Some(text.into_owned()),
                }
                if !at.contains(&index) {
                    at.push(index);
                }
            }
        }
        match token {
            Some(token) => Scan::One(token, at),
            None => Scan::None,
        }
    }

    /// Providers configured for any of the locations `at`, in rule order, each once.
    fn candidates(&self, at: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = at
            .iter()
            .flat_map(|&l| self.locations[l].1.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Edits the request for a token verified by provider `index`, and builds the identity.
    fn accept(&self, index: usize, jwt: Jwt, at: &[usize], parts: &mut Parts) -> Arc<Identity> {
        let provider = &self.providers[index];
        if !provider.forward_original_token {
            for &l in at {
                let (location, users) = &self.locations[l];
                if users.contains(&index) {
                    location.remove(parts);
                }
            }
        }
        self.strip_outputs(parts);
        if let Some(header) = &provider.payload_header {
            let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&jwt.payload);
            if let Ok(value) = HeaderValue::try_from(encoded) {
                parts.headers.insert(header.clone(), value);
            }
        }
        for (header, path) in provider.claim_headers.iter() {
            let claim = path.split_first().and_then(|(first, rest)| {
                rest.iter()
                    .try_fold(jwt.claims.get(&**first)?, |v, name| v.get(&**name))
            });
            if let Some(value) = claim.and_then(claim_header_value) {
                parts.headers.insert(header.clone(), value);
            }
        }
        let issuer = jwt.issuer.unwrap_or_default();
        let subject = jwt.subject.unwrap_or_default();
        let principal = if issuer.is_empty() || subject.is_empty() {
            String::new()
        } else {
            format!("{issuer}/{subject}")
        };
        Arc::new(Identity {
            principal,
            issuer,
            subject,
            audiences: jwt.audiences,
            presenter: jwt.presenter,
            claims: jwt.claims,
            space_delimited: provider.space_delimited.clone(),
        })
    }

    fn strip_outputs(&self, parts: &mut Parts) {
        for header in self.output_headers.iter() {
            parts.headers.remove(header);
        }
    }
}

impl Provider {
    fn new(rule: &JwtRule, registry: &Arc<JwksRegistry>) -> Result<Provider, BuildError> {
        let keys = match &rule.jwks {
            JwksSource::Inline(json) => Keys::Inline(Arc::new(
                KeySet::parse(json.as_bytes()).map_err(|source| BuildError::InlineJwks {
                    origin: rule.origin.clone(),
                    source,
                })?,
            )),
            JwksSource::Uri(uri) => {
                Keys::Remote(registry.handle(uri, rule.fetch_timeout).map_err(|reason| {
                    BuildError::JwksUri {
                        origin: rule.origin.clone(),
                        uri: uri.clone(),
                        reason,
                    }
                })?)
            }
        };
        Ok(Provider {
            issuer: rule.issuer.clone(),
            audiences: rule
                .audiences
                .iter()
                .map(|a| sanitize_audience(a).into())
                .collect(),
            keys,
            payload_header: rule.output_payload_to_header.clone(),
            claim_headers: rule
                .output_claim_to_headers
                .iter()
                .map(|(header, claim)| (header.clone(), claim.split('.').map(Into::into).collect()))
                .collect(),
            forward_original_token: rule.forward_original_token,
            fetch_timeout: rule.fetch_timeout,
            space_delimited: rule.space_delimited_claims.iter().cloned().collect(),
        })
    }

    /// Time window, audiences, then keys and signature (Envoy's order).
    async fn verify(&self, jwt: &Jwt, token: &str, now: u64) -> Result<(), Status> {
        check_time(jwt, now)?;
        check_audience(jwt, &self.audiences)?;
        let remote = match &self.keys {
            Keys::Inline(keys) => return check_signature(jwt, token, keys),
            Keys::Remote(remote) => remote,
        };
        let keys = remote
            .keys_or_first_fetch(self.fetch_timeout)
            .await
            .ok_or(Status::JwksFetchFail)?;
        match check_signature(jwt, token, &keys) {
            Err(Status::JwksKidAlgMismatch)
                if remote.refetch_for_unknown_key(self.fetch_timeout).await =>
            {
                let keys = remote.keys().ok_or(Status::JwksFetchFail)?;
                check_signature(jwt, token, &keys)
            }
            result => result,
        }
    }
}

fn rule_locations(rule: &JwtRule) -> Vec<Location> {
    let locations = &rule.locations;
    if locations.is_default() {
        return Location::defaults().into();
    }
    let headers = locations
        .headers
        .iter()
        .map(|(name, prefix)| Location::Header {
            name: name.clone(),
            prefix: prefix.clone(),
            strict: true,
        });
    let params = locations.params.iter().cloned().map(Location::Param);
    let cookies = locations.cookies.iter().cloned().map(Location::Cookie);
    headers.chain(params).chain(cookies).collect()
}

/// `outputClaimToHeaders` copies strings, integers and booleans (as Envoy does); anything else,
/// or a value that is not a valid header value, sets nothing.
fn claim_header_value(value: &Value) -> Option<HeaderValue> {
    match value {
        Value::String(s) => HeaderValue::from_str(s).ok(),
        Value::Bool(b) => Some(HeaderValue::from_static(if *b { "true" } else { "false" })),
        Value::Number(n) if n.is_i64() || n.is_u64() => HeaderValue::from_str(&n.to_string()).ok(),
        _ => None,
    }
}

/// Envoy's `bypass_cors_preflight`, which Istio turns on: a CORS preflight is never
/// authenticated.
fn is_cors_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts.headers.contains_key(ORIGIN)
        && parts.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}
