//! The `credo` command line: parses arguments (clap) and calls the library.
//! No business logic lives here; exit codes mean 0 ok, 1 findings or failed
//! checks, 2 usage or input errors.

mod datasets;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "credo", version, about = "Rules engine for differentiated credit supervision")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate, check and summarise datasets.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
}

/// What a command reports back: its exit status.
pub enum Outcome {
    Ok,
    /// Checks ran and found problems (exit 1).
    Findings,
}

/// An error for the user: printed once, exit 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl<E: std::fmt::Display> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Datasets(c) => datasets::run(c),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(CliError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// A progress bar on stderr for long work; hidden when stderr is not a
/// terminal so logs and tests stay clean.
pub(crate) fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}
