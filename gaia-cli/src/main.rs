//! `gaia`: generate and manage game assets from the command line.

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;
use gaia::Error;

use args::{Cli, Command};
use output::Output;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    init_tracing(cli.verbose);
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(
                &out,
                &Error::Internal(format!("cannot start the runtime: {e}")),
            );
        }
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&out, &e),
    }
}

fn fail(out: &Output, error: &Error) -> ExitCode {
    out.error(error);
    ExitCode::from(exit_status(error))
}

/// A command line clap cannot read fails as `invalid_request`, in the shape
/// of every other failure (its usage hint follows in text); `--help` and
/// `--version` print as usual.
fn argument_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    // Parsing failed, so `--json` is looked for by hand.
    let out = Output::new(std::env::args_os().any(|arg| arg == "--json"));
    let rendered = error.render().to_string();
    let (message, hint) = match error.kind() {
        // `gaia jobs`: the rendering is the command's help.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            ("a subcommand is needed", rendered.as_str())
        }
        _ => {
            let (first, hint) = rendered.split_once('\n').unwrap_or((&rendered, ""));
            (first.trim().trim_start_matches("error:").trim(), hint)
        }
    };
    let code = fail(&out, &Error::invalid("arguments", message));
    out.note(hint.trim());
    code
}

/// The exit status: the C ABI's status number of the error code, so scripts
/// can tell failures apart.
fn exit_status(error: &Error) -> u8 {
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
