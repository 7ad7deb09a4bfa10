//! Agents, the wrap-ups they save, the summaries of calls, and a caller's history.

use super::{HistoryItem, ServiceRecord, Store, StoreError, WrapUp};
use crate::routing::router::AgentDef;
use sqlx::Row;

/// An agent as stored: who they are, and their phone's SIP password.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub def: AgentDef,
    pub sip_password: Option<String>,
}

fn corrupt(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl Store {
    pub async fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, skills, languages, sip_password FROM agents ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let skills: String = r.try_get("skills")?;
                let languages: String = r.try_get("languages")?;
                Ok(AgentRow {
                    def: AgentDef {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        skills: serde_json::from_str(&skills).map_err(|e| corrupt("agent skills", e))?,
                        languages: serde_json::from_str(&languages)
                            .map_err(|e| corrupt("agent languages", e))?,
                    },
                    sip_password: r.try_get("sip_password")?,
                })
            })
            .collect()
    }

    /// Adds or replaces an agent; a `None` password keeps the stored one.
    pub async fn upsert_agent(&self, def: &AgentDef, sip_password: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agents (id, name, skills, languages, sip_password, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, skills = excluded.skills, \
                 languages = excluded.languages, \
                 sip_password = COALESCE(excluded.sip_password, agents.sip_password), \
                 updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&def.id)
        .bind(&def.name)
        .bind(serde_json::to_string(&def.skills).expect("skills serialise"))
        .bind(serde_json::to_string(&def.languages).expect("languages serialise"))
        .bind(sip_password)
        .bind(super::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_agent(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM agents WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Saves (or replaces) the agent's wrap-up of a call.
    pub async fn save_wrapup(&self, call_id: &str, w: &WrapUp) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO wrapups (call_id, agent, reason, disposition, notes, saved_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (call_id) DO UPDATE SET agent = excluded.agent, reason = excluded.reason, \
                 disposition = excluded.disposition, notes = excluded.notes, \
                 saved_at_ms = excluded.saved_at_ms",
        )
        .bind(call_id)
        .bind(&w.agent)
        .bind(&w.reason)
        .bind(&w.disposition)
        .bind(&w.notes)
        .bind(w.saved_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn wrapup(&self, call_id: &str) -> Result<Option<WrapUp>, StoreError> {
        let row = sqlx::query(
            "SELECT agent, reason, disposition, notes, saved_at_ms FROM wrapups WHERE call_id = ?1",
        )
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| wrapup_from(&r, "")).transpose().map(Option::flatten)
    }

    /// Stores the call's summary (any JSON document; the assist module writes it).
    pub async fn set_summary(&self, call_id: &str, summary: &serde_json::Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE calls SET summary = ?2 WHERE id = ?1")
            .bind(call_id)
            .bind(summary.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn summary(&self, call_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let s: Option<Option<String>> = sqlx::query_scalar("SELECT summary FROM calls WHERE id = ?1")
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await?;
        s.flatten()
            .map(|s| serde_json::from_str(&s).map_err(|e| corrupt("summary", e)))
            .transpose()
    }

    /// The caller's earlier calls, newest first, leaving out `except` (the call in progress).
    pub async fn history(
        &self,
        number: &str,
        except: &str,
        limit: u32,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.invite_at_ms, c.ended_at_ms, c.ivr, c.service, c.summary, \
                 w.agent AS w_agent, w.reason, w.disposition, w.notes, w.saved_at_ms \
             FROM calls c LEFT JOIN wrapups w ON w.call_id = c.id \
             WHERE c.caller_number = ?1 AND c.id <> ?2 \
             ORDER BY c.invite_at_ms DESC LIMIT ?3",
        )
        .bind(number)
        .bind(except)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let ivr: Option<super::IvrRecord> = r
                    .try_get::<Option<String>, _>("ivr")?
                    .map(|s| serde_json::from_str(&s).map_err(|e| corrupt("ivr", e)))
                    .transpose()?;
                let service: Option<ServiceRecord> = r
                    .try_get::<Option<String>, _>("service")?
                    .map(|s| serde_json::from_str(&s).map_err(|e| corrupt("service", e)))
                    .transpose()?;
                let summary = r
                    .try_get::<Option<String>, _>("summary")?
                    .map(|s| serde_json::from_str(&s).map_err(|e| corrupt("summary", e)))
                    .transpose()?;
                Ok(HistoryItem {
                    call_id: r.try_get("id")?,
                    started_at_ms: r.try_get("invite_at_ms")?,
                    ended_at_ms: r.try_get("ended_at_ms")?,
                    queue: service.as_ref().map(|s| s.queue.clone()),
                    agent: service.and_then(|s| s.agent),
                    intent: ivr.and_then(|i| i.vars.get("intent").cloned()),
                    wrapup: wrapup_from(r, "w_")?,
                    summary,
                })
            })
            .collect()
    }
}

/// A wrap-up from a row whose agent column is `<prefix>agent`; None when the join found none.
fn wrapup_from(r: &sqlx::sqlite::SqliteRow, prefix: &str) -> Result<Option<WrapUp>, StoreError> {
    let agent: Option<String> = r.try_get(format!("{prefix}agent").as_str())?;
    let Some(agent) = agent else { return Ok(None) };
    Ok(Some(WrapUp {
        agent,
        reason: r.try_get("reason")?,
        disposition: r.try_get("disposition")?,
        notes: r.try_get("notes")?,
        saved_at_ms: r.try_get("saved_at_ms")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CallRecord;

    #[tokio::test]
    async fn agents_wrapups_summaries_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let def = AgentDef {
            id: "ann".into(),
            name: "Ann".into(),
            skills: [("orders".to_string(), 2)].into(),
            languages: vec!["en".into()],
        };
        store.upsert_agent(&def, Some("pw")).await.unwrap();
        let mut renamed = def.clone();
        renamed.name = "Ann B".into();
        store.upsert_agent(&renamed, None).await.unwrap();
        let agents = store.agents().await.unwrap();
        assert_eq!(
            agents,
            [AgentRow {
                def: renamed,
                sip_password: Some("pw".into())
            }]
        );

        for (id, at) in [("c1", 1000), ("c2", 2000), ("c3", 3000)] {
            let mut c = CallRecord::new(id, "sip:+81 90-1111@pstn", "sip:support@koe", at);
            c.service = Some(ServiceRecord {
                queue: "orders".into(),
                agent: Some("ann".into()),
                ..ServiceRecord::default()
            });
            store.upsert_call(&c).await.unwrap();
        }
        store
            .upsert_call(&CallRecord::new(
                "other",
                "sip:+8190222@pstn",
                "sip:support@koe",
                1500,
            ))
            .await
            .unwrap();
        let w = WrapUp {
            agent: "ann".into(),
            reason: "Late delivery".into(),
            disposition: "resolved".into(),
            notes: "new date given".into(),
            saved_at_ms: 1100,
        };
        store.save_wrapup("c1", &w).await.unwrap();
        store
            .set_summary("c1", &serde_json::json!({"reason": "late"}))
            .await
            .unwrap();
        assert_eq!(store.wrapup("c1").await.unwrap(), Some(w.clone()));
        assert_eq!(store.wrapup("c2").await.unwrap(), None);

        let h = store.history("+81901111", "c3", 10).await.unwrap();
        assert_eq!(
            h.iter().map(|i| i.call_id.as_str()).collect::<Vec<_>>(),
            ["c2", "c1"]
        );
        assert_eq!(h[1].wrapup, Some(w));
        assert_eq!(h[1].summary, Some(serde_json::json!({"reason": "late"})));
        assert_eq!(h[1].queue.as_deref(), Some("orders"));
        assert!(store.delete_agent("ann").await.unwrap());
        assert!(store.agents().await.unwrap().is_empty());
    }
}
