//! Sign-in: accounts with roles, sessions by random token (a cookie for browsers, a bearer token for
//! scripts), the extractors that guard routes, and the first admin account.
//!
//! Routes: `POST /api/login`, `POST /api/logout`, `GET /api/me`, `POST /api/users` (docs/API.md).

mod cli;
pub mod password;

pub use cli::{UsersArgs, run as users_cli};

use super::AppState;
use super::body;
use super::error::ApiError;
use crate::config::AdminConfig;
use crate::store::{Role, Store, User, now_ms};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// The session cookie.
pub const COOKIE: &str = "koe_session";

/// Length of the generated first admin password.
const BOOTSTRAP_PASSWORD_LEN: usize = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/users", post(add_user))
        .layer(body::JSON.layer())
}

/// A request from a signed-in user, any role. As an extractor: 401 without a valid session.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    pub user: String,
    pub role: Role,
    pub expires_at_ms: i64,
}

/// A request from a signed-in admin: 401 without a valid session, 403 for another role.
#[derive(Debug, Clone)]
pub struct Admin(pub SignedIn);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token(&parts.headers).ok_or_else(|| ApiError::Unauthorized("sign-in required".into()))?;
        let session = state
            .store
            .session(&password::token_hash(token), now_ms())
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized("the session has expired or is unknown: sign in again".into())
            })?;
        Ok(SignedIn {
            user: session.user,
            role: session.role,
            expires_at_ms: session.expires_at_ms,
        })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let who = SignedIn::from_request_parts(parts, state).await?;
        if who.role != Role::Admin {
            return Err(ApiError::Forbidden(format!(
                "this needs the admin role; {} is {}",
                who.user,
                who.role.as_str()
            )));
        }
        Ok(Admin(who))
    }
}

/// The token of `Authorization: Bearer …`, else of the session cookie.
fn token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

#[derive(Serialize)]
struct LoggedIn {
    token: String,
    user: String,
    role: Role,
    expires_at_ms: i64,
}

async fn login(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Login { user, password } = body::JSON.json(body)?;
    let account = state.store.user(&user).await?;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    // Unknown users are checked against a decoy hash: same time, same answer as a wrong password.
    let matches = blocking(move || password::verify(&password, stored.as_deref())).await?;
    let Some(account) = account.filter(|_| matches) else {
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    };
    let token = password::new_token();
    let now = now_ms();
    let ttl = state.session_ttl;
    let expires_at_ms = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    state
        .store
        .add_session(&password::token_hash(&token), &account.name, expires_at_ms, now)
        .await?;
    info!(user = %account.name, "signed in");
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        ttl.as_secs()
    );
    let reply = LoggedIn {
        token,
        user: account.name,
        role: account.role,
        expires_at_ms,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(reply)).into_response())
}

/// Ends the session the request carries (if any) and clears the cookie; always 204.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = token(&headers) {
        state.store.delete_session(&password::token_hash(token)).await?;
    }
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]))
}

async fn me(who: SignedIn) -> Json<SignedIn> {
    Json(who)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    role: Role,
}

#[derive(Serialize)]
struct UserInfo {
    name: String,
    role: Role,
    created_at_ms: i64,
}

async fn add_user(
    State(state): State<AppState>,
    Admin(who): Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let NewUser { name, password, role } = body::JSON.json(body)?;
    let user = create_user(&state.store, &name, &password, role).await?;
    info!(user = %user.name, role = user.role.as_str(), by = %who.user, "user created");
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            name: user.name,
            role: user.role,
            created_at_ms: user.created_at_ms,
        }),
    ))
}

/// Creates an account: 400 for a bad name or password, 409 if the name is taken.
pub async fn create_user(store: &Store, name: &str, password: &str, role: Role) -> Result<User, ApiError> {
    password::check_name(name).map_err(ApiError::BadRequest)?;
    password::check_password(password).map_err(ApiError::BadRequest)?;
    let pw = password.to_string();
    let user = User {
        name: name.to_string(),
        password_hash: blocking(move || password::hash(&pw)).await?,
        role,
        created_at_ms: now_ms(),
    };
    if !store.add_user(&user).await? {
        return Err(ApiError::Conflict(format!("user {name} already exists")));
    }
    Ok(user)
}

/// Replaces an account's password and ends its sessions: 400 for a bad password, 404 for no such user.
pub async fn set_password(store: &Store, name: &str, password: &str) -> Result<(), ApiError> {
    password::check_password(password).map_err(ApiError::BadRequest)?;
    let pw = password.to_string();
    let hash = blocking(move || password::hash(&pw)).await?;
    if !store.set_password(name, &hash).await? {
        return Err(ApiError::NotFound(format!("user {name}")));
    }
    Ok(())
}

/// With no account at all, creates `admin` with the configured password or a random one, which is
/// logged this once (it is stored only as a hash).
pub async fn bootstrap(store: &Store, config: &AdminConfig) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let generated = config.bootstrap_password.is_empty();
    let password = if generated {
        password::random_password(BOOTSTRAP_PASSWORD_LEN)
    } else {
        config.bootstrap_password.clone()
    };
    match create_user(store, "admin", &password, Role::Admin).await {
        Ok(_) if generated => warn!(
            "first start: created user admin with password {password}, change it \
             (`koe users password admin`)"
        ),
        Ok(_) => info!("first start: created user admin with admin.bootstrap_password"),
        // Another koe on the same database was first.
        Err(ApiError::Conflict(_)) => {}
        Err(ApiError::BadRequest(why)) => anyhow::bail!("admin.bootstrap_password: {why}"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Argon2 takes tens of milliseconds of CPU: off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn token_from_bearer_or_cookie() {
        assert_eq!(
            token(&headers(&[(header::AUTHORIZATION, "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            token(&headers(&[(header::AUTHORIZATION, "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(token(&headers(&[(header::AUTHORIZATION, "Basic YTpi")])), None);
        assert_eq!(
            token(&headers(&[(
                header::COOKIE,
                "theme=dark; koe_session=xyz; other=1"
            )])),
            Some("xyz")
        );
        assert_eq!(
            token(&headers(&[
                (header::COOKIE, "koe_session_old=no"),
                (header::COOKIE, "koe_session=yes")
            ])),
            Some("yes")
        );
        // The bearer token wins over a cookie.
        assert_eq!(
            token(&headers(&[
                (header::COOKIE, "koe_session=c"),
                (header::AUTHORIZATION, "Bearer b")
            ])),
            Some("b")
        );
        assert_eq!(token(&HeaderMap::new()), None);
    }
}
