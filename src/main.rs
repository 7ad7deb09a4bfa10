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
    /// Run the gateway: SIP, RTP, recording, the HTTP API and screens.
    Serve,
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
