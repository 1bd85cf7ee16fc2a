//! `gaia`: generate and manage game assets from the command line.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error[internal]: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(exit_status(&e))
        }
    }
}

/// The exit status: the C ABI's status number of the error code, so scripts
/// can tell failures apart.
fn exit_status(error: &gaia::Error) -> u8 {
    u8::try_from(error.code().status()).unwrap_or(1)
}

async fn run(cli: Cli, out: &Output) -> gaia::Result<()> {
    let context = commands::Context::new(&cli)?;
    match cli.command {
        Command::Generate(args) => commands::generate::run(&context, args, out).await,
        Command::Jobs(args) => commands::jobs::run(&context, args, out).await,
        Command::Assets(args) => commands::assets::run(&context, args, out).await,
        Command::Costs(args) => commands::costs::run_costs(&context, args, out).await,
        Command::Budget(args) => commands::costs::run_budget(&context, args, out).await,
        Command::Providers => commands::providers(&context, out).await,
        Command::Worker(args) => commands::worker(&context, args, out).await,
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAIA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
