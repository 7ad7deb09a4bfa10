//! `koe ivr validate FILE`: a flow checked as koe checks it before publishing, from the command line.

use super::validate::{Context, validate};
use crate::config::Config;
use anyhow::Context as _;
use std::collections::BTreeSet;
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

/// What flows may refer to on this installation: languages with a TTS voice (`tts.voices`) and the
/// uploaded WAV prompts in `<data dir>/prompts/`.
pub fn context(config: &Config) -> Context {
    Context {
        tts_languages: config.tts.voices.keys().cloned().collect(),
        wav_prompts: wav_names(&config.data.dir.join("prompts")),
    }
}

/// The names (without `.wav`) of the WAV files in `dir`; none when it does not exist.
fn wav_names(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "wav"))
        .filter_map(|path| path.file_stem()?.to_str().map(String::from))
        .collect()
}
