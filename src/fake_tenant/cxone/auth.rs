//! Discovery and the token endpoint: how a back-end app finds the tenant and signs in with
//! its API user's access key (OAuth2 password grant, client authenticated with Basic).

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{rejection::FormRejection, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine as _,
};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{base_url, AppState};
use crate::fake_tenant::state::Counters;

/// The API user the fake's tokens are issued to (`sub` is `user:` + this).
const API_USER_ID: &str = "11eb0000-5a4d-c0de-8000-0000000000a1";
/// CXone's region and cluster names, as the discovery example and id tokens carry them.
const AREA: &str = "na1";
const CLUSTER: &str = "B32";

/// `GET /.well-known/openid-configuration`: the OIDC document, this fake as issuer.
pub(super) async fn openid_configuration(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&state, &headers);
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "userinfo_endpoint": format!("{base}/auth/userinfo"),
        "jwks_uri": format!("{base}/auth/jwks"),
        "end_session_endpoint": format!("{base}/auth/logout"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["password"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

/// `GET /.well-known/cxone-configuration?tenantId=`: where the tenant's APIs live (here).
pub(super) async fn cxone_configuration(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let tenant_id = &state.shared.settings.cxone.tenant_id;
    let known = query
        .get("tenantId")
        .is_some_and(|asked| asked.eq_ignore_ascii_case(tenant_id));
    if !known {
        let body = json!({ "error": "not_found", "error_description": "Unknown tenantId" });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let base = base_url(&state, &headers);
    Json(json!({
        "private": false,
        "area": AREA,
        "cluster": CLUSTER,
        "domain": "niceincontact.com",
        "acdDomain": "nice-incontact.com",
        "uhDomain": "nice-incontact.com",
        "ui_endpoint": base,
        "auth_endpoint": base,
        "api_endpoint": base,
        "tenantId": tenant_id,
    }))
    .into_response()
}

/// An OAuth2 error body (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({ "error": code, "error_description": description });
    (status, Json(body)).into_response()
}

/// `POST /auth/token`: the password grant, client authenticated with HTTP Basic.
pub(super) async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let shared = &state.shared;
    Counters::bump(&shared.counters.token_requests);
    let cxone = &shared.settings.cxone;
    let client_ok = basic_credentials(&headers)
        .is_some_and(|(id, secret)| id == cxone.client_id && secret == cxone.client_secret);
    if !client_ok {
        let mut response = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed: send the app's client id and secret with Basic",
        );
        // RFC 6749 §5.2: a 401 for a client names the scheme it should authenticate with.
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"cxone\""),
        );
        return response;
    }
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    if form.get("grant_type").map(String::as_str) != Some("password") {
        let body = json!({ "error": "unsupported_grant_type" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let key_ok = form.get("username") == Some(&cxone.access_key_id)
        && form.get("password") == Some(&cxone.access_key_secret);
    if !key_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the access key id or secret is wrong",
        );
    }
    let lifetime = shared.settings.token_lifetime_secs;
    let base = base_url(&state, &headers);
    let claims = token_claims(&state, &base, lifetime);
    let access_token = jwt(&claims);
    let mut id_claims = token_claims(&state, &base, lifetime);
    id_claims["name"] = json!("Sandbox API user");
    let mut refresh_claims = token_claims(&state, &base, lifetime);
    refresh_claims["token_use"] = json!("refresh");
    // Saturate rather than overflow if someone configures an absurd lifetime.
    let expires_at = Instant::now()
        .checked_add(Duration::from_secs(lifetime))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    shared.issue_token(&access_token, expires_at);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": jwt(&refresh_claims),
        "id_token": jwt(&id_claims),
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    });
    // Token responses must not be cached (RFC 6749 §5.1).
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    (StatusCode::OK, no_store, Json(body)).into_response()
}

/// The claims CXone's tokens carry that clients read (`tenantId`, `icBUId` as a number,
/// `icClusterId`), plus a `jti` so that no two tokens are alike.
fn token_claims(state: &AppState, issuer: &str, lifetime: u64) -> Value {
    let cxone = &state.shared.settings.cxone;
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    json!({
        "iss": issuer,
        "sub": format!("user:{API_USER_ID}"),
        "tenantId": cxone.tenant_id,
        "icBUId": cxone.business_unit_id,
        "icClusterId": CLUSTER,
        "area": AREA,
        "iat": iat,
        "exp": iat.saturating_add(lifetime),
        "jti": ulid::Ulid::new().to_string(),
    })
}

/// A JWT-shaped token: base64url header, payload and signature, unpadded. The signature is
/// random bytes, since no client verifies it (NICE's guidance only decodes the payload).
fn jwt(claims: &Value) -> String {
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "sandbox" });
    let signature: [u8; 32] = rand::random();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Client id and secret from `Authorization: Basic`, each form-decoded after the split at
/// the first `:`, as RFC 6749 §2.3.1 has clients encode them.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a
/// byte); None for a malformed escape or bytes that are not UTF-8.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        match first {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = rest
                    .get(..2)
                    .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
                bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                rest = &rest[2..];
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn form_decode_handles_escapes_plus_and_malformed_input() {
        assert_eq!(form_decode("a%3Db+c%3a").as_deref(), Some("a=b c:"));
        assert_eq!(form_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(form_decode("%3"), None);
        assert_eq!(form_decode("%+1"), None);
        assert_eq!(form_decode("%FF"), None);
    }
}
