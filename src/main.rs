use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    cxone_assist::cli::run(cxone_assist::cli::Cli::parse()).await
}
