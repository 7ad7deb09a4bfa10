//! `koe ivr validate FILE`: a flow checked as koe checks it before publishing, from the command line.

use super::prompts::PromptLibrary;
use super::validate::{Context, validate};
use crate::config::Config;
use crate::tts::Tts;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct IvrArgs {
    #[command(subcommand)]
    pub command: IvrCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum IvrCommand {
    /// Check a flow file (schema, references, reachability, ends, menus, prompts, languages) and list
    /// every problem; exits 1 when there is one.
    Validate {
        file: PathBuf,
        /// Print the problems as a JSON array of {node, path, message} (`[]` when the flow is valid).
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command; whether the flow is valid (`Err`: the file could not be read or is not JSON).
pub fn run(args: &IvrArgs, config: &Config) -> anyhow::Result<bool> {
    match &args.command {
        IvrCommand::Validate { file, json } => validate_file(file, *json, &context(config)),
    }
}

fn validate_file(file: &Path, json: bool, ctx: &Context) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
    let result = validate(&value, ctx);
    let issues = result.as_ref().err().map(Vec::as_slice).unwrap_or_default();
    if json {
        println!("{}", serde_json::to_string_pretty(issues)?);
    } else {
        issues.iter().for_each(|issue| println!("{issue}"));
    }
    match &result {
        Ok(flow) if !json => println!("{}: valid ({} nodes)", file.display(), flow.nodes.len()),
        Ok(_) => {}
        Err(issues) => eprintln!("{}: {} problem(s)", file.display(), issues.len()),
    }
    Ok(result.is_ok())
}

/// What flows may refer to on this installation, as a publish sees it: the languages whose TTS voice
/// works here (each configured voice is probed) and the uploaded prompts in `<data dir>/prompts/`.
pub fn context(config: &Config) -> Context {
    let data = &config.data.dir;
    Context {
        tts_languages: Tts::from_config(&config.tts, data.join("tts")).languages(),
        wav_prompts: PromptLibrary::new(data.join("prompts")).names(),
    }
}
