//! Who may call what: bearer tokens for predictions and administration, the `Host` names the
//! server answers to, and the headers that keep its pages from being framed or sniffed.
//!
//! All of it is off by default for a server on loopback used by one person, and turned on by
//! `serve`'s options and `VIGIL_*` variables for anything shared.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// A secret token, kept only as its SHA-256 digest.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl Token {
    /// A token from its secret text.
    pub fn new(secret: &str) -> Self {
        Token(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `presented` is this token. Digests of equal length are compared without an
    /// early exit, so the time taken says nothing about how much of a guess was right.
    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let difference = self
            .0
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (expected, given)| acc | (expected ^ given));
        std::hint::black_box(difference) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Token(..)")
    }
}

/// The server's access rules.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Required (as `Authorization: Bearer ...`) by the prediction and drift routes when set.
    pub api_token: Option<Token>,
    /// Required by `/admin/*`, which does not exist without it.
    pub admin_token: Option<Token>,
    /// Host names (without port) accepted in `Host`; `None` accepts any.
    pub allowed_hosts: Option<Vec<String>>,
    /// Origins (`https://app.example.org`, or `*`) whose pages may call the API from a
    /// browser; `None` (the default) sends no CORS headers, so browsers keep other origins out.
    pub cors_origins: Option<Vec<String>>,
}

/// The host names a server bound to `bind_host` answers to by default: its loopback names when
/// it listens on loopback only (so a DNS-rebinding page cannot reach it through another name),
/// any otherwise (a proxy or load balancer decides the names).
pub fn default_allowed_hosts(bind_host: &str) -> Option<Vec<String>> {
    let loopback = matches!(bind_host, "127.0.0.1" | "localhost" | "::1" | "[::1]")
        || bind_host.starts_with("127.");
    loopback.then(|| {
        ["localhost", "127.0.0.1", "::1", bind_host]
            .map(|name| name.trim_matches(['[', ']']).to_owned())
            .to_vec()
    })
}

/// Whether a bind address reaches beyond this machine.
pub fn is_exposed(bind_host: &str) -> bool {
    default_allowed_hosts(bind_host).is_none()
}

/// The host name of a `Host` header value: without port, brackets or a trailing dot,
/// lowercased.
fn host_name(value: &str) -> String {
    let value = value.trim();
    let name = if let Some(rest) = value.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        value.rsplit_once(':').map_or(value, |(name, port)| {
            if port.bytes().all(|byte| byte.is_ascii_digit()) {
                name
            } else {
                value
            }
        })
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Access {
    /// The request's `Origin`, when CORS is on and allows it.
    fn allowed_origin(&self, request: &ServiceRequest) -> Option<String> {
        let allowed = self.cors_origins.as_ref()?;
        let origin = request.headers().get(header::ORIGIN)?.to_str().ok()?;
        allowed
            .iter()
            .any(|name| name == "*" || name.eq_ignore_ascii_case(origin))
            .then(|| origin.to_owned())
    }

    /// Checks the `Host` header against the allowed names.
    fn check_host(&self, request: &ServiceRequest) -> Result<(), ApiError> {
        let Some(allowed) = &self.allowed_hosts else {
            return Ok(());
        };
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .map(host_name)
            .or_else(|| request.uri().host().map(str::to_ascii_lowercase));
        match host {
            Some(host) if allowed.iter().any(|name| name.eq_ignore_ascii_case(&host)) => Ok(()),
            Some(host) => Err(ApiError::HostNotAllowed(host)),
            None => Err(ApiError::HostNotAllowed("none".into())),
        }
    }

    /// Requires the API token, when one is set.
    pub fn require_api(&self, request: &HttpRequest) -> Result<(), ApiError> {
        match &self.api_token {
            Some(token) => require(token, request, "predictions"),
            None => Ok(()),
        }
    }

    /// Requires the admin token; without one configured, administration does not exist.
    pub fn require_admin(&self, request: &HttpRequest) -> Result<(), ApiError> {
        match &self.admin_token {
            Some(token) => require(token, request, "administration"),
            None => Err(ApiError::NotFound(request.path().to_owned())),
        }
    }
}

fn require(token: &Token, request: &HttpRequest, realm: &'static str) -> Result<(), ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, credentials) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        });
    match presented {
        Some(credentials) if token.matches(credentials) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized {
            realm,
            reason: "the bearer token is not valid",
        }),
        None => Err(ApiError::Unauthorized {
            realm,
            reason: "send `Authorization: Bearer <token>`",
        }),
    }
}

/// The page's content security policy: its own scripts and styles only, no framing, no
/// plugins, forms and links back to this server only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Swagger UI's policy: the same, except that its bundled script sets inline styles, which it
/// cannot render without (scripts stay restricted to the server's own files).
const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Middleware: refuses a `Host` not allowed (before anything else runs), and sets the headers
/// that stop framing and content sniffing, with a content security policy on HTML.
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let is_docs = request.path().starts_with("/docs");
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let refusal = state
        .as_ref()
        .and_then(|state| state.access.check_host(&request).err());
    let origin = state
        .as_ref()
        .and_then(|state| state.access.allowed_origin(&request));
    let preflight = origin.is_some()
        && request.method() == actix_web::http::Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match refusal {
        // Answered here (not raised) so the outer middleware logs and counts it as a response.
        Some(error) => request.error_response(error).map_into_right_body(),
        None if preflight => {
            let (request, _) = request.into_parts();
            let answer = actix_web::HttpResponse::NoContent()
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    "GET, HEAD, POST, OPTIONS",
                ))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "content-type, authorization, x-request-id",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .finish();
            ServiceResponse::new(request, answer).map_into_right_body()
        }
        None => next.call(request).await?.map_into_left_body(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Some(origin) = origin.and_then(|origin| HeaderValue::from_str(&origin).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id"),
        );
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if is_html {
        headers.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(if is_docs {
                DOCS_CONTENT_SECURITY_POLICY
            } else {
                CONTENT_SECURITY_POLICY
            }),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let token = Token::new("s3cret");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cret "));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn host_names_lose_port_brackets_and_case() {
        assert_eq!(host_name("LocalHost:8000"), "localhost");
        assert_eq!(host_name("[::1]:8000"), "::1");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("example.org."), "example.org");
    }

    #[test]
    fn loopback_binds_answer_to_loopback_names_only() {
        let names = default_allowed_hosts("127.0.0.1").unwrap();
        assert!(names.contains(&"localhost".to_owned()));
        assert!(default_allowed_hosts("0.0.0.0").is_none());
        assert!(is_exposed("0.0.0.0") && !is_exposed("::1"));
    }
}
