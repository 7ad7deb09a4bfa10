//! The task that runs the [`Router`]: calls and screens send it what happened, it tells each call what to
//! do (ring an agent, stop, announce a position, overflow) and publishes what screens show.

use super::router::{AgentDef, AgentView, Output, Presence, QueueView, Request, Router, RouterConfig};
use crate::events::{EventBus, EventKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

/// What routing tells a queued call.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Ring this agent's phone.
    Offer {
        agent: String,
        attempt: u32,
    },
    /// Stop ringing this agent (the ring timed out).
    Withdraw {
        agent: String,
        cause: String,
    },
    Position {
        position: usize,
        waiting: usize,
    },
    /// Nobody took the call in time.
    Overflow {
        cause: String,
    },
}

enum Msg {
    Enqueue(Request, mpsc::UnboundedSender<Notice>),
    Leave(String),
    Answered { call_id: String, agent: String },
    OfferFailed { call_id: String, agent: String },
    AgentDone(String),
    WrappedUp(String),
    Registered(String, bool),
    Presence(String, Presence, oneshot::Sender<Result<(), String>>),
    Upsert(AgentDef),
    Remove(String),
    View(oneshot::Sender<(Vec<AgentView>, Vec<QueueView>)>),
}

/// A handle on the routing task; cheap to clone.
#[derive(Clone)]
pub struct Routing {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Routing {
    /// Starts the task with these agents; it ends when every handle is dropped.
    pub fn start(config: RouterConfig, agents: Vec<AgentDef>, events: Arc<EventBus>) -> Routing {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut router = Router::new(config);
        let now = Instant::now();
        for a in agents {
            router.upsert_agent(a, now);
        }
        tokio::spawn(run(router, rx, events));
        Routing { tx }
    }

    fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    pub fn enqueue(&self, req: Request, notices: mpsc::UnboundedSender<Notice>) {
        self.send(Msg::Enqueue(req, notices));
    }

    pub fn leave(&self, call_id: &str) {
        self.send(Msg::Leave(call_id.into()));
    }

    pub fn answered(&self, call_id: &str, agent: &str) {
        self.send(Msg::Answered {
            call_id: call_id.into(),
            agent: agent.into(),
        });
    }

    pub fn offer_failed(&self, call_id: &str, agent: &str) {
        self.send(Msg::OfferFailed {
            call_id: call_id.into(),
            agent: agent.into(),
        });
    }

    /// The agent's leg of a call ended: they wrap up.
    pub fn agent_done(&self, agent: &str) {
        self.send(Msg::AgentDone(agent.into()));
    }

    pub fn wrapped_up(&self, agent: &str) {
        self.send(Msg::WrappedUp(agent.into()));
    }

    pub fn registered(&self, agent: &str, registered: bool) {
        self.send(Msg::Registered(agent.into(), registered));
    }

    pub fn upsert_agent(&self, def: AgentDef) {
        self.send(Msg::Upsert(def));
    }

    pub fn remove_agent(&self, id: &str) {
        self.send(Msg::Remove(id.into()));
    }

    pub async fn set_presence(&self, agent: &str, presence: Presence) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Presence(agent.into(), presence, tx));
        rx.await.map_err(|_| "routing stopped".to_string())?
    }

    /// Agents and queues as they are now.
    pub async fn view(&self) -> (Vec<AgentView>, Vec<QueueView>) {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::View(tx));
        rx.await.unwrap_or_default()
    }
}

async fn run(mut router: Router, mut rx: mpsc::UnboundedReceiver<Msg>, events: Arc<EventBus>) {
    let mut calls: HashMap<String, (String, mpsc::UnboundedSender<Notice>)> = HashMap::new();
    loop {
        let deadline = router.poll_timeout();
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => Some(m), None => break },
            _ = sleep_until(deadline) => None,
        };
        let now = Instant::now();
        match msg {
            None => router.handle_timeout(now),
            Some(Msg::Enqueue(req, notices)) => {
                calls.insert(req.call_id.clone(), (req.queue.clone(), notices));
                router.enqueue(req, now);
            }
            Some(Msg::Leave(call_id)) => {
                calls.remove(&call_id);
                router.leave(&call_id, now);
            }
            Some(Msg::Answered { call_id, agent }) => {
                calls.remove(&call_id);
                router.answered(&call_id, &agent, now);
            }
            Some(Msg::OfferFailed { call_id, agent }) => router.offer_failed(&call_id, &agent, now),
            Some(Msg::AgentDone(agent)) => router.agent_done(&agent, now),
            Some(Msg::WrappedUp(agent)) => router.wrapped_up(&agent, now),
            Some(Msg::Registered(agent, yes)) => router.set_registered(&agent, yes, now),
            Some(Msg::Presence(agent, presence, reply)) => {
                let _ = reply.send(router.set_presence(&agent, presence, now));
            }
            Some(Msg::Upsert(def)) => router.upsert_agent(def, now),
            Some(Msg::Remove(id)) => router.remove_agent(&id, now),
            Some(Msg::View(reply)) => {
                let _ = reply.send((router.agents(now), router.queues(now)));
            }
        }
        while let Some(out) = router.poll_output() {
            dispatch(out, &mut calls, &events);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Tells the call and publishes the event for the screens.
fn dispatch(
    out: Output,
    calls: &mut HashMap<String, (String, mpsc::UnboundedSender<Notice>)>,
    events: &EventBus,
) {
    let tell = |calls: &HashMap<_, (String, mpsc::UnboundedSender<Notice>)>, id: &str, n: Notice| {
        if let Some((_, tx)) = calls.get(id) {
            let _ = tx.send(n);
        }
    };
    match out {
        Output::Offer {
            call_id,
            agent,
            attempt,
        } => {
            info!(%call_id, %agent, attempt, "offering the call");
            let queue = calls.get(&call_id).map(|(q, _)| q.clone()).unwrap_or_default();
            events.publish(
                &call_id,
                EventKind::AgentOffered {
                    agent: agent.clone(),
                    queue,
                    attempt,
                },
            );
            tell(calls, &call_id, Notice::Offer { agent, attempt });
        }
        Output::Withdraw {
            call_id,
            agent,
            cause,
        } => {
            // A caller who left needs no notice; a ring that timed out is stopped by the call.
            if cause != "caller-left" {
                events.publish(
                    &call_id,
                    EventKind::AgentNoAnswer {
                        agent: agent.clone(),
                        cause: cause.clone(),
                    },
                );
            }
            tell(calls, &call_id, Notice::Withdraw { agent, cause });
        }
        Output::Position {
            call_id,
            queue,
            position,
            waiting,
        } => {
            debug!(%call_id, position, waiting, "queue position");
            events.publish(
                &call_id,
                EventKind::QueuePosition {
                    queue,
                    position,
                    waiting,
                },
            );
            tell(calls, &call_id, Notice::Position { position, waiting });
        }
        Output::Overflow {
            call_id,
            queue,
            cause,
        } => {
            info!(%call_id, %queue, %cause, "overflow");
            events.publish(
                &call_id,
                EventKind::CallOverflow {
                    queue,
                    cause: cause.clone(),
                },
            );
            tell(calls, &call_id, Notice::Overflow { cause });
            calls.remove(&call_id);
        }
        Output::Presence { agent, presence } => {
            info!(%agent, presence = presence.as_str(), "presence");
            events.publish("", EventKind::AgentPresence { agent, presence });
        }
    }
}
