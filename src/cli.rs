//! Command line: `cxone-assist [--sandbox] [--config FILE]` and
//! `cxone-assist fake-tenant --listen ADDR [--api cxone|tutorial]`.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::{self, LoadOptions},
    fake_tenant::{Dialect, FakeTenant},
    shutdown, telemetry, Application,
};

#[derive(Debug, Parser)]
#[command(name = "cxone-assist", version, about)]
pub struct Cli {
    /// Run against an embedded fake tenant: no credentials needed, nothing reaches a real
    /// CXone tenant.
    #[arg(long)]
    pub sandbox: bool,
    /// Settings file [default: config/default.toml when present].
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the OpenAPI document (the committed `openapi.json`).
    Openapi,
    /// Exit 0 when the service at URL answers 200; for container health checks (the image
    /// has no curl).
    Healthcheck {
        /// The liveness URL to probe.
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Run only the fake tenant (for demos and benchmarks); knobs from `[sandbox.tenant]`.
    FakeTenant {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// The API it speaks [default: `sandbox.tenant.dialect`, itself `tutorial` by default].
        #[arg(long, value_enum, value_name = "API")]
        api: Option<Dialect>,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    // These two need no configuration: they must work with an unset environment.
    match &cli.command {
        Some(Command::Openapi) => {
            print!("{}", crate::openapi::document());
            return ExitCode::SUCCESS;
        }
        Some(Command::Healthcheck { url }) => return healthcheck(url).await,
        _ => {}
    }
    let options = LoadOptions {
        config_file: cli.config,
        sandbox: cli.sandbox || matches!(cli.command, Some(Command::FakeTenant { .. })),
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = match config::load(&options, &env) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("cxone-assist: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = telemetry::init(&settings.log, &settings.otlp);

    let result = match cli.command {
        Some(Command::FakeTenant { listen, api }) => run_fake_tenant(listen, api, settings).await,
        Some(Command::Openapi | Command::Healthcheck { .. }) => Ok(()),
        None => run_service(settings).await,
    };
    if let Err(error) = &result {
        tracing::error!("{error:#}");
    }
    // Last: it writes out the log lines still queued, the one above included.
    telemetry.shutdown().await;
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn healthcheck(url: &str) -> ExitCode {
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
    let client = crate::tenant::HttpClient::new(&crate::tenant::HttpClientOptions {
        connect_timeout: TIMEOUT,
        pool_idle_timeout: TIMEOUT,
    });
    let healthy = match (client, url::Url::parse(url)) {
        (Ok(client), Ok(url)) => {
            let request = client.request(axum::http::Method::GET, url);
            (client.send(request, TIMEOUT).await).is_ok_and(|r| r.status.is_success())
        }
        _ => false,
    };
    if healthy {
        ExitCode::SUCCESS
    } else {
        eprintln!("cxone-assist: {url} is not healthy");
        ExitCode::FAILURE
    }
}

/// Runs the service until a stop signal; a signal during start-up ends it at once.
async fn run_service(settings: config::Settings) -> anyhow::Result<()> {
    let mut stop = Box::pin(shutdown::listen());
    let built = tokio::select! {
        built = Application::build(settings) => Some(built),
        () = &mut stop => None,
    };
    match built {
        Some(Ok(app)) => app.run_until_stopped(stop).await,
        Some(Err(error)) => Err(error),
        None => {
            tracing::info!("stopped during start-up");
            Ok(())
        }
    }
}

async fn run_fake_tenant(
    listen: SocketAddr,
    api: Option<Dialect>,
    settings: config::Settings,
) -> anyhow::Result<()> {
    let stop = shutdown::listen();
    let mut tenant = settings.sandbox.tenant;
    tenant.dialect = api.unwrap_or(tenant.dialect);
    let fake = FakeTenant::start(listen, tenant).await?;
    stop.await;
    fake.stop().await;
    Ok(())
}
