//! The real binary as an operator runs it: start-up errors, logs, signals.

use std::{process::Stdio, time::Duration};

use nix::{sys::signal, unistd::Pid};
use serde_json::Value;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::{helpers::*, ledgers::temp_ledger, running::*};

#[test]
fn missing_credentials_exit_1_naming_every_variable() {
    let output = command().output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "cxone-assist: missing environment variables: CXONE_TENANT_URL, CXONE_CLIENT_ID, \
         CXONE_CLIENT_SECRET (or CXONE_CLIENT_SECRET_FILE)"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn the_cxone_dialect_exits_1_naming_its_missing_variables() {
    let output = command()
        .env("CXONE_API", "cxone")
        .env("CXONE_CLIENT_ID", "app")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "cxone-assist: missing environment variables: \
         CXONE_CLIENT_SECRET (or CXONE_CLIENT_SECRET_FILE), \
         CXONE_ACCESS_KEY_ID (or CXONE_ACCESS_KEY_ID_FILE), \
         CXONE_ACCESS_KEY_SECRET (or CXONE_ACCESS_KEY_SECRET_FILE)"
    );
}

#[test]
fn an_invalid_setting_is_a_startup_error_naming_it() {
    let output = command()
        .args(["--sandbox"])
        .env("RATE_LIMIT_BURST", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("RATE_LIMIT_BURST"), "{stderr}");

    let output = command()
        .env("CXONE_TENANT_URL", "http://tenant.example.com")
        .env("CXONE_CLIENT_ID", "id")
        .env("CXONE_CLIENT_SECRET", "secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("CXONE_TENANT_URL") && stderr.contains("https"),
        "{stderr}"
    );
}

#[tokio::test]
async fn fake_tenant_runs_alone_and_stops_on_sigterm() {
    let mut child = command()
        .args(["fake-tenant", "--listen", "127.0.0.1:0"])
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    let address = wait_for_log_address(&lines, "fake tenant listening").await;
    let stats: Value = reqwest::get(format!("http://{address}/_fake/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["tokenRequests"], 0);
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test]
async fn fake_tenant_api_flag_chooses_the_cxone_dialect() {
    let mut child = command()
        .args(["fake-tenant", "--listen", "127.0.0.1:0", "--api", "cxone"])
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    let address = wait_for_log_address(&lines, "fake tenant listening").await;
    let discovery = format!("http://{address}/.well-known/openid-configuration");
    let document: Value = reqwest::get(discovery).await.unwrap().json().await.unwrap();
    assert_eq!(
        document["token_endpoint"],
        format!("http://{address}/auth/token")
    );
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn healthcheck_exits_0_only_for_a_healthy_service() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = command()
        .args(["healthcheck", "--url", &format!("http://{closed}/healthz")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let (tenant, auth) = tenant_and_token_endpoint().await;
    // A 401 forces a refresh; a 503 forces retries: the paths that log the most.
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&tenant)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&tenant)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&tenant)
        .await;

    const API_KEY: &str = "inbound-api-key-5e6f7a8b";
    // At trace level: every log line the service can write, to look for secrets in.
    let env = [("INBOUND_API_KEYS", API_KEY), ("RUST_LOG", "trace")];
    let running = Running::start_with(&tenant, &auth, &env).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/simulate-prompt", running.address);
    let refused = client
        .post(&url)
        .bearer_auth("wrong-key-0000000000")
        .json(&prompt_body());
    assert_eq!(refused.send().await.unwrap().status(), 401);
    let response = client
        .post(&url)
        .bearer_auth(API_KEY)
        .json(&prompt_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A healthy service passes the container's health check.
    let healthz = format!("http://{}/healthz", running.address);
    let check = command()
        .args(["healthcheck", "--url", &healthz])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0));
    running.terminate();
    let (code, logs) = running.wait();
    assert_eq!(code, Some(0));
    assert!(!logs.contains(API_KEY), "inbound API key leaked:\n{logs}");
    assert!(
        !logs.contains("wrong-key-0000000000"),
        "a presented key leaked:\n{logs}"
    );
    // The request's log line names its prompt (and was written out before exit).
    assert!(
        logs.contains("prompt_int_98765432_"),
        "logs were captured:\n{logs}"
    );
    assert!(
        !logs.contains(CLIENT_SECRET),
        "client secret leaked:\n{logs}"
    );
    assert!(!logs.contains(ACCESS_TOKEN), "access token leaked:\n{logs}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let (tenant, auth) = tenant_delivering_after(Duration::from_millis(800)).await;

    let running = Running::start(&tenant, &auth).await;
    let url = format!("http://{}/simulate-prompt", running.address);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&prompt_body())
            .send()
            .await
    });
    // Wait until the prompt is at the tenant, then ask the service to stop.
    for _ in 0..100 {
        if !tenant.received_requests().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.terminate();

    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request is answered");
    assert_eq!(response.status(), 200);
    let (code, logs) = running.wait();
    assert_eq!(code, Some(0), "{logs}");
    assert!(logs.contains("SIGTERM received"), "{logs}");
}

#[tokio::test]
async fn after_sigkill_mid_load_every_answered_prompt_has_its_record() {
    let (tenant, auth) = tenant_delivering_after(Duration::from_millis(30)).await;
    let ledger = temp_ledger();
    let env = [
        ("DATABASE_URL", ledger.as_str()),
        ("RATE_LIMIT_BURST", "100000"),
        ("RATE_LIMIT_PER_SECOND", "100000"),
    ];

    let running = Running::start_with(&tenant, &auth, &env).await;
    let url = format!("http://{}/simulate-prompt", running.address);
    let client = reqwest::Client::new();
    let load = async {
        // Ten clients sending prompts back to back until the process dies under them.
        let clients = (0..10).map(|c| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let mut answered = Vec::new();
                for n in 0..200 {
                    let mut body = prompt_body();
                    body["interactionId"] = serde_json::json!(format!("int_{c}_{n}"));
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 200 => {
                            let body: Value = r.json().await.unwrap_or_default();
                            if let Some(id) = body["promptId"].as_str() {
                                answered.push(id.to_owned());
                            }
                        }
                        _ => break,
                    }
                }
                answered
            }
        });
        futures::future::join_all(clients).await
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        signal::kill(
            Pid::from_raw(running.child.id() as i32),
            signal::Signal::SIGKILL,
        )
        .unwrap();
    };
    let (answered, ()) = tokio::join!(load, kill);
    let answered: Vec<String> = answered.into_iter().flatten().collect();
    let (code, _) = running.wait();
    assert_eq!(code, None, "killed by a signal");
    assert!(
        answered.len() > 10,
        "the load ran before the kill: {}",
        answered.len()
    );

    let restarted = Running::start_with(&tenant, &auth, &env).await;
    for id in &answered {
        let response = client
            .get(format!("http://{}/prompts/{id}", restarted.address))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{id} was answered 200 but has no record"
        );
    }
    restarted.terminate();
    restarted.wait();
}

#[tokio::test]
async fn traces_are_exported_over_otlp_when_configured() {
    let (tenant, auth) = tenant_delivering_after(Duration::ZERO).await;
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let endpoint = collector.uri();
    let running = Running::start_with(
        &tenant,
        &auth,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    )
    .await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/simulate-prompt", running.address))
        .json(&prompt_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    running.terminate();
    let (code, logs) = running.wait();
    assert_eq!(code, Some(0), "{logs}");

    let exports = collector.received_requests().await.unwrap();
    assert!(!exports.is_empty(), "spans were flushed at shutdown");
    assert_eq!(exports[0].headers["content-type"], "application/x-protobuf");
    assert!(!exports[0].body.is_empty());
}
