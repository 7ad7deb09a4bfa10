//! The `koe` command line.

use clap::{Parser, Subcommand};
use koe::config::Config;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "koe", version, about = "koe (声): a voice gateway")]
struct Cli {
    /// Configuration file (default: the embedded sip-config/koe.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install and list Whisper models.
    Models(koe::asr::cli::ModelsArgs),
    /// Transcribe a WAV file.
    Transcribe(koe::asr::cli::TranscribeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = Config::load(cli.config.as_deref(), std::env::vars())
        .map_err(anyhow::Error::from)
        .and_then(|(config, _)| match cli.command {
            Command::Models(args) => koe::asr::cli::models(&args, &config.asr),
            Command::Transcribe(args) => koe::asr::cli::transcribe(&args, &config.asr),
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
