use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{basic, password_form, quick, send, Harness, API};
use crate::fake_tenant::FakeCxoneSettings;

/// The JSON payload of a JWT-shaped token.
fn payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts
        .iter()
        .all(|part| !part.is_empty() && !part.contains('=')));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_leads_from_the_issuer_to_the_token_endpoint_and_api_host() {
    let h = Harness::start(quick()).await;
    let base = h.fake.url();
    let (status, _, oidc, _) = send(h.client.get(h.url("/.well-known/openid-configuration"))).await;
    assert_eq!((status, &oidc["issuer"]), (StatusCode::OK, &json!(base)));
    assert_eq!(oidc["token_endpoint"], format!("{base}/auth/token"));
    assert_eq!(
        oidc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(oidc["scopes_supported"], json!(["openid"]));
    let tenant_id = payload(&h.bearer)["tenantId"].as_str().unwrap().to_owned();
    let path = format!("/.well-known/cxone-configuration?tenantId={tenant_id}");
    let (status, _, cxone, _) = send(h.client.get(h.url(&path))).await;
    assert_eq!(
        (status, &cxone["api_endpoint"]),
        (StatusCode::OK, &json!(base))
    );
    assert_eq!(
        (&cxone["private"], &cxone["area"], &cxone["tenantId"]),
        (&json!(false), &json!("na1"), &json!(tenant_id))
    );
    for unknown in ["?tenantId=11eb0000-0000-0000-0000-000000000000", ""] {
        let path = format!("/.well-known/cxone-configuration{unknown}");
        let (status, _, body, _) = send(h.client.get(h.url(&path))).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::NOT_FOUND, &json!("not_found"))
        );
    }
    h.fake.stop().await;
}

#[tokio::test]
async fn token_needs_the_app_with_basic_and_the_url_encoded_access_key() {
    let h = Harness::start(quick()).await;
    let cxone = FakeCxoneSettings::default();
    let app = basic(&cxone.client_id, &cxone.client_secret);
    let form = password_form(&cxone.access_key_id, &cxone.access_key_secret);
    assert!(form.ends_with("%3D"), "{form}");
    let (status, headers, body, _) = send(h.token(&app, form.clone())).await;
    assert_eq!(
        (status, headers["cache-control"].to_str().unwrap()),
        (StatusCode::OK, "no-store")
    );
    assert_eq!(
        (
            &body["token_type"],
            &body["expires_in"],
            &body["issued_token_type"]
        ),
        (
            &json!("Bearer"),
            &json!(3600),
            &json!("urn:ietf:params:oauth:token-type:access_token")
        )
    );
    let access = payload(body["access_token"].as_str().unwrap());
    assert_eq!(
        (&access["tenantId"], &access["icBUId"], &access["iss"]),
        (
            &json!(cxone.tenant_id),
            &json!(4_607_084),
            &json!(h.fake.url())
        )
    );
    assert_eq!(
        access["exp"].as_u64().unwrap() - access["iat"].as_u64().unwrap(),
        3600
    );
    assert_eq!(
        payload(body["id_token"].as_str().unwrap())["tenantId"],
        json!(cxone.tenant_id)
    );
    payload(body["refresh_token"].as_str().unwrap());
    assert_ne!(body["access_token"], json!(h.bearer));

    let (status, headers, body, _) =
        send(h.token(&basic("sandbox-app", "wrong"), form.clone())).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    assert!(body["error_description"].is_string());
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, body, _) = send(h.token("Bearer x", form)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let wrong_key = password_form(&cxone.access_key_id, "c2FuZGJveC1zZWNyZXQ");
    let (status, _, body, _) = send(h.token(&app, wrong_key)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert!(body["error_description"].is_string());
    let client_credentials = "grant_type=client_credentials".to_owned();
    let (status, _, body, _) = send(h.token(&app, client_credentials)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"})
        )
    );
    assert_eq!(h.fake.stats().token_requests, 6);
    h.fake.stop().await;
}

#[tokio::test]
async fn api_calls_need_a_bearer_it_issued_and_accept_json() {
    let h = Harness::start(quick()).await;
    let url = h.url(&format!("{API}/contacts/active"));
    let (status, headers, body, _) =
        send(h.client.get(&url).header("accept", "application/json")).await;
    assert_eq!(
        (
            status,
            headers["icstatusdescription"].to_str().unwrap(),
            &body["error_description"]
        ),
        (
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            &json!("Unauthorized")
        )
    );
    let (status, _, _, _) = send(h.client.get(&url).bearer_auth("eyJ.not.issued")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // reqwest's default `Accept: */*`, like curl's, does not ask for JSON.
    let (status, headers, _, text) = send(h.client.get(&url).bearer_auth(&h.bearer)).await;
    assert_eq!(
        (
            status,
            text.as_str(),
            headers["icstatusdescription"].to_str().unwrap()
        ),
        (
            StatusCode::NOT_ACCEPTABLE,
            "No known way to render data",
            "No known way to render data"
        )
    );
    // The API segment in any case, any vNN.0 version; anything else is not an API path.
    for path in [
        "/incontactapi/services/v12.0",
        "/InContactAPI/services/v2.0",
    ] {
        let request = h.client.get(h.url(&format!("{path}/contacts/active")));
        let request = request
            .bearer_auth(&h.bearer)
            .header("accept", "application/json");
        assert_eq!(send(request).await.0, StatusCode::NO_CONTENT, "{path}");
    }
    for path in [
        "/inContactAPI/services/v12.1",
        "/other/services/v12.0",
        "/inContactAPI/services/12.0",
    ] {
        let request = h.client.get(h.url(&format!("{path}/contacts/active")));
        let request = request
            .bearer_auth(&h.bearer)
            .header("accept", "application/json");
        assert_eq!(send(request).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        send(h.api(Method::GET, "/contacts/active")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.fake.stats().contact_lookups, 3);
    h.fake.stop().await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let h = Harness::start(crate::fake_tenant::FakeTenantSettings {
        token_lifetime_secs: 0,
        ..quick()
    })
    .await;
    assert_eq!(
        send(h.api(Method::GET, "/contacts/active")).await.0,
        StatusCode::UNAUTHORIZED
    );
    h.fake.stop().await;
}
