//! `AsrEngine`: what the rest of koe holds. It loads the configured model(s) once, runs one
//! `LocalTranscriber` pool per model, and opens a stream per call and channel on the pool of the
//! call's language.

use super::engine::{LocalTranscriber, Transcriber};
use super::models;
use super::policy::PolicyConfig;
use super::stream::{AsrStream, FinalTranscript, StreamAt, StreamContext};
use super::whisper::Model;
use crate::config::AsrConfig;
use crate::events::{Channel, EventBus};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct AsrEngine {
    /// Pool per model name.
    pools: HashMap<String, Arc<dyn Transcriber>>,
    config: AsrConfig,
}

impl AsrEngine {
    /// Loads the default model and every per-language model that is installed. The default model must
    /// be there; a missing per-language one is reported and that language falls back to an error at
    /// `open_stream`.
    pub fn new(config: &AsrConfig, metrics: Arc<Metrics>) -> anyhow::Result<AsrEngine> {
        let mut pools: HashMap<String, Arc<dyn Transcriber>> = HashMap::new();
        let mut names: Vec<&String> = config.models.values().collect();
        names.insert(0, &config.model);
        for name in names {
            if pools.contains_key(name) {
                continue;
            }
            let path = models::resolve(&config.models_dir, name);
            if !path.exists() && name != &config.model {
                tracing::warn!(
                    "model {name} for {:?} is not installed",
                    language_of(config, name)
                );
                continue;
            }
            let model = Arc::new(Model::load(&path)?);
            let pool = LocalTranscriber::new(
                model,
                config.workers,
                config.threads,
                config.queue,
                metrics.clone(),
            )?;
            pools.insert(name.clone(), Arc::new(pool));
        }
        Ok(AsrEngine {
            pools,
            config: config.clone(),
        })
    }

    /// An engine over any transcriber (a remote worker, or a test double of the real pool).
    pub fn with_transcriber(config: &AsrConfig, transcriber: Arc<dyn Transcriber>) -> AsrEngine {
        let mut pools = HashMap::new();
        pools.insert(config.model.clone(), transcriber);
        AsrEngine {
            pools,
            config: config.clone(),
        }
    }

    /// Starts transcribing one channel of a call in `language`. Must be called inside a tokio runtime.
    pub fn open_stream(
        &self,
        call_id: &str,
        channel: Channel,
        language: &str,
        events: Arc<EventBus>,
        finals: mpsc::UnboundedSender<FinalTranscript>,
    ) -> anyhow::Result<AsrStream> {
        self.open_stream_at(call_id, channel, language, events, finals, StreamAt::default())
    }

    /// As [`Self::open_stream`], for a stream opened during the call (an agent's leg, a stream reopened
    /// in another language): its transcripts carry the call's times and the channel's utterance ids.
    pub fn open_stream_at(
        &self,
        call_id: &str,
        channel: Channel,
        language: &str,
        events: Arc<EventBus>,
        finals: mpsc::UnboundedSender<FinalTranscript>,
        at: StreamAt,
    ) -> anyhow::Result<AsrStream> {
        let model = super::cli::model_for(&self.config, language);
        let pool = self
            .pools
            .get(&model)
            .ok_or_else(|| anyhow::anyhow!("model {model} for language {language} is not installed"))?;
        let ctx = StreamContext {
            call_id: call_id.to_string(),
            channel,
            language: language.to_string(),
            events,
            finals,
            at,
        };
        Ok(AsrStream::open(pool.clone(), ctx, PolicyConfig::default()))
    }
}

fn language_of<'a>(config: &'a AsrConfig, model: &str) -> Vec<&'a String> {
    config
        .models
        .iter()
        .filter(|(_, m)| *m == model)
        .map(|(l, _)| l)
        .collect()
}
