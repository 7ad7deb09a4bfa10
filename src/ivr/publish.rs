//! Publishing a flow version: validate → render its prompts → store it as the next version and make it
//! active → swap it into the [`Registry`] that new calls read. A flow that fails any step is refused
//! with every issue found, and the published version stays as it was. Rollback is a publish of an old
//! version's body, so history only grows.

use super::flow::Flow;
use super::prompts::{PromptLibrary, PromptSet};
use super::registry::{Published, Registry};
use super::validate::{self, Context, Issue};
use crate::store::{Store, StoreError, now_ms};
use crate::tts::Tts;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the flow is not valid ({} issues)", .0.len())]
    Invalid(Vec<Issue>),
    /// Names what is missing, e.g. "version 7 of flow support".
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rendering thread died (a bug, not bad input).
    #[error("prompt rendering failed: {0}")]
    Render(String),
}

/// Everything a publish touches. One per process, shared by the HTTP API and `koe serve`'s start-up.
pub struct Publisher {
    store: Store,
    registry: Arc<Registry>,
    tts: Arc<Tts>,
    library: Arc<PromptLibrary>,
    /// The flow calls enter: the first flow the database got. Held for a whole publish, so publishes
    /// take their version numbers and reach the registry one at a time, in order.
    entry: Mutex<Option<String>>,
}

impl Publisher {
    pub fn new(store: Store, registry: Arc<Registry>, tts: Arc<Tts>, library: Arc<PromptLibrary>) -> Self {
        Publisher {
            store,
            registry,
            tts,
            library,
            entry: Mutex::new(None),
        }
    }

    pub fn library(&self) -> &Arc<PromptLibrary> {
        &self.library
    }

    /// What flows may refer to now: the languages with a voice and the uploaded prompts.
    pub fn context(&self) -> Context {
        Context {
            tts_languages: self.tts.languages(),
            wav_prompts: self.library.names(),
        }
    }

    pub fn validate(&self, json: &Value) -> Result<Flow, Vec<Issue>> {
        validate::validate(json, &self.context())
    }

    /// Loads the entry flow's active version from the database into the registry; its version, or
    /// `None` when the database has no flow yet.
    pub async fn load_active(&self) -> Result<Option<i64>, PublishError> {
        let mut entry = self.entry.lock().await;
        let Some(id) = self.store.entry_flow_id().await? else {
            return Ok(None);
        };
        let active = self
            .store
            .active_flow(&id)
            .await?
            .ok_or_else(|| PublishError::NotFound(format!("active version of flow {id}")))?;
        let (flow, prompts) = self.prepare(&parse_body(&active.body)?, Some(&id)).await?;
        *entry = Some(id);
        self.registry.set(Published {
            flow: Arc::new(flow),
            version: active.version,
            prompts: Arc::new(prompts),
        });
        Ok(Some(active.version))
    }

    /// Publishes `json` as the next version of its flow; `flow_id`, when given, must be the flow's `id`.
    pub async fn publish(
        &self,
        flow_id: Option<&str>,
        json: &Value,
        author: &str,
        comment: &str,
    ) -> Result<i64, PublishError> {
        let mut entry = self.entry.lock().await;
        let (flow, prompts) = self.prepare(json, flow_id).await?;
        let body = serde_json::to_string(json).expect("a JSON value serialises");
        let version = self
            .store
            .add_flow_version(&flow.id, &body, author, comment, now_ms())
            .await?;
        let serves_calls = entry.get_or_insert_with(|| flow.id.clone()) == &flow.id;
        if serves_calls {
            self.registry.set(Published {
                flow: Arc::new(flow),
                version,
                prompts: Arc::new(prompts),
            });
        }
        Ok(version)
    }

    /// Publishes version `version`'s body again as a new version.
    pub async fn rollback(
        &self,
        flow_id: &str,
        version: i64,
        author: &str,
        comment: &str,
    ) -> Result<i64, PublishError> {
        let old = self
            .store
            .flow_version(flow_id, version)
            .await?
            .ok_or_else(|| PublishError::NotFound(format!("version {version} of flow {flow_id}")))?;
        let comment = match comment.trim() {
            "" => format!("rollback to version {version}"),
            c => format!("rollback to version {version}: {c}"),
        };
        self.publish(Some(flow_id), &parse_body(&old.body)?, author, &comment)
            .await
    }

    /// Validation, then the prompts rendered (blocking work, off the async threads); every issue of the
    /// step that failed.
    async fn prepare(&self, json: &Value, flow_id: Option<&str>) -> Result<(Flow, PromptSet), PublishError> {
        let mut issues = Vec::new();
        if let Some(expected) = flow_id {
            let got = json.get("id").and_then(Value::as_str);
            if got.is_some_and(|got| got != expected) {
                issues.push(Issue {
                    node: None,
                    path: "id".into(),
                    message: format!(
                        "the flow's id is {:?} but it is published as {expected:?}",
                        got.unwrap_or_default()
                    ),
                });
            }
        }
        let validated = self.validate(json);
        let flow = match validated {
            Ok(flow) if issues.is_empty() => flow,
            Ok(_) => return Err(PublishError::Invalid(issues)),
            Err(more) => {
                issues.extend(more);
                return Err(PublishError::Invalid(issues));
            }
        };
        let (tts, library) = (self.tts.clone(), self.library.clone());
        tokio::task::spawn_blocking(move || {
            PromptSet::render(&flow, &tts, &library).map(|prompts| (flow, prompts))
        })
        .await
        .map_err(|e| PublishError::Render(e.to_string()))?
        .map_err(PublishError::Invalid)
    }
}

/// A stored body; it was valid JSON when stored, so anything else is a damaged database.
fn parse_body(body: &str) -> Result<Value, PublishError> {
    serde_json::from_str(body).map_err(|e| {
        PublishError::Invalid(vec![Issue {
            node: None,
            path: String::new(),
            message: format!("the stored flow is not JSON: {e}"),
        }])
    })
}
