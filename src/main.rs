use std::process::ExitCode;

use clap::Parser;

// mimalloc's thread-local free lists suit many small, short-lived allocations spread over
// worker threads (headers, JSON, futures); see BENCHMARKS.md for what it changed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    cxone_assist::cli::run(cxone_assist::cli::Cli::parse()).await
}
