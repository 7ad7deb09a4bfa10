//! The transcription engine shared by all calls: a pool of whisper.cpp states on dedicated OS threads
//! behind a bounded priority queue.
//!
//! Whisper is the scarce resource, so the queue has an explicit policy when demand exceeds capacity:
//! finals are served before partials and are never dropped, and a final never waits behind a partial:
//! when no worker is free it aborts a running partial decode (whisper.cpp checks after the encoder
//! and after each token). A stream has at most one partial waiting (a newer one replaces it), and when
//! the queue is full the oldest waiting partial is dropped. Callers never block: `submit` only takes a
//! lock for a push, and the answer comes back on a oneshot channel.

use super::whisper::{DecodeOptions, Decoded, Model, WhisperError};
use crate::events::TranscriptKind;
use crate::metrics::Metrics;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// One decode request.
pub struct Job {
    /// Identifies the stream, for coalescing its partials.
    pub stream: u64,
    pub kind: TranscriptKind,
    /// 16 kHz mono audio of the utterance so far (partial) or the whole utterance (final).
    pub pcm: Vec<f32>,
    pub language: String,
    pub reply: oneshot::Sender<JobOutcome>,
}

#[derive(Debug)]
pub enum JobOutcome {
    Done(Decoded),
    /// A partial that was superseded or shed under load; the stream may ask again later.
    Dropped,
    Failed(String),
}

/// Anything that turns utterance audio into text: the local pool below, or later a remote worker.
pub trait Transcriber: Send + Sync {
    /// Queues `job`; never blocks. The outcome is sent on `job.reply`.
    fn submit(&self, job: Job);
}

struct Queued {
    job: Job,
    at: Instant,
}

#[derive(Default)]
struct Queue {
    finals: VecDeque<Queued>,
    partials: VecDeque<Queued>,
    /// What each worker is decoding (`None`: waiting for work).
    running: Vec<Option<TranscriptKind>>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    capacity: usize,
    metrics: Arc<Metrics>,
    /// Each worker's decoder abort flag, set (under the queue lock) only while it runs a partial.
    aborts: Mutex<Vec<Arc<AtomicBool>>>,
}

/// The local pool: `workers` threads, each owning one whisper.cpp state of the same model.
pub struct LocalTranscriber {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

const DEPTH: &str = "koe_asr_queue_depth";
const DEPTH_HELP: &str = "Decode requests waiting, by kind";

fn kind_label(kind: TranscriptKind) -> &'static str {
    match kind {
        TranscriptKind::Partial => "partial",
        TranscriptKind::Final => "final",
    }
}

impl LocalTranscriber {
    pub fn new(
        model: Arc<Model>,
        workers: usize,
        threads_per_decode: usize,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Result<LocalTranscriber, super::whisper::WhisperError> {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                running: vec![None; workers],
                ..Queue::default()
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            metrics,
            aborts: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        for i in 0..workers {
            let decoder = model.decoder()?;
            lock(&shared.aborts).push(decoder.abort_handle());
            let shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("asr-worker-{i}"))
                .spawn(move || worker(shared, i, decoder, threads_per_decode))
                .map_err(|e| WhisperError::Decode(format!("cannot start worker: {e}")))?;
            threads.push(handle);
        }
        Ok(LocalTranscriber { shared, threads })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// With finals waiting and no worker free for them, aborts running partials (one per waiting
    /// final); called with the queue locked.
    fn preempt(&self, q: &Queue) {
        let aborts = lock(&self.aborts);
        let raised = |i: usize| aborts.get(i).is_some_and(|f| f.load(Ordering::Relaxed));
        let partials: Vec<usize> = (0..q.running.len())
            .filter(|&i| q.running[i] == Some(TranscriptKind::Partial))
            .collect();
        // Workers that will soon take a final: the idle ones and those whose partial is aborting.
        let soon_free = q.running.iter().filter(|r| r.is_none()).count()
            + partials.iter().filter(|&&i| raised(i)).count();
        let wanted = q.finals.len().saturating_sub(soon_free);
        for &i in partials.iter().filter(|&&i| !raised(i)).take(wanted) {
            aborts[i].store(true, Ordering::Relaxed);
        }
    }

    fn publish_depth(&self, q: &Queue) {
        self.metrics
            .set(DEPTH, DEPTH_HELP, &[("kind", "final")], q.finals.len() as f64);
        self.metrics
            .set(DEPTH, DEPTH_HELP, &[("kind", "partial")], q.partials.len() as f64);
    }

    fn shed(&self, dropped: Queued, why: &str) {
        self.count_dropped(why);
        let _ = dropped.job.reply.send(JobOutcome::Dropped);
    }

    fn count_dropped(&self, why: &str) {
        self.metrics.inc(
            "koe_asr_partials_dropped_total",
            "Partial decodes not run or not finished, by reason",
            &[("reason", why)],
        );
    }
}

impl Queue {
    /// Adds a request and returns those it displaced (all partials), with the reason.
    fn push(&mut self, item: Queued, capacity: usize) -> Vec<(Queued, &'static str)> {
        let mut shed = Vec::new();
        match item.job.kind {
            TranscriptKind::Final => self.finals.push_back(item),
            TranscriptKind::Partial => {
                if let Some(pos) = self.partials.iter().position(|p| p.job.stream == item.job.stream) {
                    shed.push((std::mem::replace(&mut self.partials[pos], item), "superseded"));
                } else if self.finals.len() + self.partials.len() < capacity {
                    self.partials.push_back(item);
                } else if let Some(oldest) = self.partials.pop_front() {
                    shed.push((oldest, "queue_full"));
                    self.partials.push_back(item);
                } else {
                    // Only finals waiting: the new partial is the one to go.
                    shed.push((item, "queue_full"));
                }
            }
        }
        shed
    }

    /// Finals first, then partials, each in arrival order.
    fn pop(&mut self) -> Option<Queued> {
        self.finals.pop_front().or_else(|| self.partials.pop_front())
    }
}

impl Transcriber for LocalTranscriber {
    fn submit(&self, job: Job) {
        let shared = &self.shared;
        let mut q = lock(&shared.queue);
        let shed = q.push(
            Queued {
                job,
                at: Instant::now(),
            },
            shared.capacity,
        );
        shared.preempt(&q);
        shared.publish_depth(&q);
        drop(q);
        for (item, why) in shed {
            shared.shed(item, why);
        }
        shared.ready.notify_one();
    }
}

impl Drop for LocalTranscriber {
    fn drop(&mut self) {
        lock(&self.shared.queue).closed = true;
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(shared: Arc<Shared>, index: usize, mut decoder: super::whisper::Decoder, threads: usize) {
    let abort = decoder.abort_handle();
    let mut q = lock(&shared.queue);
    loop {
        let Some(item) = q.pop() else {
            if q.closed {
                return;
            }
            q = shared.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        // Cleared under the lock that `preempt` sets it under: a flag meant for the last job cannot
        // abort this one.
        abort.store(false, Ordering::Relaxed);
        q.running[index] = Some(item.job.kind);
        shared.publish_depth(&q);
        drop(q);
        let reply = run_job(&shared, &mut decoder, item, threads);
        q = lock(&shared.queue);
        q.running[index] = None;
        // Sent after `running` is cleared, so that a final this answer prompts sees the worker free.
        let _ = reply();
    }
}

/// Decodes one job and returns the sending of its outcome.
fn run_job(
    shared: &Shared,
    decoder: &mut super::whisper::Decoder,
    item: Queued,
    threads: usize,
) -> impl FnOnce() -> Result<(), JobOutcome> {
    let kind = kind_label(item.job.kind);
    shared.metrics.observe(
        "koe_asr_queue_wait_seconds",
        "Time a decode request waited for a worker (transcription lag), by kind",
        &[("kind", kind)],
        item.at.elapsed().as_secs_f64(),
    );
    let is_final = item.job.kind == TranscriptKind::Final;
    let opts = DecodeOptions {
        language: item.job.language.clone(),
        threads,
        fit_context: true,
        strict: is_final,
        single_segment: true,
    };
    let started = Instant::now();
    let outcome = match decoder.decode(&item.job.pcm, &opts) {
        Ok(d) => {
            if d.retried {
                shared.metrics.inc(
                    "koe_asr_context_retries_total",
                    "Decodes run again with twice the context after a repetition loop",
                    &[("kind", kind)],
                );
            }
            if d.trimmed {
                shared.metrics.inc(
                    "koe_asr_loops_cut_total",
                    "Decodes that kept looping and were cut where the loop starts",
                    &[("kind", kind)],
                );
            }
            JobOutcome::Done(d)
        }
        Err(WhisperError::Aborted) => {
            shared.count_dropped("preempted");
            JobOutcome::Dropped
        }
        Err(e) => JobOutcome::Failed(e.to_string()),
    };
    let took = started.elapsed().as_secs_f64();
    tracing::debug!(
        stream = item.job.stream,
        kind,
        audio_s = item.job.pcm.len() as f64 / 16_000.0,
        took_s = took,
        outcome = ?outcome,
        "decoded"
    );
    shared.metrics.observe(
        "koe_asr_decode_seconds",
        "Wall time of one Whisper decode, by kind",
        &[("kind", kind)],
        took,
    );
    shared.metrics.inc_by(
        "koe_asr_audio_seconds_total",
        "Seconds of audio decoded, by kind",
        &[("kind", kind)],
        item.job.pcm.len() as f64 / 16_000.0,
    );
    move || item.job.reply.send(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(stream: u64, kind: TranscriptKind) -> (Queued, oneshot::Receiver<JobOutcome>) {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            stream,
            kind,
            pcm: vec![stream as f32],
            language: "en".into(),
            reply,
        };
        (
            Queued {
                job,
                at: Instant::now(),
            },
            rx,
        )
    }

    #[test]
    fn finals_jump_the_queue_and_are_never_shed() {
        let mut q = Queue::default();
        let (p1, _r1) = job(1, TranscriptKind::Partial);
        let (p2, _r2) = job(2, TranscriptKind::Partial);
        assert!(q.push(p1, 3).is_empty());
        assert!(q.push(p2, 3).is_empty());
        // The queue is full (capacity 3 after this one); finals still go in, beyond capacity.
        for s in 3..6 {
            let (f, _) = job(s, TranscriptKind::Final);
            assert!(q.push(f, 3).is_empty());
        }
        let order: Vec<(u64, TranscriptKind)> = std::iter::from_fn(|| q.pop())
            .map(|i| (i.job.stream, i.job.kind))
            .collect();
        use TranscriptKind::{Final, Partial};
        assert_eq!(
            order,
            vec![(3, Final), (4, Final), (5, Final), (1, Partial), (2, Partial)]
        );
    }

    #[test]
    fn a_streams_newer_partial_replaces_its_waiting_one() {
        let mut q = Queue::default();
        let (a, mut ra) = job(7, TranscriptKind::Partial);
        let (b, _rb) = job(7, TranscriptKind::Partial);
        q.push(a, 10);
        let shed = q.push(b, 10);
        assert_eq!(shed.len(), 1);
        assert_eq!(shed[0].1, "superseded");
        for (item, _) in shed {
            let _ = item.job.reply.send(JobOutcome::Dropped);
        }
        assert!(matches!(ra.try_recv(), Ok(JobOutcome::Dropped)));
        assert_eq!(q.partials.len(), 1);
    }

    #[test]
    fn a_full_queue_sheds_the_oldest_partial_or_the_new_one() {
        let mut q = Queue::default();
        let (p1, _) = job(1, TranscriptKind::Partial);
        let (p2, _) = job(2, TranscriptKind::Partial);
        q.push(p1, 1);
        let shed = q.push(p2, 1);
        assert_eq!((shed[0].0.job.stream, shed[0].1), (1, "queue_full"));
        let mut q = Queue::default();
        let (f, _) = job(1, TranscriptKind::Final);
        let (p, _) = job(2, TranscriptKind::Partial);
        q.push(f, 1);
        let shed = q.push(p, 1);
        assert_eq!((shed[0].0.job.stream, shed[0].1), (2, "queue_full"));
        assert_eq!(q.finals.len(), 1);
    }

    #[test]
    fn a_final_with_no_free_worker_aborts_one_running_partial() {
        let flags: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let shared = Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            capacity: 8,
            metrics: Arc::new(Metrics::new()),
            aborts: Mutex::new(flags.clone()),
        };
        let raised = || {
            flags
                .iter()
                .map(|f| f.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        };
        use TranscriptKind::{Final, Partial};
        let mut q = Queue {
            running: vec![Some(Final), Some(Partial), None],
            ..Queue::default()
        };
        let (f1, _r1) = job(1, Final);
        q.push(f1, 8);
        shared.preempt(&q);
        assert_eq!(raised(), [false, false, false], "a worker is free for it");
        q.running[2] = Some(Partial);
        shared.preempt(&q);
        assert_eq!(
            raised(),
            [false, true, false],
            "one partial aborted for one final"
        );
        shared.preempt(&q);
        assert_eq!(
            raised(),
            [false, true, false],
            "not a second one for the same final"
        );
        let (f2, _r2) = job(2, Final);
        q.push(f2, 8);
        shared.preempt(&q);
        assert_eq!(raised(), [false, true, true]);
        let (f3, _r3) = job(3, Final);
        q.push(f3, 8);
        shared.preempt(&q);
        assert_eq!(raised(), [false, true, true], "finals are never aborted");
    }
}
