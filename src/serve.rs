//! `koe serve`: wires the parts together, recovers from a previous crash, and drains on SIGTERM/SIGINT.

use crate::asr::AsrEngine;
use crate::asr::stream::FinalTranscript;
use crate::call::{self, Prompts, Shared, ports::PortPool};
use crate::config::Config;
use crate::events::EventBus;
use crate::ivr::prompts::PromptLibrary;
use crate::ivr::publish::{PublishError, Publisher};
use crate::ivr::registry::Registry;
use crate::media::recorder;
use crate::metrics::Metrics;
use crate::routing::Routing;
use crate::sip::core::CoreConfig;
use crate::sip::endpoint::{self, Control, EndpointConfig};
use crate::store::{AgentRow, CallStatus, Store, now_ms};
use crate::tts::Tts;
use crate::web::{self, AppState, auth};
use anyhow::{Context, anyhow};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub async fn serve(config: Config, base: &Path) -> anyhow::Result<()> {
    let data_dir = config.data.dir.clone();
    std::fs::create_dir_all(data_dir.join("recordings"))
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let store = Store::open(&data_dir).await.context("cannot open the database")?;
    recover(&store, &data_dir).await?;

    let prompts = Prompts::load(base, &config.calls.welcome_prompt, &config.calls.digit_prompts)
        .context("cannot load the demo prompts")?;
    auth::bootstrap(&store, &config.admin)
        .await
        .context("cannot create the first admin account")?;
    // The IVR is ready (its prompts rendered) before the first call can arrive.
    let ivr = Arc::new(Registry::default());
    let publisher = Arc::new(Publisher::new(
        store.clone(),
        ivr.clone(),
        Arc::new(Tts::from_config(&config.tts, data_dir.join("tts"))),
        Arc::new(PromptLibrary::new(data_dir.join("prompts"))),
    ));
    start_ivr(&publisher, &config.ivr.flow, base).await?;

    let metrics = Arc::new(Metrics::new());
    metrics.set("koe_active_calls", "Calls in progress", &[], 0.0);
    let events = Arc::new(EventBus::new(10_000));
    let agents = start_agents(&store, &config.routing.agents, base).await?;
    let knowledge = crate::assist::Knowledge::embedded().context("the embedded knowledge base")?;
    crate::assist::service::start(
        knowledge,
        events.clone(),
        store.clone(),
        config.asr.language.clone(),
    );
    let routing = Routing::start(
        config.routing.router(),
        agents.iter().map(|a| a.def.clone()).collect(),
        events.clone(),
    );
    let shutdown = CancellationToken::new();
    let sip_shutdown = CancellationToken::new();

    let (call_tx, call_rx) = mpsc::unbounded_channel();
    let advertise_ip = config.media.external_ip.parse::<IpAddr>().ok();
    let core = CoreConfig {
        user_agent: config.sip.user_agent.clone(),
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_secs(4).max(Duration::from_millis(config.sip.t1_ms)),
        ..CoreConfig::default()
    };
    let (sip, sip_addr) = endpoint::start(
        config.sip.bind,
        config.sip.tcp,
        EndpointConfig { core, advertise_ip },
        metrics.clone(),
        call_tx,
        sip_shutdown.clone(),
    )
    .await
    .with_context(|| format!("cannot bind SIP on {}", config.sip.bind))?;
    sip.set_accounts(crate::web::agents::sip_accounts(&agents));
    let directory = Arc::new(call::Directory::default());

    let listener = tokio::net::TcpListener::bind(config.http.bind)
        .await
        .with_context(|| format!("cannot bind HTTP on {}", config.http.bind))?;
    let http_addr = listener.local_addr()?;
    let draining = Arc::new(AtomicBool::new(false));
    let state = AppState {
        store: store.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        data_dir: data_dir.clone(),
        draining: draining.clone(),
        ivr: ivr.clone(),
        publisher,
        routing: routing.clone(),
        live: crate::live::LiveCalls::start(events.clone()),
        directory: directory.clone(),
        sip: sip.clone(),
        session_ttl: Duration::from_secs(config.admin.session_hours.saturating_mul(3600)),
    };
    let http = tokio::spawn(web::serve(listener, state, shutdown.clone()));

    let asr = if config.asr.enabled {
        Some(AsrEngine::new(&config.asr, metrics.clone()).context(
            "cannot start live transcription (install the model with `koe models install`, or set KOE_ASR_ENABLED=false)",
        )?)
    } else {
        None
    };
    let (finals, finals_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(store_finals(store.clone(), finals_rx));
    let ports = PortPool::new(
        config.media.bind_ip,
        config.media.rtp_port_min,
        config.media.rtp_port_max,
    );
    let drain_timeout = Duration::from_secs(config.calls.drain_timeout_s);
    let shared = Arc::new(Shared {
        config,
        asr,
        finals,
        store,
        events,
        metrics: metrics.clone(),
        sip: sip.clone(),
        prompts,
        ports,
        data_dir,
        ivr: ivr.clone(),
        routing,
        directory,
    });
    let tracker = TaskTracker::new();
    let hangup_all = CancellationToken::new();
    let manager = tokio::spawn(call::run_manager(
        shared,
        call_rx,
        tracker.clone(),
        hangup_all.clone(),
    ));
    info!(sip = %sip_addr, http = %http_addr, "koe is ready");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: draining"),
        _ = int.recv() => info!("SIGINT: draining"),
    }
    // Drain: refuse new calls, let calls in progress finish, then hang up what is left.
    draining.store(true, Ordering::SeqCst);
    let _ = sip.commands.send(Control::SetDraining(true));
    tracker.close();
    if tokio::time::timeout(drain_timeout, tracker.wait()).await.is_err() {
        info!(
            calls = tracker.len(),
            "drain timeout: hanging up the remaining calls"
        );
        hangup_all.cancel();
        if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .is_err()
        {
            warn!(calls = tracker.len(), "calls still open after hangup");
        }
    }
    // Give the last BYEs a moment on the wire before the socket closes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sip_shutdown.cancel();
    shutdown.cancel();
    manager.abort();
    let _ = http.await;
    // Every call task has ended, so every final has been sent; wait until all are stored.
    let _ = writer.await;
    info!("stopped");
    Ok(())
}

/// Adds the agents of `file` that the database does not have yet (an admin's edits win over the file),
/// and returns every stored agent.
async fn start_agents(store: &Store, file: &str, base: &Path) -> anyhow::Result<Vec<AgentRow>> {
    if !file.is_empty() {
        let embedded = ("agents.toml", crate::routing::EMBEDDED_AGENTS);
        let (on_disk, text) = config_file(base, file, embedded, "the agents file")?;
        let defs = crate::routing::parse_agents(&text)
            .map_err(|e| anyhow!("the agents file {}: {e}", on_disk.display()))?;
        let known = store.agents().await?;
        for def in defs.iter().filter(|d| !known.iter().any(|k| k.def.id == d.id)) {
            store.upsert_agent(def, None).await?;
            info!(agent = %def.id, "agent added from {file}");
        }
    }
    Ok(store.agents().await?)
}

/// A file named in the config (relative to its directory), with its path; a default file missing on
/// disk comes from the copy `embedded` (its name, its text) in the binary.
fn config_file(
    base: &Path,
    rel: &str,
    embedded: (&str, &str),
    what: &str,
) -> anyhow::Result<(std::path::PathBuf, String)> {
    let on_disk = base.join(rel);
    let text = match std::fs::read_to_string(&on_disk) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && Path::new(rel) == Path::new(embedded.0) => {
            embedded.1.to_string()
        }
        read => read.with_context(|| format!("cannot read {what} {}", on_disk.display()))?,
    };
    Ok((on_disk, text))
}

/// The demo flow, embedded so that `koe serve` has its IVR from any directory with its defaults.
const EMBEDDED_FLOW: (&str, &str) = ("ivr/support.json", include_str!("../sip-config/ivr/support.json"));

/// Puts the entry flow's active version into the registry; with none in the database yet, publishes
/// `ivr.flow` as version 1. A flow that is not valid stops the start, with every issue.
async fn start_ivr(publisher: &Publisher, flow: &str, base: &Path) -> anyhow::Result<()> {
    match publisher.load_active().await {
        Ok(Some(version)) => {
            info!(version, "IVR: active flow loaded from the database");
            return Ok(());
        }
        Ok(None) => {}
        Err(e) => return Err(refused(e, "the active IVR flow in the database")),
    }
    if flow.is_empty() {
        info!("IVR: no flow (ivr.flow is empty): calls get the line test");
        return Ok(());
    }
    let (on_disk, text) = config_file(base, flow, EMBEDDED_FLOW, "the IVR flow")?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the IVR flow {} is not JSON", on_disk.display()))?;
    let version = publisher
        .publish(None, &json, "system", &format!("initial flow from {flow}"))
        .await
        .map_err(|e| refused(e, &format!("the IVR flow {}", on_disk.display())))?;
    info!(version, path = %on_disk.display(), "IVR: initial flow published");
    Ok(())
}

fn refused(e: PublishError, what: &str) -> anyhow::Error {
    match e {
        PublishError::Invalid(issues) => {
            let list: Vec<String> = issues
                .iter()
                .map(|i| format!("  {}: {}", i.path, i.message))
                .collect();
            anyhow!("{what} is not valid:\n{}", list.join("\n"))
        }
        other => anyhow!(other).context(format!("cannot load {what}")),
    }
}

/// Stores final transcripts as they come, so a crash loses none that was finished.
async fn store_finals(store: Store, mut finals: mpsc::UnboundedReceiver<FinalTranscript>) {
    while let Some(f) = finals.recv().await {
        if let Err(e) = store
            .add_transcript(
                &f.call_id,
                f.channel,
                f.utterance_id,
                &f.text,
                f.start_ms,
                f.end_ms,
            )
            .await
        {
            warn!(call_id = %f.call_id, error = %e, "could not store a final transcript");
        }
    }
}

/// Calls left open by a killed process: repair their recordings and mark them abnormal.
async fn recover(store: &Store, data_dir: &Path) -> anyhow::Result<()> {
    for mut rec in store.unfinished_calls().await? {
        if let Some(rel) = &rec.recording_path {
            let path = data_dir.join(rel);
            match recorder::repair(&path) {
                Ok(Some(d)) => {
                    info!(call_id = %rec.id, path = %path.display(), seconds = d.as_secs_f64(), "recording repaired")
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(call_id = %rec.id, path = %path.display(), error = %e, "recording could not be repaired")
                }
            }
        }
        rec.status = CallStatus::Abnormal;
        rec.ended_at_ms.get_or_insert(now_ms());
        rec.hangup_by.get_or_insert("system".into());
        rec.end_cause.get_or_insert("process-died".into());
        store.upsert_call(&rec).await?;
        warn!(call_id = %rec.id, "call of a previous run ended abnormally");
    }
    Ok(())
}
