//! The `koe` command line.

use clap::{Parser, Subcommand};
use koe::config::Config;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "koe",
    version,
    about = "koe (声): a voice gateway for a customer-support line"
)]
struct Cli {
    /// Configuration file (default: the embedded sip-config/koe.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: SIP, RTP, recording, live transcription, the HTTP API.
    Serve,
    /// Install and list Whisper models.
    Models(koe::asr::cli::ModelsArgs),
    /// Transcribe a WAV file (the accuracy reference for live transcription).
    Transcribe(koe::asr::cli::TranscribeArgs),
    /// Add accounts and set passwords (read from stdin).
    Users(koe::web::auth::UsersArgs),
    /// IVR flows: `koe ivr validate FILE`.
    Ivr(koe::ivr::cli::IvrArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, base) = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Serve => {
            init_logging();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(koe::serve::serve(config, &base))
        }
        Command::Models(args) => koe::asr::cli::models(&args, &config.asr),
        Command::Transcribe(args) => koe::asr::cli::transcribe(&args, &config.asr),
        Command::Users(args) => koe::web::auth::users_cli(&args, &config),
        Command::Ivr(args) => {
            // Warnings (a configured TTS voice that does not work here) go to stderr.
            init_logging();
            if !koe::ivr::cli::run(&args, &config)? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// `RUST_LOG` filters (default `info`); `KOE_LOG_JSON=1` writes one JSON object per line.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("KOE_LOG_JSON").is_ok_and(|v| v == "1") {
        builder.json().init();
    } else {
        builder.init();
    }
}
