//! Command line: `cxone-assist [--sandbox] [--config FILE]` and
//! `cxone-assist fake-tenant --listen ADDR`.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::{self, LoadOptions},
    fake_tenant::FakeTenant,
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
    /// Run only the fake tenant (for demos and benchmarks); knobs from `[sandbox.tenant]`.
    FakeTenant {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
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
    telemetry::init(&settings.log);

    let result = match cli.command {
        Some(Command::FakeTenant { listen }) => run_fake_tenant(listen, settings).await,
        None => match Application::build(settings).await {
            Ok(app) => app.run_until_stopped(shutdown::signal()).await,
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_fake_tenant(listen: SocketAddr, settings: config::Settings) -> anyhow::Result<()> {
    let fake = FakeTenant::start(listen, settings.sandbox.tenant).await?;
    tracing::info!(url = %fake.url(), "fake tenant listening");
    shutdown::signal().await;
    fake.stop().await;
    Ok(())
}
