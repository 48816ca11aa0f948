//! One token request, through the oauth2 crate over the service's own HTTP client.
//!
//! The oauth2 crate builds the request (grant, form encoding, client authentication) and reads
//! the answer, but it drops the status and headers of a failed one, so a 429's `Retry-After`
//! would be lost. The HTTP function handed to it therefore answers 429, 5xx and anything but
//! 2xx, 400, 401 and 403 itself, as an error the crate passes through untouched; only a token
//! or the tenant's refusal of the credentials reach the crate's parser.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicU16, Ordering},
    time::{Duration, SystemTime},
};

use axum::http::{header, StatusCode};
use oauth2::{
    basic::BasicClient, AsyncHttpClient, AuthType, ClientId, ClientSecret, HttpRequest,
    HttpResponse, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, Scope,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use super::{HttpClient, TokenError, TransportError};
use crate::retry::parse_retry_after;

/// Which OAuth2 grant the tenant takes, and how the client authenticates.
pub enum Grant {
    /// The tutorial's: client id and secret in the form, with an optional scope.
    ClientCredentials { scope: String },
    /// CXone's: an API user's access key as username and password, the application's client
    /// id and secret as HTTP Basic.
    Password {
        username: SecretString,
        password: SecretString,
    },
}

/// The answer to a successful token request.
pub(super) struct Issued {
    pub access_token: String,
    pub expires_in: Option<Duration>,
}

/// What the HTTP function tells the oauth2 crate instead of handing it the answer.
#[derive(Debug, thiserror::Error)]
enum Answered {
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("rate limited")]
    RateLimited(Option<Duration>),
    #[error("HTTP {0}")]
    Unusable(u16),
}

pub(super) struct TokenRequest<'a> {
    pub http: &'a HttpClient,
    pub token_url: url::Url,
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    pub grant: &'a Grant,
    pub timeout: Duration,
}

impl TokenRequest<'_> {
    /// Asks for a token; the HTTP status, when an answer arrived, goes with the result.
    pub async fn send(self) -> (Option<u16>, Result<Issued, TokenError>) {
        let status = AtomicU16::new(0);
        let http = Exchange {
            request: &self,
            status: &status,
        };
        let client = BasicClient::new(ClientId::new(self.client_id.to_owned()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()));
        let result = match self.grant {
            Grant::ClientCredentials { scope } => {
                let client = client.set_auth_type(AuthType::RequestBody);
                let mut request = client.exchange_client_credentials();
                if !scope.is_empty() {
                    request = request.add_scope(Scope::new(scope.clone()));
                }
                request.request_async(&http).await
            }
            Grant::Password { username, password } => {
                let username = ResourceOwnerUsername::new(username.expose_secret().to_owned());
                let password = ResourceOwnerPassword::new(password.expose_secret().to_owned());
                (client.exchange_password(&username, &password))
                    .request_async(&http)
                    .await
            }
        };
        let status = Some(status.load(Ordering::Relaxed)).filter(|s| *s != 0);
        let result = result
            .map(|token| Issued {
                access_token: token.access_token().secret().clone(),
                expires_in: token.expires_in(),
            })
            .map_err(|error| token_error(error, status));
        (status, result)
    }

    async fn exchange(
        &self,
        request: HttpRequest,
        status: &AtomicU16,
    ) -> Result<HttpResponse, Answered> {
        let request = reqwest::Request::try_from(request).map_err(|_| TransportError::Broken)?;
        // Without the timeout a token endpoint that accepts and never answers would hold the
        // shared fetch forever, and every caller would join it.
        let answer = self.http.execute(request, self.timeout).await?;
        status.store(answer.status.as_u16(), Ordering::Relaxed);
        match answer.status {
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = (answer.headers.get(header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                return Err(Answered::RateLimited(retry_after));
            }
            // Only these say the credentials are wrong; a 408, a redirect or a 5xx is worth
            // trying again.
            s if s.is_success() || matches!(s.as_u16(), 400 | 401 | 403) => {}
            s => return Err(Answered::Unusable(s.as_u16())),
        }
        let mut response = HttpResponse::new(answer.body.to_vec());
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        Ok(response)
    }
}

/// The HTTP function handed to the oauth2 crate. A named type with a boxed `Send` future, not
/// a closure: the compiler cannot prove a closure's borrowed future `Send` for every lifetime
/// the crate asks for.
struct Exchange<'a> {
    request: &'a TokenRequest<'a>,
    status: &'a AtomicU16,
}

impl<'c> AsyncHttpClient<'c> for Exchange<'_> {
    type Error = Answered;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Answered>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.request.exchange(request, self.status))
    }
}

type CrateError = RequestTokenError<Answered, oauth2::basic::BasicErrorResponse>;

fn token_error(error: CrateError, status: Option<u16>) -> TokenError {
    let refused = status.filter(|s| matches!(s, 400 | 401 | 403));
    match (error, refused) {
        (RequestTokenError::Request(Answered::RateLimited(retry_after)), _) => {
            tracing::warn!(?retry_after, "token endpoint rate limited");
            TokenError::RateLimited { retry_after }
        }
        (RequestTokenError::Request(Answered::Transport(error)), _) => {
            tracing::warn!(%error, "token request failed");
            TokenError::Unavailable {
                reason: "network error",
            }
        }
        (RequestTokenError::Request(Answered::Unusable(status)), _) => {
            tracing::warn!(status, "token endpoint failed");
            TokenError::Unavailable {
                reason: "server error",
            }
        }
        (RequestTokenError::ServerResponse(answer), Some(status)) => {
            let code = answer.error().to_string();
            tracing::error!(status, error = %code, "token endpoint refused the credentials");
            TokenError::Rejected {
                status,
                error: Some(code),
            }
        }
        (_, Some(status)) => {
            tracing::error!(status, "token endpoint refused the credentials");
            TokenError::Rejected {
                status,
                error: None,
            }
        }
        (_, None) => TokenError::Unavailable {
            reason: "unreadable token response",
        },
    }
}
