//! The real binary as a child process, for the tests that run it as an operator would.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::{sys::signal, unistd::Pid};
use serde_json::Value;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer,
};

use crate::{helpers::*, ledgers::temp_ledger};

const BIN: &str = env!("CARGO_BIN_EXE_cxone-assist");

/// A command with a clean environment, run from an empty directory so no config file is
/// picked up by accident.
pub fn command() -> Command {
    let dir = std::env::temp_dir().join(format!("cxone-assist-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new(BIN);
    command.env_clear().current_dir(dir);
    command
}

/// An empty tenant and a token endpoint handing out hour-long tokens.
pub async fn tenant_and_token_endpoint() -> (MockServer, MockServer) {
    let tenant = MockServer::start().await;
    let auth = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_response(3600))
        .mount(&auth)
        .await;
    (tenant, auth)
}

/// A tenant (and token endpoint) that accepts every prompt after `delay`.
pub async fn tenant_delivering_after(delay: Duration) -> (MockServer, MockServer) {
    let (tenant, auth) = tenant_and_token_endpoint().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered().set_delay(delay))
        .mount(&tenant)
        .await;
    (tenant, auth)
}

/// The service as a child process with its log lines collected.
pub struct Running {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    pub address: SocketAddr,
}

impl Running {
    pub async fn start(tenant: &MockServer, auth: &MockServer) -> Running {
        Self::start_with(tenant, auth, &[]).await
    }

    pub async fn start_with(
        tenant: &MockServer,
        auth: &MockServer,
        env: &[(&str, &str)],
    ) -> Running {
        let mut child = command()
            .env("CXONE_TENANT_URL", tenant.uri())
            .env("CXONE_TOKEN_URL", format!("{}{TOKEN_PATH}", auth.uri()))
            .env("CXONE_CLIENT_ID", "test-client")
            .env("CXONE_CLIENT_SECRET", CLIENT_SECRET)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            // Each run its own ledger: processes racing one file's migrations would stall.
            .env("DATABASE_URL", temp_ledger())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = collect_lines(&mut child);
        let address = wait_for_log_address(&lines, "listening").await;
        Running {
            child,
            lines,
            address,
        }
    }

    pub fn terminate(&self) {
        signal::kill(
            Pid::from_raw(self.child.id() as i32),
            signal::Signal::SIGTERM,
        )
        .unwrap();
    }

    pub fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        // Let the reader threads take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.lines.lock().unwrap().join("\n"))
    }
}

/// Gathers a child's stdout and stderr lines as they arrive.
pub fn collect_lines(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }
    lines
}

/// The `addr` field of the JSON log event with `message`.
pub async fn wait_for_log_address(lines: &Arc<Mutex<Vec<String>>>, message: &str) -> SocketAddr {
    for _ in 0..600 {
        let found = lines.lock().unwrap().iter().find_map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            (event["message"] == message).then(|| event["addr"].as_str()?.parse().ok())?
        });
        if let Some(address) = found {
            return address;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "service did not start: {}",
        lines.lock().unwrap().join("\n")
    );
}
