//! Why a token was refused: Envoy `jwt_authn`'s status codes and their response-body texts.
//!
//! The proxy answers `401` with [`Status::message`] as the body, exactly as Envoy does, so
//! clients and tests written against Istio see the same words.

/// A verification failure, named after Envoy's `JwtVerify::Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Not three dot-separated segments (or too long to be a token we accept).
    JwtBadFormat,
    /// Header segment is not base64url.
    JwtHeaderParseErrorBadBase64,
    /// Header segment is not a JSON object (or repeats a member).
    JwtHeaderParseErrorBadJson,
    /// `alg` missing or not a string.
    JwtHeaderBadAlg,
    /// `alg` is not one Rampart verifies (`none`, `HS256`, `ES512`, …).
    JwtHeaderNotImplementedAlg,
    /// `kid` present but not a string.
    JwtHeaderBadKid,
    /// Payload segment is not base64url.
    JwtPayloadParseErrorBadBase64,
    /// Payload is not a JSON object, is nested too deeply, or repeats a member.
    JwtPayloadParseErrorBadJson,
    /// `iss` present but not a string.
    JwtPayloadParseErrorIssNotString,
    /// `sub` present but not a string.
    JwtPayloadParseErrorSubNotString,
    /// `iat` present but not a number.
    JwtPayloadParseErrorIatNotInteger,
    /// `iat` negative or beyond 64 bits.
    JwtPayloadParseErrorIatOutOfRange,
    /// `nbf` present but not a number.
    JwtPayloadParseErrorNbfNotInteger,
    /// `nbf` negative or beyond 64 bits.
    JwtPayloadParseErrorNbfOutOfRange,
    /// `exp` present but not a number.
    JwtPayloadParseErrorExpNotInteger,
    /// `exp` negative or beyond 64 bits.
    JwtPayloadParseErrorExpOutOfRange,
    /// `jti` present but not a string.
    JwtPayloadParseErrorJtiNotString,
    /// `aud` neither a string nor a list of strings.
    JwtPayloadParseErrorAudNotString,
    /// Signature segment is not base64url.
    JwtSignatureParseErrorBadBase64,
    /// `nbf` is in the future (beyond the clock skew).
    JwtNotYetValid,
    /// `exp` is in the past (beyond the clock skew).
    JwtExpired,
    /// No rule for the token's location has the token's issuer.
    JwtUnknownIssuer,
    /// None of the token's audiences is configured.
    JwtAudienceNotAllowed,
    /// A matching key was found but the signature does not verify with it.
    JwtVerificationFail,
    /// Two different tokens in one request.
    JwtMultipleTokens,
    /// No key in the JWKS has the token's `kid` and a family compatible with its `alg`.
    JwksKidAlgMismatch,
    /// The remote JWKS has never been fetched successfully.
    JwksFetchFail,
}

impl Status {
    /// Envoy's text for this status: the body of the `401` answer.
    pub fn message(self) -> &'static str {
        match self {
            Self::JwtBadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            Self::JwtHeaderParseErrorBadBase64 => "Jwt header is an invalid Base64url encoded",
            Self::JwtHeaderParseErrorBadJson => "Jwt header is an invalid JSON",
            Self::JwtHeaderBadAlg => "Jwt header [alg] field is required and must be a string",
            Self::JwtHeaderNotImplementedAlg => "Jwt header [alg] is not supported",
            Self::JwtHeaderBadKid => "Jwt header [kid] field is not a string",
            Self::JwtPayloadParseErrorBadBase64 => "Jwt payload is an invalid Base64url encoded",
            Self::JwtPayloadParseErrorBadJson => "Jwt payload is an invalid JSON",
            Self::JwtPayloadParseErrorIssNotString => "Jwt payload [iss] field is not a string",
            Self::JwtPayloadParseErrorSubNotString => "Jwt payload [sub] field is not a string",
            Self::JwtPayloadParseErrorIatNotInteger => "Jwt payload [iat] field is not an integer",
            Self::JwtPayloadParseErrorIatOutOfRange => {
                "Jwt payload [iat] field is not a positive 64 bit integer"
            }
            Self::JwtPayloadParseErrorNbfNotInteger => "Jwt payload [nbf] field is not an integer",
            Self::JwtPayloadParseErrorNbfOutOfRange => {
                "Jwt payload [nbf] field is not a positive 64 bit integer"
            }
            Self::JwtPayloadParseErrorExpNotInteger => "Jwt payload [exp] field is not an integer",
            Self::JwtPayloadParseErrorExpOutOfRange => {
                "Jwt payload [exp] field is not a positive 64 bit integer"
            }
            Self::JwtPayloadParseErrorJtiNotString => "Jwt payload [jti] field is not a string",
            Self::JwtPayloadParseErrorAudNotString => {
                "Jwt payload [aud] field is not a string or string list"
            }
            Self::JwtSignatureParseErrorBadBase64 => {
                "Jwt signature is an invalid Base64url encoded"
            }
            Self::JwtNotYetValid => "Jwt not yet valid",
            Self::JwtExpired => "Jwt is expired",
            Self::JwtUnknownIssuer => "Jwt issuer is not configured",
            Self::JwtAudienceNotAllowed => "Audiences in Jwt are not allowed",
            Self::JwtVerificationFail => "Jwt verification fails",
            Self::JwtMultipleTokens => "Found multiple Jwt tokens",
            Self::JwksKidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
            Self::JwksFetchFail => "Jwks remote fetch is failed",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
