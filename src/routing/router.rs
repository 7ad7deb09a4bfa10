//! Which agent takes which queued call, sans-IO: agents' presence and calls' waits go in with the time,
//! offers, withdrawals, positions and overflows come out.
//!
//! The rules, as contact centres apply them: a call is offered to one agent at a time, the longest idle
//! available agent who has every skill the call needs and speaks its language; an agent who does not
//! answer in time is set away ("missed") and the call goes to the next one; callers are served first come
//! first served across queues; a caller who waits too long, or for whom nobody at all is staffed, leaves
//! by the queue's overflow.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Available,
    OnCall,
    WrapUp,
    Away,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Available => "available",
            Presence::OnCall => "on_call",
            Presence::WrapUp => "wrap_up",
            Presence::Away => "away",
        }
    }
}

/// An agent as configured: who they are and what they can take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDef {
    pub id: String,
    pub name: String,
    /// Skill → level (1 = can take it; higher = better at it).
    pub skills: BTreeMap<String, u8>,
    pub languages: Vec<String>,
}

impl AgentDef {
    /// Every skill at level ≥ 1 and the language (a call with no language needs none).
    fn can_take(&self, call: &Waiting) -> bool {
        call.skills
            .iter()
            .all(|s| self.skills.get(s).is_some_and(|l| *l >= 1))
            && (call.language.is_empty() || self.languages.iter().any(|l| l == &call.language))
    }

    fn level_for(&self, skills: &[String]) -> u32 {
        skills
            .iter()
            .map(|s| u32::from(*self.skills.get(s).unwrap_or(&0)))
            .sum()
    }
}

#[derive(Debug, Clone)]
struct Agent {
    def: AgentDef,
    presence: Presence,
    /// When the presence last changed.
    since: Instant,
    /// When the agent last became free; the longest idle is offered first.
    idle_since: Instant,
    registered: bool,
    /// The call offered to the agent or the one they are on.
    call: Option<String>,
}

/// A caller waiting for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub call_id: String,
    pub queue: String,
    pub skills: Vec<String>,
    pub language: String,
    /// Only this agent (a transfer to a person); None: whoever fits.
    pub agent: Option<String>,
    /// The caller has somewhere to go when nobody answers in time (`Output::Overflow`); false: the
    /// caller waits, keeping their place, until an agent answers or they hang up.
    pub overflow: bool,
}

#[derive(Debug, Clone)]
struct Waiting {
    call_id: String,
    queue: String,
    skills: Vec<String>,
    language: String,
    agent: Option<String>,
    overflow: bool,
    since: Instant,
    /// Agents who did not answer this call.
    tried: HashSet<String>,
    /// The agent ringing now and until when.
    offer: Option<(String, Instant)>,
    position: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct RouterConfig {
    /// How long an agent's phone rings before the call goes to the next agent.
    pub offer_timeout: Duration,
    /// Longest wait in a queue before the overflow.
    pub max_wait: Duration,
    /// How long a caller waits when no agent at all could take the call (none registered with the skills
    /// and language, whatever their presence) before the overflow.
    pub unstaffed_wait: Duration,
    /// Wrap-up ends by itself after this long.
    pub wrap_up: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            offer_timeout: Duration::from_secs(15),
            max_wait: Duration::from_secs(180),
            unstaffed_wait: Duration::from_secs(10),
            wrap_up: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Ring this agent for this call.
    Offer {
        call_id: String,
        agent: String,
        attempt: u32,
    },
    /// The offer is over without an answer (the caller left or the ring timed out): stop ringing.
    Withdraw {
        call_id: String,
        agent: String,
        cause: String,
    },
    /// The caller's place in its queue changed (1 = next).
    Position {
        call_id: String,
        queue: String,
        position: usize,
        waiting: usize,
    },
    /// Nobody took the call in time: the caller leaves the queue by its overflow.
    Overflow {
        call_id: String,
        queue: String,
        cause: String,
    },
    Presence {
        agent: String,
        presence: Presence,
    },
}

/// A queue as screens show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueView {
    pub name: String,
    pub waiting: Vec<WaitingView>,
    pub longest_wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingView {
    pub call_id: String,
    pub waited_ms: u64,
    pub position: usize,
    pub offered_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    #[serde(flatten)]
    pub def: AgentDef,
    pub presence: Presence,
    pub since_ms: u64,
    pub registered: bool,
    pub call_id: Option<String>,
}

#[derive(Debug, Default)]
pub struct Router {
    config: RouterConfig,
    agents: BTreeMap<String, Agent>,
    waiting: VecDeque<Waiting>,
    outputs: VecDeque<Output>,
}

impl Router {
    pub fn new(config: RouterConfig) -> Self {
        Router {
            config,
            ..Router::default()
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// An agent added or changed; a new one starts away (they say when they are ready).
    pub fn upsert_agent(&mut self, def: AgentDef, now: Instant) {
        match self.agents.get_mut(&def.id) {
            Some(a) => a.def = def,
            None => {
                let agent = Agent {
                    def: def.clone(),
                    presence: Presence::Away,
                    since: now,
                    idle_since: now,
                    registered: false,
                    call: None,
                };
                self.agents.insert(def.id, agent);
            }
        }
        self.assign(now);
    }

    /// Removes an agent; a call ringing them goes to the next one.
    pub fn remove_agent(&mut self, id: &str, now: Instant) {
        if let Some(a) = self.agents.remove(id)
            && let Some(call) = a.call
        {
            self.release_offer(&call, id, "agent-removed");
        }
        self.assign(now);
    }

    /// The agent's SIP phone registered or its binding went away.
    pub fn set_registered(&mut self, id: &str, registered: bool, now: Instant) {
        if let Some(a) = self.agents.get_mut(id) {
            a.registered = registered;
        }
        self.assign(now);
    }

    /// The agent chose available or away. Refused while on a call or ringing (koe sets those).
    pub fn set_presence(&mut self, id: &str, presence: Presence, now: Instant) -> Result<(), String> {
        let agent = self.agents.get(id).ok_or_else(|| format!("no agent {id}"))?;
        if !matches!(presence, Presence::Available | Presence::Away) {
            return Err(format!("{} is set by koe, not by the agent", presence.as_str()));
        }
        if agent.presence == Presence::OnCall || agent.call.is_some() {
            return Err("the agent is on a call".into());
        }
        self.change(id, presence, now);
        self.assign(now);
        Ok(())
    }

    /// A caller joins its queue.
    pub fn enqueue(&mut self, req: Request, now: Instant) {
        self.leave(&req.call_id, now);
        self.waiting.push_back(Waiting {
            call_id: req.call_id,
            queue: req.queue,
            skills: req.skills,
            language: req.language,
            agent: req.agent,
            overflow: req.overflow,
            since: now,
            tried: HashSet::new(),
            offer: None,
            position: 0,
        });
        self.assign(now);
    }

    /// The caller left the queue (hung up, or went elsewhere): an offer ringing is withdrawn.
    pub fn leave(&mut self, call_id: &str, now: Instant) {
        if let Some(i) = self.waiting.iter().position(|w| w.call_id == call_id) {
            let w = self.waiting.remove(i).expect("found");
            if let Some((agent, _)) = w.offer {
                self.free_agent(&agent, now, false);
                self.outputs.push_back(Output::Withdraw {
                    call_id: w.call_id,
                    agent,
                    cause: "caller-left".into(),
                });
            }
            self.assign(now);
        }
    }

    /// The agent answered: the call leaves the queue and the agent is on it.
    pub fn answered(&mut self, call_id: &str, agent: &str, now: Instant) {
        if let Some(i) = self.waiting.iter().position(|w| w.call_id == call_id) {
            self.waiting.remove(i);
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.call = Some(call_id.to_string());
        }
        self.change(agent, Presence::OnCall, now);
        self.assign(now);
    }

    /// The agent's phone refused or failed the offer: they are set away and the next agent is tried.
    pub fn offer_failed(&mut self, call_id: &str, agent: &str, now: Instant) {
        let offered = self
            .waiting
            .iter_mut()
            .find(|w| w.call_id == call_id && w.offer.as_ref().is_some_and(|(a, _)| a == agent));
        if let Some(w) = offered {
            w.offer = None;
            w.tried.insert(agent.to_string());
            self.free_agent(agent, now, true);
        }
        self.assign(now);
    }

    /// The agent's part of the call ended: wrap-up.
    pub fn agent_done(&mut self, agent: &str, now: Instant) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.call = None;
        }
        if self
            .agents
            .get(agent)
            .is_some_and(|a| a.presence == Presence::OnCall)
        {
            self.change(agent, Presence::WrapUp, now);
        }
    }

    /// The agent finished the wrap-up: available again.
    pub fn wrapped_up(&mut self, agent: &str, now: Instant) {
        if self
            .agents
            .get(agent)
            .is_some_and(|a| a.presence == Presence::WrapUp)
        {
            self.change(agent, Presence::Available, now);
            self.assign(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let offers = self
            .waiting
            .iter()
            .filter_map(|w| w.offer.as_ref().map(|(_, t)| *t));
        let waits = self
            .waiting
            .iter()
            .filter(|w| w.offer.is_none() && w.overflow)
            .map(|w| {
                let staffed = self.agents.values().any(|a| a.registered && Self::fits(a, w));
                let wait = if staffed {
                    self.config.max_wait
                } else {
                    self.config.unstaffed_wait
                };
                w.since + wait.min(self.config.max_wait)
            });
        let wrap = self
            .agents
            .values()
            .filter(|a| a.presence == Presence::WrapUp)
            .map(|a| a.since + self.config.wrap_up);
        offers.chain(waits).chain(wrap).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let rang_out: Vec<(String, String)> = self
            .waiting
            .iter()
            .filter_map(|w| match &w.offer {
                Some((agent, until)) if now >= *until => Some((w.call_id.clone(), agent.clone())),
                _ => None,
            })
            .collect();
        for (call_id, agent) in rang_out {
            self.outputs.push_back(Output::Withdraw {
                call_id: call_id.clone(),
                agent: agent.clone(),
                cause: "no-answer".into(),
            });
            self.offer_failed(&call_id, &agent, now);
        }
        let wrapped: Vec<String> = self
            .agents
            .values()
            .filter(|a| a.presence == Presence::WrapUp && now >= a.since + self.config.wrap_up)
            .map(|a| a.def.id.clone())
            .collect();
        for agent in wrapped {
            self.wrapped_up(&agent, now);
        }
        self.overflow(now);
    }

    /// Callers who waited too long, or for whom nobody is staffed, leave by the overflow (not while an
    /// agent's phone is ringing for them: that offer settles first).
    fn overflow(&mut self, now: Instant) {
        let mut out = Vec::new();
        for w in self.waiting.iter().filter(|w| w.offer.is_none() && w.overflow) {
            let waited = now.saturating_duration_since(w.since);
            let staffed = self.agents.values().any(|a| a.registered && Self::fits(a, w));
            let cause = if waited >= self.config.max_wait {
                "max-wait"
            } else if !staffed && waited >= self.config.unstaffed_wait {
                "no-agents"
            } else {
                continue;
            };
            out.push((w.call_id.clone(), w.queue.clone(), cause));
        }
        let any = !out.is_empty();
        for (call_id, queue, cause) in out {
            self.waiting.retain(|w| w.call_id != call_id);
            self.outputs.push_back(Output::Overflow {
                call_id,
                queue,
                cause: cause.into(),
            });
        }
        if any {
            self.positions();
        }
    }

    fn fits(a: &Agent, w: &Waiting) -> bool {
        w.agent.as_ref().is_none_or(|only| only == &a.def.id) && a.def.can_take(w)
    }

    /// Offers every waiting call that has no offer to the best free agent for it, oldest call first.
    fn assign(&mut self, now: Instant) {
        for i in 0..self.waiting.len() {
            if self.waiting[i].offer.is_some() {
                continue;
            }
            let w = &self.waiting[i];
            let best = self
                .agents
                .values()
                .filter(|a| {
                    a.presence == Presence::Available
                        && a.registered
                        && a.call.is_none()
                        && !w.tried.contains(&a.def.id)
                        && Self::fits(a, w)
                })
                .min_by_key(|a| (a.idle_since, std::cmp::Reverse(a.def.level_for(&w.skills))))
                .map(|a| a.def.id.clone());
            let Some(agent) = best else { continue };
            let w = &mut self.waiting[i];
            w.offer = Some((agent.clone(), now + self.config.offer_timeout));
            let (call_id, attempt) = (w.call_id.clone(), w.tried.len() as u32 + 1);
            self.agents.get_mut(&agent).expect("chosen").call = Some(call_id.clone());
            self.outputs.push_back(Output::Offer {
                call_id,
                agent,
                attempt,
            });
        }
        self.positions();
    }

    /// Positions in each queue, first come first served; announced when they change.
    fn positions(&mut self) {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for w in &self.waiting {
            *counts.entry(w.queue.clone()).or_default() += 1;
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for w in self.waiting.iter_mut() {
            let n = seen.entry(w.queue.clone()).or_default();
            *n += 1;
            if w.position != *n {
                w.position = *n;
                self.outputs.push_back(Output::Position {
                    call_id: w.call_id.clone(),
                    queue: w.queue.clone(),
                    position: *n,
                    waiting: counts[&w.queue],
                });
            }
        }
    }

    fn release_offer(&mut self, call_id: &str, agent: &str, cause: &str) {
        if let Some(w) = self.waiting.iter_mut().find(|w| w.call_id == call_id) {
            w.offer = None;
            w.tried.insert(agent.to_string());
            self.outputs.push_back(Output::Withdraw {
                call_id: call_id.to_string(),
                agent: agent.to_string(),
                cause: cause.to_string(),
            });
        }
    }

    /// The agent is no longer ringing; `missed`: set away, as they did not answer.
    fn free_agent(&mut self, agent: &str, now: Instant, missed: bool) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.call = None;
        }
        if missed {
            self.change(agent, Presence::Away, now);
        }
    }

    fn change(&mut self, agent: &str, presence: Presence, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.presence != presence {
            a.presence = presence;
            a.since = now;
            if presence == Presence::Available {
                a.idle_since = now;
            }
            self.outputs.push_back(Output::Presence {
                agent: agent.to_string(),
                presence,
            });
        }
    }

    pub fn agents(&self, now: Instant) -> Vec<AgentView> {
        self.agents
            .values()
            .map(|a| AgentView {
                def: a.def.clone(),
                presence: a.presence,
                since_ms: now.saturating_duration_since(a.since).as_millis() as u64,
                registered: a.registered,
                call_id: a.call.clone(),
            })
            .collect()
    }

    pub fn agent(&self, id: &str, now: Instant) -> Option<AgentView> {
        self.agents(now).into_iter().find(|a| a.def.id == id)
    }

    pub fn queues(&self, now: Instant) -> Vec<QueueView> {
        let mut queues: BTreeMap<String, QueueView> = BTreeMap::new();
        for w in &self.waiting {
            let waited_ms = now.saturating_duration_since(w.since).as_millis() as u64;
            let q = queues.entry(w.queue.clone()).or_insert_with(|| QueueView {
                name: w.queue.clone(),
                waiting: Vec::new(),
                longest_wait_ms: 0,
            });
            q.longest_wait_ms = q.longest_wait_ms.max(waited_ms);
            q.waiting.push(WaitingView {
                call_id: w.call_id.clone(),
                waited_ms,
                position: w.position,
                offered_to: w.offer.as_ref().map(|(a, _)| a.clone()),
            });
        }
        queues.into_values().collect()
    }
}

#[cfg(test)]
mod tests;
