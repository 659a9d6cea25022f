//! One run per job at a time, across processes and machines.
//!
//! PostgreSQL: a session-level advisory lock on a dedicated connection; the server drops it
//! when that connection dies, so a crashed holder never blocks the next run. SQLite: a lease
//! row in `job_leases`, taken in an immediate transaction and renewed every third of its
//! length while the run lives; a crashed holder's lease runs out, and on the same host a
//! lease whose process is gone is taken over at once. Both write the lease row, so a refused
//! run can say who holds the job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::JobError;
use crate::store::{AdvisoryAttempt, AdvisoryLock, Store};
use crate::{on_backend, on_tx};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Who takes a lock: `host:pid:nonce`. The nonce tells apart two schedulers in one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder(pub String);

impl Holder {
    pub fn for_this_process() -> Holder {
        Holder(format!(
            "{}:{}:{:08x}",
            host_name(),
            std::process::id(),
            rand::random::<u32>()
        ))
    }

    fn host_and_pid(&self) -> Option<(&str, u32)> {
        let mut parts = self.0.rsplitn(3, ':');
        let _nonce = parts.next()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?;
        Some((host, pid))
    }

    /// False only when the holder is on this host and its process is certainly gone.
    fn may_be_alive(&self) -> bool {
        match self.host_and_pid() {
            Some((host, pid)) if host == host_name() => process_exists(pid),
            _ => true,
        }
    }
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

fn process_exists(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = std::path::Path::new("/proc");
    if !proc_root.join("self").exists() {
        // No procfs: cannot tell, so wait for the lease to expire.
        return true;
    }
    match std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")) {
        // A zombie (state Z) has exited; only its parent has not reaped it yet.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The advisory-lock key of a job: stable across versions and machines.
pub fn advisory_key(job: &str) -> i64 {
    let digest = Sha256::digest(format!("stockcast-job:{job}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

pub enum JobLock {
    Lease {
        store: Store,
        job: String,
        holder: Holder,
        lost: Arc<AtomicBool>,
        renewer: tokio::task::JoinHandle<()>,
    },
    Advisory {
        store: Store,
        job: String,
        holder: Holder,
        lock: AdvisoryLock,
    },
}

/// Why a lock was not taken: the current holder and when its lease runs out.
#[derive(Debug, Clone)]
pub struct HeldBy {
    pub holder: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Display for HeldBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.expires_at {
            Some(expires_at) => write!(f, "{} until {}", self.holder, expires_at.to_rfc3339()),
            None => write!(f, "{}", self.holder),
        }
    }
}

const READ_LEASE: &str = "SELECT holder, expires_at FROM job_leases WHERE job = $1";
const WRITE_LEASE: &str = "INSERT INTO job_leases (job, holder, run_id, expires_at) VALUES ($1, $2, NULL, $3) \
     ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, run_id = NULL, expires_at = excluded.expires_at";

async fn read_lease(store: &Store, job: &str) -> Result<Option<HeldBy>, JobError> {
    let row: Option<(String, DateTime<Utc>)> = on_backend!(store, pool => {
        sqlx::query_as(READ_LEASE)
            .bind(job)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(holder, expires_at)| HeldBy {
        holder,
        expires_at: Some(expires_at),
    }))
}

async fn write_lease(
    store: &Store,
    job: &str,
    holder: &Holder,
    expires_at: DateTime<Utc>,
) -> Result<(), JobError> {
    on_backend!(store, pool => {
        sqlx::query(WRITE_LEASE)
        .bind(job)
        .bind(&holder.0)
        .bind(expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Takes the job's lock if it is free (or its holder's lease ran out or its process died).
/// `now` is the clock the lease is judged by; the renewal task uses the real clock.
pub async fn try_lock(
    store: &Store,
    job: &str,
    holder: &Holder,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Result<JobLock, HeldBy>, JobError> {
    let expires_at = now + chrono::Duration::from_std(lease).expect("lease fits");
    match store.try_advisory_lock(advisory_key(job)).await? {
        AdvisoryAttempt::Taken(lock) => {
            // Informational only on PostgreSQL: the advisory lock is what excludes.
            write_lease(store, job, holder, expires_at).await?;
            Ok(Ok(JobLock::Advisory {
                store: store.clone(),
                job: job.to_string(),
                holder: holder.clone(),
                lock,
            }))
        }
        AdvisoryAttempt::HeldElsewhere => {
            let held = read_lease(store, job).await?.unwrap_or(HeldBy {
                holder: "another session".to_string(),
                expires_at: None,
            });
            Ok(Err(HeldBy {
                holder: held.holder,
                expires_at: None,
            }))
        }
        AdvisoryAttempt::Unsupported => {
            take_lease(store, job, holder, lease, now, expires_at).await
        }
    }
}

/// The lease of a backend without advisory locks (SQLite), read and written in one immediate
/// transaction so two takers queue instead of both winning. A lease taken at `now` runs to
/// `expires_at` (`now + lease`), then the renewal task extends it every third of `lease`.
async fn take_lease(
    store: &Store,
    job: &str,
    holder: &Holder,
    lease: Duration,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Result<JobLock, HeldBy>, JobError> {
    let mut tx = store.begin_write().await?;
    let current: Option<(String, DateTime<Utc>)> = on_tx!(&mut tx, conn => {
        sqlx::query_as(READ_LEASE)
            .bind(job)
            .fetch_optional(&mut **conn)
            .await?
    });
    if let Some((current, current_expires_at)) = current {
        let current_holder = Holder(current.clone());
        if current_holder != *holder && current_expires_at > now && current_holder.may_be_alive() {
            return Ok(Err(HeldBy {
                holder: current,
                expires_at: Some(current_expires_at),
            }));
        }
    }
    on_tx!(&mut tx, conn => {
        sqlx::query(WRITE_LEASE)
        .bind(job)
        .bind(&holder.0)
        .bind(expires_at)
        .execute(&mut **conn)
        .await?;
    });
    tx.commit().await?;
    let lost = Arc::new(AtomicBool::new(false));
    let renewer = tokio::spawn(renew_lease(
        store.clone(),
        job.to_string(),
        holder.clone(),
        lease,
        lost.clone(),
    ));
    Ok(Ok(JobLock::Lease {
        store: store.clone(),
        job: job.to_string(),
        holder: holder.clone(),
        lost,
        renewer,
    }))
}

async fn renew_lease(
    store: Store,
    job: String,
    holder: Holder,
    lease: Duration,
    lost: Arc<AtomicBool>,
) {
    let lease_chrono = chrono::Duration::from_std(lease).expect("lease fits");
    loop {
        tokio::time::sleep(lease / 3).await;
        let renewed: Result<u64, sqlx::Error> = on_backend!(&store, pool => {
            sqlx::query("UPDATE job_leases SET expires_at = $3 WHERE job = $1 AND holder = $2")
                .bind(&job)
                .bind(&holder.0)
                .bind(Utc::now() + lease_chrono)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                tracing::error!(job, "lease on job lost to another holder");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // A transient error: try again next period; the lease still has two thirds left.
            Err(error) => tracing::warn!(job, %error, "lease renewal failed"),
        }
    }
}

impl JobLock {
    pub fn holder(&self) -> &Holder {
        match self {
            JobLock::Lease { holder, .. } | JobLock::Advisory { holder, .. } => holder,
        }
    }

    /// Records which run holds the lock (shown when another run is refused).
    pub async fn set_run(&self, run_id: &str) -> Result<(), JobError> {
        let (store, job, holder) = match self {
            JobLock::Lease {
                store, job, holder, ..
            }
            | JobLock::Advisory {
                store, job, holder, ..
            } => (store, job, holder),
        };
        on_backend!(store, pool => {
            sqlx::query("UPDATE job_leases SET run_id = $3 WHERE job = $1 AND holder = $2")
                .bind(job)
                .bind(&holder.0)
                .bind(run_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Whether this process still holds the lock; checked before anything is published.
    pub async fn still_held(&mut self) -> bool {
        match self {
            JobLock::Lease {
                store,
                job,
                holder,
                lost,
                ..
            } => {
                if lost.load(Ordering::SeqCst) {
                    return false;
                }
                matches!(read_lease(store, job).await, Ok(Some(held)) if held.holder == holder.0)
            }
            JobLock::Advisory { lock, .. } => lock.is_held().await,
        }
    }

    pub async fn release(self) {
        let (store, job, holder, advisory) = match self {
            JobLock::Lease {
                store,
                job,
                holder,
                renewer,
                ..
            } => {
                renewer.abort();
                (store, job, holder, None)
            }
            JobLock::Advisory {
                store,
                job,
                holder,
                lock,
            } => (store, job, holder, Some(lock)),
        };
        let _ = on_backend!(&store, pool => {
            sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
                .bind(&job)
                .bind(&holder.0)
                .execute(pool)
                .await
                .map(|_| ())
        });
        // The row goes while the lock is still held, so it never names a holder that let go.
        if let Some(lock) = advisory {
            lock.release().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_name_host_and_process() {
        let me = Holder::for_this_process();
        assert!(me.may_be_alive());
        let (host, pid) = me.host_and_pid().unwrap();
        assert_eq!(host, host_name());
        assert_eq!(pid, std::process::id());
        // A pid far above pid_max is certainly not running here.
        let gone = Holder(format!("{}:999999999:00000000", host_name()));
        assert!(!gone.may_be_alive());
        let elsewhere = Holder("another-host:1:00000000".to_string());
        assert!(elsewhere.may_be_alive());
        assert_ne!(advisory_key("nightly"), advisory_key("hourly"));
    }
}
