//! Per call and channel: 8 kHz audio from the media path → 16 kHz → VAD → `Policy` → decodes on the
//! shared engine → `Transcript` events, and finals to the call layer.
//!
//! `AsrStream::push` only copies the frame into an unbounded channel, so the media path never waits on
//! the transcriber; everything else runs in the stream's own task.

use super::audio::StreamUpsampler;
use super::engine::{Job, JobOutcome, Transcriber};
use super::policy::{Action, Policy, PolicyConfig};
use crate::events::{Channel, EventBus, EventKind, TranscriptKind};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A final transcript: the same row the store keeps.
pub use crate::store::TranscriptRow as FinalTranscript;

/// What a stream needs besides its audio.
pub struct StreamContext {
    pub call_id: String,
    pub channel: Channel,
    pub language: String,
    pub events: Arc<EventBus>,
    pub finals: mpsc::UnboundedSender<FinalTranscript>,
    /// Where the stream's audio starts in the call, and the channel's utterance numbering.
    pub at: StreamAt,
}

/// Where a stream sits in its call: a stream opened during the call (an agent's leg, the caller's in
/// another language) gives its times in the call's time and goes on with the channel's utterance ids.
#[derive(Clone, Default)]
pub struct StreamAt {
    /// Where the stream's audio starts in the call (ms).
    pub offset_ms: u64,
    pub ids: UtteranceIds,
}

/// Utterance ids unique over one channel of a call however many streams it has had, since the store
/// and the screens key utterances by them. Counts from 1.
#[derive(Clone, Default)]
pub struct UtteranceIds(Arc<AtomicU64>);

impl UtteranceIds {
    fn take(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

enum Msg {
    Audio(Vec<i16>),
    Finish,
}

/// The handle the call task holds for one channel's transcription.
pub struct AsrStream {
    tx: mpsc::UnboundedSender<Msg>,
    task: JoinHandle<()>,
}

/// Stream ids for the engine's per-stream coalescing.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// earshot's frame: 16 ms at 16 kHz.
const VAD_FRAME: usize = 256;
/// earshot score above which a frame is voice.
const VAD_THRESHOLD: f32 = 0.5;

impl AsrStream {
    /// Starts the stream's task; must be called inside a tokio runtime.
    pub fn open(transcriber: Arc<dyn Transcriber>, ctx: StreamContext, policy: PolicyConfig) -> AsrStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(transcriber, ctx, policy, rx));
        AsrStream { tx, task }
    }

    /// Hands 20 ms (or any amount) of 8 kHz audio to the stream. Never blocks.
    pub fn push(&mut self, pcm_8k: &[i16]) {
        let _ = self.tx.send(Msg::Audio(pcm_8k.to_vec()));
    }

    /// Ends the stream: the utterance in progress is finalised, and this returns once every final
    /// has been emitted.
    pub async fn finish(self) {
        let _ = self.tx.send(Msg::Finish);
        let _ = self.task.await;
    }
}

/// A decode's answer: utterance, kind, samples decoded, text.
type Answer = (u64, TranscriptKind, usize, Option<String>);
type InFlight = FuturesUnordered<std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>>;

async fn run(
    transcriber: Arc<dyn Transcriber>,
    ctx: StreamContext,
    policy_cfg: PolicyConfig,
    mut rx: mpsc::UnboundedReceiver<Msg>,
) {
    let stream_id = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    let mut policy = Policy::new(policy_cfg);
    let mut upsampler = match StreamUpsampler::new() {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(call_id = %ctx.call_id, "asr stream cannot start: {e}");
            return;
        }
    };
    let mut vad = earshot::Detector::default();
    let mut pcm16 = Vec::new();
    let mut inflight: InFlight = FuturesUnordered::new();
    let mut actions = Vec::new();
    // The policy's utterance ids → the channel's.
    let mut ids = std::collections::HashMap::new();
    let mut open = true;
    loop {
        if !open && inflight.is_empty() {
            break;
        }
        tokio::select! {
            msg = rx.recv(), if open => match msg {
                Some(Msg::Audio(pcm)) => {
                    if let Err(e) = upsampler.push(&pcm, &mut pcm16) {
                        tracing::warn!(call_id = %ctx.call_id, "asr resampler: {e}");
                    }
                    let whole = pcm16.len() / VAD_FRAME * VAD_FRAME;
                    for frame in pcm16[..whole].chunks_exact(VAD_FRAME) {
                        // The resampler can overshoot full scale slightly; earshot insists on [-1, 1].
                        let clamped: Vec<f32> = frame.iter().map(|s| s.clamp(-1.0, 1.0)).collect();
                        let voice = vad.predict_f32(&clamped) >= VAD_THRESHOLD;
                        policy.on_frame(frame, voice, &mut actions);
                    }
                    pcm16.drain(..whole);
                }
                Some(Msg::Finish) | None => {
                    policy.finish(&mut actions);
                    open = false;
                }
            },
            Some((id, kind, samples, text)) = inflight.next(), if !inflight.is_empty() => {
                policy.on_result(id, kind, samples, text.as_deref(), &mut actions);
            }
        }
        for action in actions.drain(..) {
            perform(
                action,
                stream_id,
                &ctx,
                transcriber.as_ref(),
                &mut inflight,
                &mut ids,
            );
        }
    }
}

fn perform(
    action: Action,
    stream: u64,
    ctx: &StreamContext,
    transcriber: &dyn Transcriber,
    inflight: &mut InFlight,
    ids: &mut std::collections::HashMap<u64, u64>,
) {
    match action {
        Action::Decode {
            utterance_id,
            kind,
            pcm,
        } => {
            let (reply, answer) = oneshot::channel();
            let samples = pcm.len();
            transcriber.submit(Job {
                stream,
                kind,
                pcm,
                language: ctx.language.clone(),
                reply,
            });
            let call_id = ctx.call_id.clone();
            inflight.push(Box::pin(async move {
                let text = match answer.await {
                    Ok(JobOutcome::Done(d)) => Some(d.text()),
                    Ok(JobOutcome::Dropped) => None,
                    Ok(JobOutcome::Failed(e)) => {
                        tracing::warn!(%call_id, "decode failed: {e}");
                        None
                    }
                    Err(_) => None,
                };
                (utterance_id, kind, samples, text)
            }));
        }
        Action::Emit {
            utterance_id,
            kind,
            text,
            start_ms,
            end_ms,
        } => {
            // PCI: a card number read out never leaves the transcriber unmasked (events, storage).
            let text = match kind {
                TranscriptKind::Final => crate::assist::mask_card_numbers(&text).0,
                // A partial may hold the first digits of a number whose end is still to come: nothing
                // of it is shown until the final says what it was.
                TranscriptKind::Partial if crate::assist::looks_like_card_start(&text) => "••••".into(),
                TranscriptKind::Partial => text,
            };
            let (start_ms, end_ms) = (start_ms + ctx.at.offset_ms, end_ms + ctx.at.offset_ms);
            let policy_id = utterance_id;
            let utterance_id = *ids.entry(policy_id).or_insert_with(|| ctx.at.ids.take());
            if kind == TranscriptKind::Final {
                ids.remove(&policy_id);
            }
            if kind == TranscriptKind::Final && !text.is_empty() {
                let _ = ctx.finals.send(FinalTranscript {
                    call_id: ctx.call_id.clone(),
                    channel: ctx.channel,
                    utterance_id,
                    text: text.clone(),
                    start_ms,
                    end_ms,
                });
            }
            ctx.events.publish(
                &ctx.call_id,
                EventKind::Transcript {
                    channel: ctx.channel,
                    kind,
                    utterance_id,
                    text,
                    start_ms,
                    end_ms,
                },
            );
        }
    }
}
