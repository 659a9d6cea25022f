//! Who is calling: the bearer key, looked up by its hash (cached briefly so a hot route does
//! not read `api_keys` per request), then rate-limited per key. Denials carry no detail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::{ApiError, ErrorCode};
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

/// The secret of an `Authorization: Bearer <secret>` value. The scheme is case-insensitive
/// and separated from the secret by one or more spaces (RFC 9110, section 11.4).
pub fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty() && !secret.contains(' '))
        .then_some(secret)
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
            .and_then(bearer_secret)
            .filter(|secret| secret.len() <= 200)
            .ok_or_else(ApiError::unauthorized)?;
        let key = state
            .keys
            .lookup(state, secret)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if let Err(wait) = state.rate_limiter.check(&key.id, Instant::now()) {
            let mut error = ApiError::new(ErrorCode::RateLimited, "too many requests for this key");
            error.retry_after_seconds = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
            return Err(error);
        }
        Ok(Caller { key })
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_secret;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer sk_1",
            "bearer sk_1",
            "BEARER  sk_1",
            " bEaReR sk_1 ",
        ] {
            assert_eq!(bearer_secret(value), Some("sk_1"), "{value:?}");
        }
        for value in [
            "Basic sk_1",
            "Bearer",
            "Bearer ",
            "Bearersk_1",
            "Bearer a b",
            "sk_1",
        ] {
            assert_eq!(bearer_secret(value), None, "{value:?}");
        }
    }
}
