//! API keys for the HTTP service: bearer secrets stored only as sha256 hashes, each with one
//! role. The secret is shown once, when the key is created.

mod role;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use role::{Action, Role};

use crate::on_backend;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown role {0:?}: expected admin, service, merchandiser or poller")]
    UnknownRole(String),
    #[error("no API key {0}")]
    NotFound(String),
}

impl KeyError {
    pub fn is_bad_input(&self) -> bool {
        matches!(self, KeyError::UnknownRole(_) | KeyError::NotFound(_))
    }
}

impl From<sqlx::Error> for KeyError {
    fn from(error: sqlx::Error) -> Self {
        KeyError::Store(StoreError::Query(error))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub role: Role,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a key and returns it with its secret (`sk_` + 256 random bits in hex).
pub async fn create_key(
    store: &Store,
    role: Role,
    label: &str,
    now: DateTime<Utc>,
) -> Result<(ApiKey, String), KeyError> {
    let secret = format!(
        "sk_{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let id = format!("key_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    on_backend!(store, pool => {
        sqlx::query("INSERT INTO api_keys (id, key_hash, role, label, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(hash_secret(&secret))
            .bind(role.as_str())
            .bind(label)
            .bind(now)
            .execute(pool)
            .await?;
    });
    Ok((
        ApiKey {
            id,
            role,
            label: label.to_string(),
            created_at: now,
            revoked_at: None,
        },
        secret,
    ))
}

type KeyRecord = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

fn key_from(record: KeyRecord) -> Result<ApiKey, KeyError> {
    let (id, role, label, created_at, revoked_at) = record;
    Ok(ApiKey {
        id,
        role: Role::parse(&role).ok_or(KeyError::UnknownRole(role))?,
        label,
        created_at,
        revoked_at,
    })
}

pub async fn list_keys(store: &Store) -> Result<Vec<ApiKey>, KeyError> {
    let records: Vec<KeyRecord> = on_backend!(store, pool => {
        sqlx::query_as("SELECT id, role, label, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            .fetch_all(pool)
            .await?
    });
    records.into_iter().map(key_from).collect()
}

pub async fn revoke_key(store: &Store, id: &str, now: DateTime<Utc>) -> Result<(), KeyError> {
    let affected = on_backend!(store, pool => {
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if affected == 0 {
        return Err(KeyError::NotFound(id.to_string()));
    }
    Ok(())
}

/// The live (not revoked) key with this secret, if any.
pub async fn authenticate(store: &Store, secret: &str) -> Result<Option<ApiKey>, KeyError> {
    let record: Option<KeyRecord> = on_backend!(store, pool => {
        sqlx::query_as(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_secret(secret))
        .fetch_optional(pool)
        .await?
    });
    record.map(key_from).transpose()
}
