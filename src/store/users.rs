//! Accounts (name, password hash, role) and their sign-in sessions. Hashing and tokens are the caller's
//! business (`web::auth`): the store only keeps what it is given.

use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
    Supervisor,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Agent, Role::Supervisor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// Argon2id in PHC string format.
    pub password_hash: String,
    pub role: Role,
    pub created_at_ms: i64,
}

/// Who a live session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub expires_at_ms: i64,
}

impl Store {
    /// Creates the account; `false` (and nothing changed) if the name is taken.
    pub async fn add_user(&self, user: &User) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (name, password_hash, role, created_at_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT name, password_hash, role, created_at_ms FROM users WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(User {
                name: row.try_get("name")?,
                password_hash: row.try_get("password_hash")?,
                role: parse_role(row.try_get("role")?)?,
                created_at_ms: row.try_get("created_at_ms")?,
            })
        })
        .transpose()
    }

    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Replaces the password and ends every session of the account (whoever knew the old one is out);
    /// `false` for an unknown user.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = ?2 WHERE name = ?1")
            .bind(name)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_name = ?1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Starts a session; also forgets sessions that have expired by `now_ms`.
    pub async fn add_session(
        &self,
        token_hash: &str,
        user: &str,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= ?1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_name, expires_at_ms) VALUES (?1, ?2, ?3)")
            .bind(token_hash)
            .bind(user)
            .bind(expires_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The session of `token_hash` if it is still valid at `now_ms`.
    pub async fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT s.user_name, u.role, s.expires_at_ms FROM sessions s \
             JOIN users u ON u.name = s.user_name \
             WHERE s.token_hash = ?1 AND s.expires_at_ms > ?2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Session {
                user: row.try_get("user_name")?,
                role: parse_role(row.try_get("role")?)?,
                expires_at_ms: row.try_get("expires_at_ms")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn parse_role(s: String) -> Result<Role, StoreError> {
    Role::parse(&s).ok_or(StoreError::UnknownRole(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role) -> User {
        User {
            name: name.into(),
            password_hash: format!("hash-of-{name}"),
            role,
            created_at_ms: 7,
        }
    }

    #[tokio::test]
    async fn users_round_trip_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.user_count().await.unwrap(), 0);
        assert!(store.add_user(&user("admin", Role::Admin)).await.unwrap());
        assert!(store.add_user(&user("ann", Role::Agent)).await.unwrap());
        assert!(!store.add_user(&user("ann", Role::Admin)).await.unwrap());
        assert_eq!(store.user_count().await.unwrap(), 2);
        assert_eq!(store.user("ann").await.unwrap(), Some(user("ann", Role::Agent)));
        assert_eq!(store.user("nobody").await.unwrap(), None);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[tokio::test]
    async fn sessions_expire_and_end_with_a_new_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store.add_user(&user("sue", Role::Supervisor)).await.unwrap();
        store.add_session("t1", "sue", 2_000, 1_000).await.unwrap();
        store.add_session("t2", "sue", 5_000, 1_000).await.unwrap();

        let live = store.session("t1", 1_999).await.unwrap().unwrap();
        assert_eq!(
            live,
            Session {
                user: "sue".into(),
                role: Role::Supervisor,
                expires_at_ms: 2_000
            }
        );
        assert_eq!(store.session("t1", 2_000).await.unwrap(), None, "expired");
        assert_eq!(store.session("nope", 0).await.unwrap(), None);

        store.delete_session("t2").await.unwrap();
        assert_eq!(store.session("t2", 1_000).await.unwrap(), None);

        store.add_session("t3", "sue", 9_000, 3_000).await.unwrap();
        assert!(store.set_password("sue", "new-hash").await.unwrap());
        assert_eq!(store.session("t3", 3_000).await.unwrap(), None);
        assert_eq!(
            store.user("sue").await.unwrap().unwrap().password_hash,
            "new-hash"
        );
        assert!(!store.set_password("ghost", "x").await.unwrap());
        // A session for an account that does not exist is refused by the schema.
        assert!(store.add_session("t4", "ghost", 9_000, 3_000).await.is_err());
    }
}
