//! Who is calling: the bearer key, looked up by its hash (cached briefly so a hot route does
//! not read `api_keys` per request), then rate-limited per key. Denials carry no detail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::error::ApiError;
use super::AppState;
use crate::keys::{authenticate, hash_secret, Action, ApiKey};

/// Cached lookups (misses too, so a flood of bad keys does not reach the database).
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Option<ApiKey>, Instant)>>,
}

const MAX_CACHED_KEYS: usize = 10_000;

impl KeyCache {
    /// A revoked key keeps working for at most `ttl`.
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    async fn lookup(&self, state: &AppState, secret: &str) -> Result<Option<ApiKey>, ApiError> {
        let hash = hash_secret(secret);
        let now = Instant::now();
        if let Some((key, fetched_at)) = self.entries.lock().expect("key cache").get(&hash) {
            if now.duration_since(*fetched_at) < self.ttl {
                return Ok(key.clone());
            }
        }
        let key = authenticate(&state.store, secret)
            .await
            .map_err(super::error::storage)?;
        let mut entries = self.entries.lock().expect("key cache");
        if entries.len() >= MAX_CACHED_KEYS {
            entries.clear();
        }
        entries.insert(hash, (key.clone(), now));
        Ok(key)
    }
}

pub struct Caller {
    pub key: ApiKey,
}

impl Caller {
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.key.role.allows(action) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|secret| !secret.is_empty() && secret.len() <= 200)
            .ok_or_else(ApiError::unauthorized)?;
        let key = state
            .keys
            .lookup(state, secret)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if let Err(wait) = state.rate_limiter.check(&key.id, Instant::now()) {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this key",
            );
            error.retry_after_seconds = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
            return Err(error);
        }
        Ok(Caller { key })
    }
}
