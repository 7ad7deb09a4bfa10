//! The agents' and supervisors' API: agents and their phones' accounts, presence, a call's context for
//! the agent who takes it, wrap-up, transfer, the PCI recording pause, and the supervisor's overview.

use super::AppState;
use super::auth::{self, Admin, SignedIn};
use super::body;
use super::error::ApiError;
use crate::call::{CallInput, Control, TransferTarget};
use crate::events::EventKind;
use crate::routing::router::{AgentDef, AgentView, Presence};
use crate::sip::registrar::Account;
use crate::store::{AgentRow, HistoryItem, Role, TranscriptRow, WrapUp, caller_number, now_ms};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracing::info;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list_agents).post(save_agent))
        .route("/api/agents/{id}", delete(remove_agent))
        .route("/api/agent/me", get(me))
        .route("/api/agent/presence", put(set_presence))
        .route("/api/calls/{id}/context", get(context))
        .route("/api/calls/{id}/wrapup", post(wrapup))
        .route("/api/calls/{id}/transfer", post(transfer))
        .route("/api/calls/{id}/recording", post(recording))
        .route("/api/supervisor/overview", get(overview))
        .layer(body::JSON.layer())
}

/// The phones' SIP accounts: every agent with a password.
pub fn sip_accounts(agents: &[AgentRow]) -> Vec<Account> {
    agents
        .iter()
        .filter_map(|a| {
            Some(Account {
                user: a.def.id.clone(),
                password: a.sip_password.clone()?,
            })
        })
        .collect()
}

fn supervisor(who: &SignedIn) -> Result<(), ApiError> {
    match who.role {
        Role::Admin | Role::Supervisor => Ok(()),
        Role::Agent => Err(ApiError::Forbidden(format!(
            "this needs the supervisor or admin role; {} is an agent",
            who.user
        ))),
    }
}

async fn list_agents(State(state): State<AppState>, who: SignedIn) -> Result<Json<Vec<AgentView>>, ApiError> {
    supervisor(&who)?;
    Ok(Json(state.routing.view().await.0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAgent {
    id: String,
    name: String,
    #[serde(default)]
    skills: BTreeMap<String, u8>,
    #[serde(default)]
    languages: Vec<String>,
    /// The agent's password: for the web sign-in (an `agent` account of the same name) and their phone's
    /// SIP digest authentication. Absent: unchanged.
    #[serde(default)]
    password: Option<String>,
}

/// Adds or changes an agent (admin): the routing, the phone's account and the sign-in follow at once.
async fn save_agent(
    State(state): State<AppState>,
    Admin(who): Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let a: NewAgent = body::JSON.json(body)?;
    crate::routing::check_id(&a.id).map_err(ApiError::BadRequest)?;
    if a.name.trim().is_empty() {
        return Err(ApiError::BadRequest("an agent needs a name".into()));
    }
    let def = AgentDef {
        id: a.id.clone(),
        name: a.name.trim().to_string(),
        skills: a.skills,
        languages: a.languages,
    };
    if let Some(pw) = &a.password {
        match state.store.user(&a.id).await? {
            Some(u) if u.role != Role::Agent => {
                return Err(ApiError::Conflict(format!(
                    "{} is a {} account",
                    a.id,
                    u.role.as_str()
                )));
            }
            Some(_) => auth::set_password(&state.store, &a.id, pw).await?,
            None => {
                auth::create_user(&state.store, &a.id, pw, Role::Agent).await?;
            }
        }
    }
    state.store.upsert_agent(&def, a.password.as_deref()).await?;
    state.routing.upsert_agent(def.clone());
    state.sip.set_accounts(sip_accounts(&state.store.agents().await?));
    info!(agent = %def.id, by = %who.user, "agent saved");
    Ok((StatusCode::CREATED, Json(def)))
}

async fn remove_agent(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_agent(&id).await? {
        return Err(ApiError::NotFound(format!("agent {id}")));
    }
    state.routing.remove_agent(&id);
    state.sip.set_accounts(sip_accounts(&state.store.agents().await?));
    info!(agent = %id, by = %who.user, "agent removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Me {
    #[serde(flatten)]
    agent: AgentView,
    /// The newest event's sequence number when this was read: follow the events after it.
    seq: u64,
}

async fn me_of(state: &AppState, who: &SignedIn) -> Result<Me, ApiError> {
    let seq = state.events.last_seq();
    let agent = state
        .routing
        .view()
        .await
        .0
        .into_iter()
        .find(|a| a.def.id == who.user)
        .ok_or_else(|| ApiError::NotFound(format!("agent {}", who.user)))?;
    Ok(Me { agent, seq })
}

async fn me(State(state): State<AppState>, who: SignedIn) -> Result<Json<Me>, ApiError> {
    Ok(Json(me_of(&state, &who).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPresence {
    presence: Presence,
}

async fn set_presence(
    State(state): State<AppState>,
    who: SignedIn,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Me>, ApiError> {
    let SetPresence { presence } = body::JSON.json(body)?;
    state
        .routing
        .set_presence(&who.user, presence)
        .await
        .map_err(ApiError::Conflict)?;
    Ok(Json(me_of(&state, &who).await?))
}

/// Everything the agent needs about a call, live or ended.
#[derive(Serialize)]
struct Context {
    call_id: String,
    from: String,
    number: Option<String>,
    started_at_ms: i64,
    ended_at_ms: Option<i64>,
    ivr: Option<crate::store::IvrRecord>,
    service: Option<crate::store::ServiceRecord>,
    live: Option<crate::live::LiveCall>,
    /// How long the caller has waited in the queue (live calls).
    waited_ms: Option<u64>,
    history: Vec<HistoryItem>,
    transcript: Vec<TranscriptRow>,
    wrapup: Option<WrapUp>,
    summary: Option<serde_json::Value>,
    recording_pauses: Vec<(u64, Option<u64>)>,
    seq: u64,
}

async fn context(
    State(state): State<AppState>,
    _who: SignedIn,
    Path(id): Path<String>,
) -> Result<Json<Context>, ApiError> {
    // Read the sequence number first: events after it may repeat what the store says, never miss it.
    let seq = state.events.last_seq();
    let call = state
        .store
        .get_call(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {id}")))?;
    let number = caller_number(&call.from_uri);
    let history = match &number {
        Some(n) => state.store.history(n, &id, 10).await?,
        None => Vec::new(),
    };
    let live = state.live.get(&id);
    let (_, queues) = state.routing.view().await;
    let waited_ms = queues
        .iter()
        .flat_map(|q| q.waiting.iter())
        .find(|w| w.call_id == id)
        .map(|w| w.waited_ms);
    Ok(Json(Context {
        transcript: state.store.transcript(&id).await?,
        wrapup: state.store.wrapup(&id).await?,
        summary: state.store.summary(&id).await?,
        from: call.from_uri,
        number,
        started_at_ms: call.invite_at_ms,
        ended_at_ms: call.ended_at_ms,
        ivr: call.ivr,
        service: call.service,
        recording_pauses: call.recording_pauses,
        live,
        waited_ms,
        history,
        call_id: id,
        seq,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapUpBody {
    reason: String,
    disposition: String,
    #[serde(default)]
    notes: String,
}

const DISPOSITIONS: [&str; 4] = ["resolved", "follow_up", "escalated", "not_resolved"];

/// Saves the agent's wrap-up; the agent is then available again.
async fn wrapup(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let b: WrapUpBody = body::JSON.json(body)?;
    if !DISPOSITIONS.contains(&b.disposition.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "disposition must be one of {}",
            DISPOSITIONS.join(", ")
        )));
    }
    if b.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("a reason for the contact is needed".into()));
    }
    if state.store.get_call(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("call {id}")));
    }
    let w = WrapUp {
        agent: who.user.clone(),
        reason: b.reason.trim().to_string(),
        disposition: b.disposition,
        notes: b.notes,
        saved_at_ms: now_ms(),
    };
    state.store.save_wrapup(&id, &w).await?;
    state.events.publish(
        &id,
        EventKind::WrapUpSaved {
            agent: w.agent.clone(),
            reason: w.reason.clone(),
            disposition: w.disposition.clone(),
            notes: w.notes.clone(),
        },
    );
    state.routing.wrapped_up(&who.user);
    info!(call_id = %id, agent = %who.user, "wrap-up saved");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    #[serde(default = "cold")]
    mode: String,
    agent: Option<String>,
    queue: Option<String>,
}

fn cold() -> String {
    "cold".into()
}

async fn transfer(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let b: TransferBody = body::JSON.json(body)?;
    let warm = match b.mode.as_str() {
        "cold" => false,
        "warm" => true,
        m => return Err(ApiError::BadRequest(format!("mode {m:?}: cold or warm"))),
    };
    let to = match (b.agent, b.queue) {
        (Some(a), None) => TransferTarget::Agent(a),
        (None, Some(q)) => TransferTarget::Queue(q),
        _ => return Err(ApiError::BadRequest("name either an agent or a queue".into())),
    };
    let control = Control::Transfer {
        to,
        warm,
        by: who.user,
    };
    send(&state, &id, control)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordingBody {
    paused: bool,
}

async fn recording(
    State(state): State<AppState>,
    _who: SignedIn,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let RecordingBody { paused } = body::JSON.json(body)?;
    let control = Control::Recording {
        paused,
        reason: "api".into(),
    };
    send(&state, &id, control)
}

/// Hands the request to the live call: 202, or 404 when the call is not in progress.
fn send(state: &AppState, id: &str, control: Control) -> Result<StatusCode, ApiError> {
    if state.directory.send(id, CallInput::Control(control)) {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::NotFound(format!("live call {id}")))
    }
}

#[derive(Serialize)]
struct Overview {
    queues: Vec<crate::routing::router::QueueView>,
    agents: Vec<AgentView>,
    calls: Vec<crate::live::LiveCall>,
    seq: u64,
}

async fn overview(State(state): State<AppState>, who: SignedIn) -> Result<Json<Overview>, ApiError> {
    supervisor(&who)?;
    let seq = state.events.last_seq();
    let (agents, queues) = state.routing.view().await;
    Ok(Json(Overview {
        queues,
        agents,
        calls: state.live.all(),
        seq,
    }))
}
