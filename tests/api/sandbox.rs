//! `--sandbox`: the whole pipeline against the embedded fake tenant, no credentials.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use cxone_assist::{clock::SystemClock, config::Settings, Application};
use serde_json::{json, Value};

use crate::helpers::prompt_body;

async fn spawn_sandbox(
    configure: impl FnOnce(&mut Settings),
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut settings = Settings::default();
    settings.sandbox.enabled = true;
    settings.server.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.sandbox.tenant.latency_ms = 0;
    settings.sandbox.tenant.transcript_delay_ms = 50;
    settings.correlation.backoff_base_ms = 20;
    settings.delivery.backoff_base_ms = 5;
    settings.correlation.poll_interval_ms = 20;
    settings.store.database_url = crate::ledgers::temp_ledger();
    configure(&mut settings);
    let app = Application::build_with_clock(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let address = app.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    (address, tx)
}

#[tokio::test]
async fn the_tutorial_request_is_refused_and_a_positive_one_delivered_and_correlated() {
    let (address, _stop) = spawn_sandbox(|_| {}).await;
    let client = reqwest::Client::new();
    let url = format!("http://{address}/simulate-prompt");

    let mut tutorial = prompt_body();
    tutorial["sentiment"] = json!(-0.45);
    let response = client.post(&url).json(&tutorial).send().await.unwrap();
    assert_eq!(response.status(), 403);

    let response = client.post(&url).json(&prompt_body()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let prompt_id = body["promptId"].as_str().unwrap();

    let mut record = Value::Null;
    for _ in 0..100 {
        record = client
            .get(format!("http://{address}/prompts/{prompt_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if record["correlation"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(record["correlation"], "correlated");
    assert_eq!(record["transcriptId"], "tr_int_98765432");
}

#[tokio::test]
async fn the_sandbox_failure_knob_shows_retries_and_fallback() {
    let (address, _stop) = spawn_sandbox(|s| s.sandbox.tenant.failure_rate = 1.0).await;
    let response = reqwest::Client::new()
        .post(format!("http://{address}/simulate-prompt"))
        .json(&prompt_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_failed");
    let record: Value = reqwest::get(format!(
        "http://{address}/prompts/{}",
        body["promptId"].as_str().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        6,
        "three primary and three fallback attempts"
    );
    assert!(attempts.iter().all(|a| a["status"] == 503));
}

/// `--sandbox` with `CXONE_API=cxone`: the CXone adapter against the fake in CXone's dialect,
/// from discovery to the withdrawal of the agent message.
#[tokio::test]
async fn the_cxone_sandbox_delivers_an_agent_message_correlates_and_withdraws_it() {
    let (address, _stop) =
        spawn_sandbox(|s| s.tenant.api = cxone_assist::config::TenantApi::Cxone).await;
    let client = reqwest::Client::new();
    let mut body = prompt_body();
    body["interactionId"] = json!("7700123456");
    body["agentId"] = json!("39260750");
    let response = client
        .post(format!("http://{address}/simulate-prompt"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let prompt_id = body["promptId"].as_str().unwrap();
    let record_url = format!("http://{address}/prompts/{prompt_id}");

    let mut record = Value::Null;
    for _ in 0..100 {
        record = client
            .get(&record_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if record["correlation"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(record["correlation"], "correlated", "{record}");
    assert_eq!(record["correlationDetail"], "Active");
    assert!(record["agentMessageId"].is_string(), "{record}");

    let withdrawn = client.delete(&record_url).send().await.unwrap();
    assert_eq!(withdrawn.status(), 200);
    let withdrawn: Value = withdrawn.json().await.unwrap();
    assert!(withdrawn["retractedAt"].is_string(), "{withdrawn}");
}
