//! IVR flow versions: an append-only history per flow and a pointer to the version new calls get.

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// One stored version of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowVersion {
    pub flow_id: String,
    pub version: i64,
    /// The flow as JSON text, as it was published.
    pub body: String,
    pub author: String,
    pub comment: String,
    pub created_at_ms: i64,
}

/// A flow's live version, with how many versions it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFlow {
    pub active: FlowVersion,
    pub versions: i64,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

/// A version in a flow's history, without its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: i64,
    pub author: String,
    pub comment: String,
    pub created_at_ms: i64,
    /// Whether this is the version new calls get.
    pub active: bool,
}

/// `SELECT` of every column `version_from_row` reads from `flow_versions v`, then the rest of the query:
/// a macro so that each query stays one `&'static str`.
macro_rules! select_versions {
    ($($rest:literal),+) => {
        concat!(
            "SELECT v.flow_id, v.version, v.body, v.author, v.comment, v.created_at_ms ",
            $($rest),+
        )
    };
}

impl Store {
    /// Appends the next version of `flow_id` (1 for a new flow) and makes it the active one, in one
    /// transaction; returns its number.
    pub async fn add_flow_version(
        &self,
        flow_id: &str,
        body: &str,
        author: &str,
        comment: &str,
        at_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The number is computed in the INSERT itself, so two writers cannot both take N+1: the second
        // fails on the primary key instead of overwriting.
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO flow_versions (flow_id, version, body, author, comment, created_at_ms) \
             SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3, ?4, ?5 FROM flow_versions \
             WHERE flow_id = ?1 \
             RETURNING version",
        )
        .bind(flow_id)
        .bind(body)
        .bind(author)
        .bind(comment)
        .bind(at_ms)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO flow_active (flow_id, version, updated_at_ms, updated_by) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (flow_id) DO UPDATE SET version = excluded.version, \
                 updated_at_ms = excluded.updated_at_ms, updated_by = excluded.updated_by",
        )
        .bind(flow_id)
        .bind(version)
        .bind(at_ms)
        .bind(author)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Every flow with its active version, by id.
    pub async fn flows(&self) -> Result<Vec<ActiveFlow>, StoreError> {
        let rows = sqlx::query(select_versions!(
            ", a.updated_at_ms, a.updated_by, \
                 (SELECT COUNT(*) FROM flow_versions c WHERE c.flow_id = a.flow_id) AS versions \
             FROM flow_active a \
             JOIN flow_versions v ON v.flow_id = a.flow_id AND v.version = a.version \
             ORDER BY a.flow_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActiveFlow {
                    active: version_from_row(row)?,
                    versions: row.try_get("versions")?,
                    updated_at_ms: row.try_get("updated_at_ms")?,
                    updated_by: row.try_get("updated_by")?,
                })
            })
            .collect()
    }

    /// The version of `flow_id` that new calls get; `None` for an unknown flow.
    pub async fn active_flow(&self, flow_id: &str) -> Result<Option<FlowVersion>, StoreError> {
        let row = sqlx::query(select_versions!(
            "FROM flow_active a \
             JOIN flow_versions v ON v.flow_id = a.flow_id AND v.version = a.version \
             WHERE a.flow_id = ?1"
        ))
        .bind(flow_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    pub async fn flow_version(&self, flow_id: &str, version: i64) -> Result<Option<FlowVersion>, StoreError> {
        let row = sqlx::query(select_versions!(
            "FROM flow_versions v WHERE v.flow_id = ?1 AND v.version = ?2"
        ))
        .bind(flow_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// The history of `flow_id`, newest first; empty for an unknown flow.
    pub async fn flow_history(&self, flow_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.version, v.author, v.comment, v.created_at_ms, \
                 (a.version IS NOT NULL) AS active \
             FROM flow_versions v \
             LEFT JOIN flow_active a ON a.flow_id = v.flow_id AND a.version = v.version \
             WHERE v.flow_id = ?1 ORDER BY v.version DESC",
        )
        .bind(flow_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(VersionInfo {
                    version: row.try_get("version")?,
                    author: row.try_get("author")?,
                    comment: row.try_get("comment")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                    active: row.try_get("active")?,
                })
            })
            .collect()
    }

    /// The flow the database got first: the one calls enter (koe serves one entry flow).
    pub async fn entry_flow_id(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT flow_id FROM flow_versions WHERE version = 1 \
             ORDER BY created_at_ms, flow_id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }
}

fn version_from_row(row: &SqliteRow) -> Result<FlowVersion, StoreError> {
    Ok(FlowVersion {
        flow_id: row.try_get("flow_id")?,
        version: row.try_get("version")?,
        body: row.try_get("body")?,
        author: row.try_get("author")?,
        comment: row.try_get("comment")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn versions_append_and_the_newest_is_active() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert!(store.flows().await.unwrap().is_empty());
        assert_eq!(store.entry_flow_id().await.unwrap(), None);

        assert_eq!(
            store
                .add_flow_version("support", r#"{"v":1}"#, "system", "initial", 1_000)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .add_flow_version("support", r#"{"v":2}"#, "alice", "new menu", 2_000)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .add_flow_version("sales", r#"{"s":1}"#, "bob", "", 3_000)
                .await
                .unwrap(),
            1
        );

        let active = store.active_flow("support").await.unwrap().unwrap();
        assert_eq!(
            active,
            FlowVersion {
                flow_id: "support".into(),
                version: 2,
                body: r#"{"v":2}"#.into(),
                author: "alice".into(),
                comment: "new menu".into(),
                created_at_ms: 2_000,
            }
        );
        let v1 = store.flow_version("support", 1).await.unwrap().unwrap();
        assert_eq!((v1.body.as_str(), v1.author.as_str()), (r#"{"v":1}"#, "system"));
        assert_eq!(store.flow_version("support", 3).await.unwrap(), None);
        assert_eq!(store.active_flow("nope").await.unwrap(), None);

        let history = store.flow_history("support").await.unwrap();
        let summary: Vec<_> = history
            .iter()
            .map(|v| (v.version, v.author.as_str(), v.active))
            .collect();
        assert_eq!(summary, [(2, "alice", true), (1, "system", false)]);
        assert!(store.flow_history("nope").await.unwrap().is_empty());

        let flows = store.flows().await.unwrap();
        let summary: Vec<_> = flows
            .iter()
            .map(|f| {
                (
                    f.active.flow_id.as_str(),
                    f.active.version,
                    f.versions,
                    f.updated_at_ms,
                    f.updated_by.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("sales", 1, 1, 3_000, "bob"), ("support", 2, 2, 2_000, "alice")]
        );
        assert_eq!(store.entry_flow_id().await.unwrap().as_deref(), Some("support"));
    }

    #[tokio::test]
    async fn history_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).await.unwrap();
            for n in 1..=3 {
                store
                    .add_flow_version("support", &format!("{{\"n\":{n}}}"), "a", "", n)
                    .await
                    .unwrap();
            }
            store.pool.close().await;
        }
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.active_flow("support").await.unwrap().unwrap().version, 3);
        assert_eq!(store.flow_history("support").await.unwrap().len(), 3);
    }
}
