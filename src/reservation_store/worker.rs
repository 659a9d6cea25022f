//! Group commit: one worker task per process takes requests from a bounded queue and applies
//! them in batches, one transaction per batch, answering every caller after that commit. A hot
//! SKU then costs one row lock and one commit per batch instead of per request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::keys::{KeyCache, KeySource};
use super::transaction::{apply_batch_with, Durability};
use super::CoreError;
use crate::clock::SharedClock;
use crate::reserve::idempotency::DEFAULT_IDEMPOTENCY_WINDOW_HOURS;
use crate::reserve::limits::check_operation_text;
use crate::reserve::{Outcome, Refusal, Request};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct ReserverConfig {
    /// Requests waiting for a batch; submitters wait (back-pressure) when it is full.
    pub queue_capacity: usize,
    pub max_batch: usize,
    /// How long a batch waits for more requests after the first one. Zero: a batch takes
    /// whatever queued while the previous one was committing, which is plenty under load.
    pub linger: Duration,
    /// Due holds expired per batch (and by the idle sweep).
    pub sweep_limit: usize,
    /// When idle, run an empty batch this often so due holds expire without traffic.
    pub sweep_interval: Duration,
    /// SQLite: how often the WAL is checkpointed beside the writer.
    pub checkpoint_interval: Duration,
    /// SQLite: WAL frames (pages) past which the writer itself checkpoints between two
    /// batches. A checkpoint beside a writer that never pauses never reaches the end of the
    /// WAL, and SQLite only starts a WAL over once all of it is copied back, so under
    /// sustained load the WAL grew by about 170 MB/s (measured) for as long as the load
    /// lasted. This bounds it (1 GiB of 4 KiB pages by default), at the cost of one pause of
    /// the writer per bound reached: it copies what the last checkpoint beside it left.
    pub wal_restart_frames: i64,
    /// Batches committed but not yet known to be on disk, whose callers wait for one flush
    /// that covers them all (see [`Durability::Deferred`]). The worker waits for a free place
    /// before it commits another batch.
    pub unflushed_batches: usize,
    /// How long an idempotency key replays its reservation at least. On SQLite the worker
    /// keeps the window's keys in memory (see [`super::keys`]), so this also bounds that
    /// memory; on PostgreSQL a key stays taken for good.
    pub idempotency_window: Duration,
}

impl Default for ReserverConfig {
    fn default() -> Self {
        ReserverConfig {
            queue_capacity: 16_384,
            max_batch: 1024,
            linger: Duration::ZERO,
            sweep_limit: 10_000,
            sweep_interval: Duration::from_secs(1),
            checkpoint_interval: Duration::from_millis(250),
            wal_restart_frames: 262_144,
            unflushed_batches: 64,
            idempotency_window: Duration::from_secs(DEFAULT_IDEMPOTENCY_WINDOW_HOURS as u64 * 3600),
        }
    }
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct CoreMetrics {
    pub batches: AtomicU64,
    pub batched_requests: AtomicU64,
    pub largest_batch: AtomicU64,
    pub expired: AtomicU64,
    pub failed_batches: AtomicU64,
    /// PostgreSQL: WAL flushes waited for before answering committed batches, and those that
    /// failed (their callers got a storage error).
    pub wal_flushes: AtomicU64,
    pub failed_wal_flushes: AtomicU64,
    /// Batch sizes in buckets of ≤1, ≤4, ≤16, ≤64, ≤256, ≤1024, more.
    pub batch_size_buckets: [AtomicU64; 7],
}

pub const BATCH_SIZE_BOUNDS: [u64; 6] = [1, 4, 16, 64, 256, 1024];

impl CoreMetrics {
    fn record_batch(&self, size: usize, expired: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_requests
            .fetch_add(size as u64, Ordering::Relaxed);
        self.largest_batch.fetch_max(size as u64, Ordering::Relaxed);
        self.expired.fetch_add(expired as u64, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BOUNDS
            .iter()
            .position(|bound| size as u64 <= *bound)
            .unwrap_or(BATCH_SIZE_BOUNDS.len());
        self.batch_size_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

type Responder = oneshot::Sender<Result<Outcome, CoreError>>;

struct Job {
    request: Request,
    respond: Responder,
}

/// A committed batch whose callers are answered once its commit is durable.
struct Committed {
    responders: Vec<Responder>,
    outcomes: Vec<Result<Outcome, Refusal>>,
}

impl Committed {
    fn answer(self) {
        for (respond, outcome) in self.responders.into_iter().zip(self.outcomes) {
            let _ = respond.send(outcome.map_err(CoreError::Refused));
        }
    }
}

fn fail(responders: Vec<Responder>, message: &str) {
    for respond in responders {
        let _ = respond.send(Err(CoreError::Storage(message.to_string())));
    }
}

/// Answers committed batches in commit order once one flush, begun after their commits, has
/// made them durable. While it waits for the disk, the worker commits the next batches: the
/// hot rows' locks are released at commit, not after the flush.
async fn acknowledge_when_durable(
    store: Store,
    mut committed: mpsc::Receiver<Committed>,
    metrics: Arc<CoreMetrics>,
) {
    let mut pending: Vec<Committed> = Vec::new();
    while let Some(first) = committed.recv().await {
        pending.push(first);
        while let Ok(more) = committed.try_recv() {
            pending.push(more);
        }
        match store.wait_durable().await {
            Ok(()) => {
                metrics.wal_flushes.fetch_add(1, Ordering::Relaxed);
                pending.drain(..).for_each(Committed::answer);
            }
            Err(error) => {
                metrics.failed_wal_flushes.fetch_add(1, Ordering::Relaxed);
                tracing::error!("flush after {} batches failed: {error}", pending.len());
                // The batches committed, but whether they survive is unknown: the callers
                // retry with their idempotency keys, which replays or re-applies each one.
                let message = format!("commit not confirmed durable: {error}");
                pending
                    .drain(..)
                    .for_each(|batch| fail(batch.responders, &message));
            }
        }
    }
}

/// The handle callers submit requests through. Cloning shares the worker.
#[derive(Clone)]
pub struct Reserver {
    queue: mpsc::Sender<Job>,
    pub metrics: Arc<CoreMetrics>,
    worker: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Reserver {
    /// Starts the worker on the current tokio runtime.
    pub fn start(store: Store, clock: SharedClock, config: ReserverConfig) -> Reserver {
        assert!(
            config.queue_capacity >= 1 && config.max_batch >= 1 && config.unflushed_batches >= 1
        );
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let metrics = Arc::new(CoreMetrics::default());
        let worker = tokio::spawn(run_worker(
            store.dedicated_writer(),
            store.clone(),
            clock,
            config,
            receiver,
            Arc::clone(&metrics),
        ));
        Reserver {
            queue,
            metrics,
            worker: Arc::new(tokio::sync::Mutex::new(Some(worker))),
        }
    }

    /// Applies one request in the next batch and returns its outcome once that batch committed.
    pub async fn submit(&self, request: Request) -> Result<Outcome, CoreError> {
        // One request the database cannot store would fail the whole batch it joins, and so
        // every other caller in it: it never gets that far.
        check_operation_text(&request.operation).map_err(CoreError::Invalid)?;
        let (respond, answer) = oneshot::channel();
        self.queue
            .send(Job { request, respond })
            .await
            .map_err(|_| CoreError::ShuttingDown)?;
        answer.await.map_err(|_| CoreError::ShuttingDown)?
    }

    /// Stops taking requests, lets the worker finish what is queued, and waits for it. Other
    /// clones of this handle must be dropped first for the queue to close.
    pub async fn shutdown(self) {
        let worker = self.worker.lock().await.take();
        drop(self.queue);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
    }
}

/// SQLite only: the writer does not checkpoint on commit, so this keeps the WAL short, and
/// asks the writer for a full checkpoint once the WAL holds `restart_frames` frames. The
/// benchmark's floor runs it beside its own writer, so both see the same checkpoints.
pub(crate) async fn checkpoint_beside_the_writer(
    readers: Store,
    interval: Duration,
    restart_frames: i64,
    restart_wanted: Arc<AtomicBool>,
) {
    if !matches!(readers, Store::Sqlite(_)) {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match readers.checkpoint_passive().await {
            Ok(frames) if frames >= restart_frames => restart_wanted.store(true, Ordering::Relaxed),
            Ok(_) => {}
            Err(error) => tracing::warn!("WAL checkpoint failed: {error}"),
        }
    }
}

async fn run_worker(
    store: Store,
    readers: Store,
    clock: SharedClock,
    config: ReserverConfig,
    mut receiver: mpsc::Receiver<Job>,
    metrics: Arc<CoreMetrics>,
) {
    let restart_wanted = Arc::new(AtomicBool::new(false));
    let readers_for_flush = readers.clone();
    let checkpointer = tokio::spawn(checkpoint_beside_the_writer(
        readers,
        config.checkpoint_interval,
        config.wal_restart_frames,
        Arc::clone(&restart_wanted),
    ));
    let (to_acknowledge, committed) = mpsc::channel(config.unflushed_batches);
    let acknowledger = tokio::spawn(acknowledge_when_durable(
        readers_for_flush,
        committed,
        Arc::clone(&metrics),
    ));
    // SQLite's commit already leaves a batch as durable as it will be (see
    // `Store::wait_durable`), so its callers are answered at once, without the hop.
    let durability = match store {
        Store::Sqlite(_) => Durability::OnCommit,
        Store::Postgres(_) => Durability::Deferred,
    };
    // A window longer than chrono reaches keeps keys for good.
    let window =
        chrono::Duration::from_std(config.idempotency_window).unwrap_or(chrono::Duration::MAX);
    let mut keys = match store {
        Store::Sqlite(_) => KeySource::Memory(KeyCache::new(window)),
        Store::Postgres(_) => KeySource::Database { window },
    };
    let mut jobs: Vec<Job> = Vec::with_capacity(config.max_batch);
    let mut sweep = tokio::time::interval(config.sweep_interval);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Everything queued, up to a batch, in one take of the queue's lock.
            received = receiver.recv_many(&mut jobs, config.max_batch) => if received == 0 {
                break;
            },
            _ = sweep.tick() => {}
        }
        while jobs.len() < config.max_batch {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if !config.linger.is_zero() && !jobs.is_empty() && jobs.len() < config.max_batch {
            let deadline = tokio::time::Instant::now() + config.linger;
            while jobs.len() < config.max_batch {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(job)) => jobs.push(job),
                    _ => break,
                }
            }
        }
        let (requests, responders): (Vec<Request>, Vec<_>) =
            jobs.drain(..).map(|job| (job.request, job.respond)).unzip();
        let now = clock.now();
        let applied = apply_batch_with(
            &store,
            &requests,
            now,
            config.sweep_limit,
            durability,
            &mut keys,
        )
        .await;
        match applied {
            Ok(result) => {
                metrics.record_batch(requests.len(), result.expired);
                let batch = Committed {
                    responders,
                    outcomes: result.outcomes,
                };
                match durability {
                    Durability::OnCommit => batch.answer(),
                    Durability::Deferred => {
                        if let Err(unsent) = to_acknowledge.send(batch).await {
                            fail(unsent.0.responders, "the acknowledging task stopped");
                        }
                    }
                }
            }
            Err(error) => {
                metrics.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!("reservation batch of {} failed: {error}", requests.len());
                fail(responders, &error.to_string());
            }
        }

        if restart_wanted.swap(false, Ordering::Relaxed) {
            // Between batches nothing is being written, so this checkpoint can finish the WAL
            // and the next batch starts it over (see `wal_restart_frames`).
            if let Err(error) = store.checkpoint_restart().await {
                tracing::warn!("WAL checkpoint failed: {error}");
            }
        }
    }
    checkpointer.abort();
    drop(to_acknowledge);
    let _ = acknowledger.await;
}
