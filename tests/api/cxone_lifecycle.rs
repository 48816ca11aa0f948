//! The `cxone` dialect after delivery: active-contact correlation and withdrawing a prompt.

use std::time::Duration;

use serde_json::Value;
use wiremock::{
    matchers::{method, path},
    Mock, ResponseTemplate,
};

use crate::{cxone_tenant::*, helpers::*};

/// The delivered prompt's correlation, once it is no longer pending.
async fn correlation_of(app: &TestApp) -> Value {
    let prompt_id = app.deliver(&cxone_prompt()).await;
    app.wait_for_record(&prompt_id, |r| r["correlation"] != "pending")
        .await
}

#[tokio::test]
async fn a_live_contact_with_the_agent_is_correlated() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 7)).await;
    app.mount_active_contacts(active_contact(AGENT)).await;
    let record = correlation_of(&app).await;
    assert_eq!(record["correlation"], "correlated");
    assert_eq!(record["correlationDetail"], "Active", "the contact's state");
    assert_eq!(record["transcriptId"], Value::Null);
    let look_up = &app.api_requests(ACTIVE_PATH).await[0];
    assert_eq!(
        look_up.url.query(),
        Some(format!("contactId={CONTACT}").as_str())
    );
}

#[tokio::test]
async fn a_contact_no_longer_active_or_with_another_agent_fails() {
    for (answer, reason) in [
        (ResponseTemplate::new(204), "contact no longer active"),
        (active_contact("11111"), "contact is with agent 11111"),
    ] {
        let app = spawn_cxone_app().await;
        app.mount_issuer().await;
        app.mount_messages(message_result(true, 8)).await;
        app.mount_active_contacts(answer).await;
        let record = correlation_of(&app).await;
        assert_eq!(record["correlation"], "failed");
        assert_eq!(record["correlationDetail"], reason);
        assert_eq!(app.api_requests(ACTIVE_PATH).await.len(), 1, "no retry");
    }
}

#[tokio::test]
async fn a_5xx_contact_look_up_is_retried_until_it_matches() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 9)).await;
    Mock::given(method("GET"))
        .and(path(ACTIVE_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&app.tenant)
        .await;
    app.mount_active_contacts(active_contact(AGENT)).await;
    let record = correlation_of(&app).await;
    assert_eq!(record["correlation"], "correlated");
    assert_eq!(record["correlationAttempts"], 3);
}

const RETRACT_PATH: &str = "/inContactAPI/services/v34.0/agents/messages/5561";

async fn delete_prompt(app: &TestApp, prompt_id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/prompts/{prompt_id}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delivered_agent_message_is_withdrawn_once() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 5561)).await;
    Mock::given(method("DELETE"))
        .and(path(RETRACT_PATH))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.tenant)
        .await;
    let prompt_id = app.deliver(&cxone_prompt()).await;
    assert_eq!(app.record(&prompt_id).await["agentMessageId"], "5561");

    let first = delete_prompt(&app, &prompt_id).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert!(first["retractedAt"].is_string(), "{first}");
    let again = delete_prompt(&app, &prompt_id).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["retractedAt"], first["retractedAt"]);
    assert_eq!(app.api_requests(RETRACT_PATH).await.len(), 1, "one DELETE");
}

#[tokio::test]
async fn two_racing_withdrawals_send_one_delete() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 5561)).await;
    Mock::given(method("DELETE"))
        .and(path(RETRACT_PATH))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
        .mount(&app.tenant)
        .await;
    let prompt_id = app.deliver(&cxone_prompt()).await;
    let (a, b) = tokio::join!(
        delete_prompt(&app, &prompt_id),
        delete_prompt(&app, &prompt_id)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(app.api_requests(RETRACT_PATH).await.len(), 1);
}

#[tokio::test]
async fn what_cannot_be_withdrawn_is_a_409_and_an_unknown_id_a_404() {
    // A failed prompt (the tenant refused it and its fallback).
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(false, 0)).await;
    let response = app.post_prompt(&cxone_prompt()).await;
    assert_eq!(response.status(), 502);
    let failed: Value = response.json().await.unwrap();
    let refused = delete_prompt(&app, failed["promptId"].as_str().unwrap()).await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "not_retractable");
    assert_eq!(delete_prompt(&app, "prompt_nowhere").await.status(), 404);

    // The tutorial dialect has no withdrawal.
    let tutorial = spawn_app().await;
    tutorial.mount_tenant(delivered()).await;
    let prompt_id = tutorial.deliver(&prompt_body()).await;
    let refused = delete_prompt(&tutorial, &prompt_id).await;
    assert_eq!(refused.status(), 409);
    assert!(tutorial
        .tenant
        .received_requests()
        .await
        .unwrap()
        .iter()
        .all(|r| r.method.as_str() != "DELETE"));
}

#[tokio::test]
async fn a_custom_event_cannot_be_withdrawn() {
    let app = spawn_cxone_app_with(|s| {
        s.tenant.cxone.delivery = cxone_assist::config::CxoneDelivery::CustomEvent;
    })
    .await;
    app.mount_issuer().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.tenant)
        .await;
    let prompt_id = app.deliver(&cxone_prompt()).await;
    let refused = delete_prompt(&app, &prompt_id).await;
    assert_eq!(refused.status(), 409);
}

/// An API host that stops answering is discovered again: the next try goes where the
/// issuer's CXone discovery document now points.
#[tokio::test]
async fn an_api_host_that_stops_answering_is_discovered_again() {
    let app = spawn_cxone_app().await;
    // A port nothing listens on (wiremock keeps its dropped servers running for reuse).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_uri = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    Mock::given(method("GET"))
        .and(path("/.well-known/cxone-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "private": false, "ui_endpoint": "https://na1.example", "auth_endpoint": "https://na1.example",
            "domain": "niceincontact.com", "uhDomain": "nice-incontact.com",
            "api_endpoint": gone_uri, "tenantId": TENANT_ID,
        })))
        .up_to_n_times(1)
        .mount(&app.auth)
        .await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 4242)).await;

    let response = app.post_prompt(&cxone_prompt()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["attempt"], 2,
        "the first try met the host that was gone"
    );
    let discoveries = (app.auth.received_requests().await.unwrap().iter())
        .filter(|r| r.url.path() == "/.well-known/cxone-configuration")
        .count();
    assert_eq!(discoveries, 2);
    assert_eq!(app.api_requests(MESSAGES_PATH).await.len(), 1);
}
