//! What an operator sees of the running binary: its log events and its readiness during
//! shutdown.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use wiremock::{
    matchers::{method, path, path_regex},
    Mock, ResponseTemplate,
};

use crate::{helpers::*, ledgers::temp_ledger, running::*};

/// The JSON log events collected so far.
fn events(running: &Running) -> Vec<Value> {
    running
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test]
async fn readiness_turns_503_on_sigterm_while_liveness_stays_200() {
    let (tenant, auth) = tenant_delivering_after(Duration::ZERO).await;
    let env = [("SHUTDOWN_DRAIN_DELAY_MS", "1500")];
    let running = Running::start_with(&tenant, &auth, &env).await;
    let client = reqwest::Client::new();
    let readyz = format!("http://{}/readyz", running.address);
    let healthz = format!("http://{}/healthz", running.address);
    assert_eq!(client.get(&readyz).send().await.unwrap().status(), 200);

    running.terminate();
    let signalled = Instant::now();
    let mut not_ready = None;
    while signalled.elapsed() < Duration::from_secs(1) {
        let response = client.get(&readyz).send().await.unwrap();
        if response.status() == 503 {
            not_ready = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = not_ready.expect("readiness turned 503 within the drain delay");
    assert_eq!(body["status"], "stopping", "{body}");
    // Still serving: the load balancer has time to notice before connections are refused.
    assert_eq!(client.get(&healthz).send().await.unwrap().status(), 200);

    let (code, logs) = running.wait();
    assert_eq!(code, Some(0), "{logs}");
}

#[tokio::test]
async fn a_request_s_log_lines_carry_its_id_and_correlation_is_one_event() {
    let (tenant, auth) = tenant_and_token_endpoint().await;
    // A 503 first, so the request logs a retry as well as its access line.
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
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v2/interactions/[^/]+/transcripts$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "tr_77"})))
        .mount(&tenant)
        .await;

    let running = Running::start(&tenant, &auth).await;
    let response = reqwest::Client::new()
        .post(format!("http://{}/simulate-prompt", running.address))
        .header("x-request-id", "req-logs-0042")
        .json(&prompt_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let prompt_id = body["promptId"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let correlation = loop {
        let found = events(&running)
            .into_iter()
            .find(|e| e["target"] == "correlation" && e["prompt_id"] == prompt_id.as_str());
        if let Some(event) = found {
            break event;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no correlation event"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(correlation["transcript_id"], "tr_77");
    assert_eq!(correlation["interaction_id"], "int_98765432");
    assert_eq!(correlation["agent_id"], "agt_12345678");
    assert_eq!(correlation["attempts"], 1);

    let retry = events(&running)
        .into_iter()
        .find(|e| e["message"] == "retrying delivery")
        .expect("the retry was logged");
    assert_eq!(retry["span"]["request_id"], "req-logs-0042", "{retry}");
    assert_eq!(retry["prompt_id"], prompt_id.as_str());
    let access = events(&running)
        .into_iter()
        .filter(|e| e["span"]["request_id"] == "req-logs-0042")
        .count();
    assert!(access >= 2, "the retry and the access line carry the id");
    let line = events(&running)
        .into_iter()
        .find(|e| {
            e["message"] == "finished processing request"
                && e["span"]["request_id"] == "req-logs-0042"
        })
        .expect("the request has an access line");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_us"].is_u64(), "{line}");
    running.terminate();
    running.wait();
}

#[tokio::test]
async fn a_sandbox_start_says_nothing_reaches_a_real_tenant_and_auth_is_off() {
    let mut child = command()
        .arg("--sandbox")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("DATABASE_URL", temp_ledger())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    let address = wait_for_log_address(&lines, "listening").await;
    let running = Running {
        child,
        lines,
        address,
    };
    let warnings: Vec<String> = events(&running)
        .into_iter()
        .filter(|e| e["level"] == "WARN")
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("nothing reaches a real CXone tenant")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|m| m.contains("inbound auth off")),
        "{warnings:?}"
    );
    running.terminate();
    let (code, _) = running.wait();
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn sigterm_during_start_up_stops_at_once_before_anything_listens() {
    // A "database" that accepts connections and never answers: start-up waits on it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let database = format!("postgres://ledger@{}/ledger", silent.local_addr().unwrap());
    let mut child = command()
        .env("CXONE_TENANT_URL", "http://127.0.0.1:9")
        .env("CXONE_CLIENT_ID", "test-client")
        .env("CXONE_CLIENT_SECRET", CLIENT_SECRET)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("DATABASE_URL", &database)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    // Signal once the process has its SIGTERM handler (a bit in /proc's caught-signals mask),
    // while it is still waiting on the ledger.
    let started = Instant::now();
    while !catches_sigterm(child.id()) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no SIGTERM handler"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(0));
    std::thread::sleep(Duration::from_millis(100));
    let logs = lines.lock().unwrap().join("\n");
    assert!(
        !logs.contains("\"listening\""),
        "bound before the ledger opened:\n{logs}"
    );
    drop(silent);
}

/// Whether process `pid` has a handler for SIGTERM (signal 15: bit 14 of `SigCgt`).
fn catches_sigterm(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << 14) != 0)
}
