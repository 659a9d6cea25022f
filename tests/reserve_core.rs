//! The reservation core against real databases (SQLite and PostgreSQL): ledger, idempotency
//! across restarts, carts, partial commits, expiry with a controlled clock, adjustments, the
//! inventory ingest interplay, and several service instances on one PostgreSQL database.

mod reserve_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Duration;
use polars::prelude::*;
use reserve_support::*;
use stockcast::clock::{ManualClock, SharedClock};
use stockcast::reservation_store::{
    apply_batch, check_ledger, expire_due, get_reservation, stock, CoreError, Durability, Reserver,
    ReserverConfig,
};
use stockcast::reserve::{
    Adjustment, AdjustmentKind, LineRequest, Operation, Outcome, Refusal, Request, ReserveRequest,
    Status,
};
use stockcast::store::{FrameRows, OnConflict, Store};

fn line(sku: &str, qty: i64) -> LineRequest {
    LineRequest {
        sku: sku.into(),
        warehouse: WAREHOUSE.into(),
        qty,
    }
}

fn reserve(key: &str, ttl_seconds: i64, lines: Vec<LineRequest>) -> Request {
    Request {
        who: "test".into(),
        operation: Operation::Reserve(ReserveRequest {
            idempotency_key: key.into(),
            ttl_seconds,
            lines,
        }),
    }
}

fn op(operation: Operation) -> Request {
    Request {
        who: "test".into(),
        operation,
    }
}

async fn one(store: &Store, request: Request, clock: &ManualClock) -> Result<Outcome, Refusal> {
    use stockcast::clock::Clock;
    let mut result = apply_batch(store, &[request], clock.now(), 1000, Durability::OnCommit)
        .await
        .expect("batch commits");
    result.outcomes.pop().expect("one outcome")
}

fn reservation_id(outcome: Result<Outcome, Refusal>) -> String {
    match outcome {
        Ok(Outcome::Reservation { reservation, .. }) => reservation.id,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

/// The inventory upsert `stockcast ingest` runs for inventory.csv.
async fn ingest_inventory(store: &Store, sku: &str, on_hand: i64) -> Result<(), String> {
    let frame = df!(
        "sku" => [sku],
        "warehouse" => [WAREHOUSE],
        "on_hand" => [on_hand],
        "inbound" => [0i64],
        "min_presentation" => [0i64],
    )
    .unwrap();
    let rows = FrameRows::new(&frame).unwrap();
    let mut tx = store.begin_write().await.map_err(|e| e.to_string())?;
    tx.upsert_rows(
        "inventory",
        &rows,
        &["sku", "warehouse"],
        OnConflict::Update,
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

async fn core_scenarios(store: Store) {
    seed(&store, &[("SOFA", 10), ("LAMP", 3), ("RUG", 5)]).await;
    let clock = ManualClock::new(start_time());

    // A hold moves reserved, writes one ledger event per line and a reservation row.
    let first = reservation_id(
        one(
            &store,
            reserve("k1", 600, vec![line("SOFA", 2), line("LAMP", 1)]),
            &clock,
        )
        .await,
    );
    assert_eq!(row(&store, "SOFA").await, (10, 2));
    assert_eq!(row(&store, "LAMP").await, (3, 1));

    // Same key, same body, after a "restart" (a new batch, nothing cached): the same hold.
    let again = one(
        &store,
        reserve("k1", 600, vec![line("SOFA", 2), line("LAMP", 1)]),
        &clock,
    )
    .await;
    match again {
        Ok(Outcome::Reservation {
            reservation,
            replayed,
        }) => {
            assert!(replayed);
            assert_eq!(reservation.id, first);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        row(&store, "SOFA").await,
        (10, 2),
        "a retry never reserves twice"
    );
    assert!(matches!(
        one(&store, reserve("k1", 600, vec![line("SOFA", 3)]), &clock).await,
        Err(Refusal::IdempotencyMismatch(_))
    ));

    // All or nothing: LAMP has 2 left, the cart wants 3 (on two lines).
    let refused = one(
        &store,
        reserve(
            "k2",
            600,
            vec![line("RUG", 1), line("LAMP", 2), line("LAMP", 1)],
        ),
        &clock,
    )
    .await;
    match refused {
        Err(Refusal::InsufficientStock(lines)) => {
            assert_eq!(lines.len(), 1);
            assert_eq!((lines[0].requested, lines[0].available), (3, 2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(row(&store, "RUG").await, (5, 0));
    assert!(matches!(
        one(&store, reserve("k3", 600, vec![line("NOPE", 1)]), &clock).await,
        Err(Refusal::UnknownStock(_))
    ));

    // Partial commit: 1 of 2 sofas sold, the lamp released; sales learn 1 unit.
    let commit = op(Operation::Commit {
        id: first.clone(),
        lines: Some(vec![line("SOFA", 1)]),
    });
    one(&store, commit.clone(), &clock).await.expect("commit");
    assert_eq!(row(&store, "SOFA").await, (9, 0));
    assert_eq!(row(&store, "LAMP").await, (3, 0));
    assert_eq!(live_sales(&store, "SOFA").await, 1.0);
    assert!(matches!(
        one(&store, commit, &clock).await,
        Ok(Outcome::Reservation { replayed: true, .. })
    ));
    assert_eq!(
        live_sales(&store, "SOFA").await,
        1.0,
        "a retried commit sells nothing more"
    );

    // Expiry with a controlled clock: due holds stop counting at once, before any sweep.
    let held = reservation_id(one(&store, reserve("k4", 60, vec![line("RUG", 5)]), &clock).await);
    let extended =
        reservation_id(one(&store, reserve("k5", 60, vec![line("SOFA", 1)]), &clock).await);
    clock.advance_seconds(30);
    one(
        &store,
        op(Operation::Extend {
            id: extended.clone(),
            ttl_seconds: 300,
        }),
        &clock,
    )
    .await
    .expect("extend");
    clock.advance_seconds(31);
    use stockcast::clock::Clock;
    let view = stock(&store, &["RUG".into()], None, clock.now(), 10)
        .await
        .unwrap();
    assert_eq!(
        view[0].available, 5,
        "an expired hold never counts against availability"
    );
    assert_eq!(row(&store, "RUG").await, (5, 5), "not swept yet");
    let stored = get_reservation(&store, &held).await.unwrap().unwrap();
    assert_eq!(stored.status_at(clock.now()), Status::Expired);
    assert_eq!(expire_due(&store, clock.now(), 100).await.unwrap(), 1);
    assert_eq!(row(&store, "RUG").await, (5, 0));
    assert_eq!(
        row(&store, "SOFA").await,
        (9, 1),
        "the extended hold is still held"
    );
    assert!(matches!(
        one(
            &store,
            op(Operation::Commit {
                id: held,
                lines: None
            }),
            &clock
        )
        .await,
        Err(Refusal::NotHeld {
            status: Status::Expired,
            ..
        })
    ));
    // A due hold is expired by the next batch even without the sweeper.
    clock.advance_seconds(300);
    one(&store, reserve("k6", 60, vec![line("RUG", 1)]), &clock)
        .await
        .expect("reserve");
    assert_eq!(row(&store, "SOFA").await, (9, 0));

    // Adjustments: all or nothing, never below what is held.
    let adjust = |kind, sku: &str, qty| Adjustment {
        sku: sku.into(),
        warehouse: WAREHOUSE.into(),
        kind,
        qty,
        reason: "cycle count".into(),
    };
    assert!(matches!(
        one(
            &store,
            op(Operation::Adjust(vec![
                adjust(AdjustmentKind::Receipt, "RUG", 4),
                adjust(AdjustmentKind::Count, "RUG", 0)
            ])),
            &clock
        )
        .await,
        Err(Refusal::BelowReserved(_))
    ));
    assert_eq!(row(&store, "RUG").await, (5, 1));
    one(
        &store,
        op(Operation::Adjust(vec![
            adjust(AdjustmentKind::Receipt, "RUG", 4),
            adjust(AdjustmentKind::Damage, "RUG", 2),
            adjust(AdjustmentKind::TransferOut, "LAMP", 1),
        ])),
        &clock,
    )
    .await
    .expect("adjust");
    assert_eq!(row(&store, "RUG").await, (7, 1));
    assert_eq!(row(&store, "LAMP").await, (2, 0));

    // A later inventory ingest keeps `reserved`, and cannot set on_hand below it.
    ingest_inventory(&store, "RUG", 20)
        .await
        .expect("ingest above reserved");
    assert_eq!(row(&store, "RUG").await, (20, 1));
    let refused = ingest_inventory(&store, "RUG", 0).await;
    assert!(
        refused.is_err(),
        "on_hand below reserved must fail the ingest"
    );
    assert_eq!(
        row(&store, "RUG").await,
        (20, 1),
        "nothing of the failed ingest is written"
    );
    // The import moved on_hand outside the ledger: the ledger check still holds (it replays to
    // the last ledgered value), and the next batch on the row records the import as a count.
    assert!(check_ledger(&store).await.unwrap().is_clean());
    one(&store, reserve("k7", 60, vec![line("RUG", 2)]), &clock)
        .await
        .expect("reserve");
    assert_eq!(row(&store, "RUG").await, (20, 3));
    let imports: i64 = stockcast::on_backend!(&store, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM inventory_events WHERE sku = 'RUG' AND kind = 'count' AND who = 'ingest' AND on_hand_before = 7 AND on_hand_after = 20")
            .fetch_one(pool).await.unwrap()
    });
    assert_eq!(imports, 1);

    let check = check_ledger(&store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert!(check.events > 10);
}

on_both_backends!(
    core_scenarios,
    core_rules_hold_on_sqlite,
    core_rules_hold_on_postgres
);

/// Many concurrent callers through the group-commit worker(s) on one hot SKU: exactly the
/// stock is held, never more, and every caller got its own answer.
async fn hot_sku_sells_out_exactly(stores: Vec<Store>, check_store: Store) {
    seed(&check_store, &[("HOT", 300)]).await;
    let clock: SharedClock = Arc::new(ManualClock::new(start_time()));
    let reservers: Vec<Reserver> = stores
        .into_iter()
        .map(|store| {
            Reserver::start(
                store,
                Arc::clone(&clock),
                ReserverConfig {
                    max_batch: 64,
                    ..ReserverConfig::default()
                },
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for client in 0..64 {
        let reserver = reservers[client % reservers.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut held = 0;
            let mut refused = 0;
            for attempt in 0..10 {
                match reserver
                    .submit(reserve(
                        &format!("c{client}-{attempt}"),
                        600,
                        vec![line("HOT", 1)],
                    ))
                    .await
                {
                    Ok(_) => held += 1,
                    Err(CoreError::Refused(Refusal::InsufficientStock(_))) => refused += 1,
                    Err(other) => panic!("{other}"),
                }
            }
            (held, refused)
        }));
    }
    let mut held = 0;
    let mut refused = 0;
    for task in tasks {
        let (h, r) = task.await.unwrap();
        held += h;
        refused += r;
    }
    assert_eq!(held, 300, "exactly the stock is held");
    assert_eq!(refused, 640 - 300);
    assert_eq!(row(&check_store, "HOT").await, (300, 300));
    for reserver in reservers {
        reserver.shutdown().await;
    }
    let check = check_ledger(&check_store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.held_reservations, 300);
}

#[tokio::test]
async fn hot_sku_sells_out_exactly_on_sqlite() {
    let db = Db::sqlite().await;
    hot_sku_sells_out_exactly(vec![db.store.clone()], db.store.clone()).await;
    db.finish().await;
}

#[tokio::test]
async fn hot_sku_sells_out_exactly_with_two_instances_on_postgres() {
    let Some(db) = Db::postgres("hot_sku_sells_out_exactly_with_two_instances_on_postgres").await
    else {
        return;
    };
    let second = db.second_store().await;
    hot_sku_sells_out_exactly(vec![db.store.clone(), second.clone()], db.store.clone()).await;
    second.close().await;
    db.finish().await;
}

#[tokio::test]
async fn due_holds_expire_in_chunks_on_sqlite() {
    let db = Db::sqlite().await;
    seed(&db.store, &[("SOFA", 50)]).await;
    let clock = ManualClock::new(start_time());
    for index in 0..7 {
        reservation_id(
            one(
                &db.store,
                reserve(&format!("k{index}"), 10, vec![line("SOFA", 2)]),
                &clock,
            )
            .await,
        );
    }
    use stockcast::clock::Clock;
    let later = clock.now() + Duration::seconds(11);
    assert_eq!(expire_due(&db.store, later, 5).await.unwrap(), 5);
    assert_eq!(expire_due(&db.store, later, 5).await.unwrap(), 2);
    assert_eq!(expire_due(&db.store, later, 5).await.unwrap(), 0);
    assert_eq!(row(&db.store, "SOFA").await, (50, 0));
    assert!(check_ledger(&db.store).await.unwrap().is_clean());
    db.finish().await;
}

/// Retried keys through the group-commit worker: a batch that holds a retry (same body), a
/// conflicting reuse of a key and a new key answers each one on its own, and the worker's
/// connection keeps working for the batches after it.
async fn retries_share_a_batch_with_new_keys(store: Store) {
    seed(&store, &[("SOFA", 10)]).await;
    let clock: SharedClock = Arc::new(ManualClock::new(start_time()));
    let reserver = Reserver::start(
        store.clone(),
        clock,
        ReserverConfig {
            // Long enough for the three requests below to share one batch.
            linger: std::time::Duration::from_millis(200),
            ..ReserverConfig::default()
        },
    );
    let first = match reserver
        .submit(reserve("k1", 600, vec![line("SOFA", 2)]))
        .await
    {
        Ok(Outcome::Reservation { reservation, .. }) => reservation.id,
        other => panic!("{other:?}"),
    };
    let (retry, reuse, fresh) = tokio::join!(
        reserver.submit(reserve("k1", 600, vec![line("SOFA", 2)])),
        reserver.submit(reserve("k1", 600, vec![line("SOFA", 5)])),
        reserver.submit(reserve("k2", 600, vec![line("SOFA", 3)])),
    );
    match retry {
        Ok(Outcome::Reservation {
            reservation,
            replayed: true,
        }) => assert_eq!(reservation.id, first),
        other => panic!("the retry replays the first hold: {other:?}"),
    }
    assert!(
        matches!(
            reuse,
            Err(CoreError::Refused(Refusal::IdempotencyMismatch(_)))
        ),
        "{reuse:?}"
    );
    assert!(
        matches!(
            fresh,
            Ok(Outcome::Reservation {
                replayed: false,
                ..
            })
        ),
        "{fresh:?}"
    );
    assert!(
        reserver
            .submit(reserve("k3", 600, vec![line("SOFA", 1)]))
            .await
            .is_ok(),
        "the next batch still commits"
    );
    assert_eq!(
        row(&store, "SOFA").await,
        (10, 6),
        "2 + 3 + 1 held, the retry not again"
    );
    // Each answer above came after a WAL flush on PostgreSQL; SQLite answers at commit.
    let flushes = reserver.metrics.wal_flushes.load(Ordering::Relaxed);
    match store {
        Store::Postgres(_) => assert!(flushes >= 3, "three answered rounds: {flushes}"),
        Store::Sqlite(_) => assert_eq!(flushes, 0),
    }
    assert_eq!(
        reserver.metrics.failed_wal_flushes.load(Ordering::Relaxed),
        0
    );
    reserver.shutdown().await;
    let check = check_ledger(&store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.held_reservations, 3);
}

on_both_backends!(
    retries_share_a_batch_with_new_keys,
    retries_share_a_batch_with_new_keys_on_sqlite,
    retries_share_a_batch_with_new_keys_on_postgres
);

/// The benchmark's floor writes exactly what holds write: afterwards the ledger replays to the
/// stock row and `reserved` equals the units of the held reservations it inserted.
async fn floor_writes_what_holds_write(store: Store) {
    seed(&store, &[("HOT", 1_000_000)]).await;
    let batch = 300;
    let rate = stockcast::bench::floor::floor_per_second(
        &store,
        "HOT",
        WAREHOUSE,
        batch,
        std::time::Duration::ZERO,
    )
    .await
    .expect("floor runs");
    assert!(rate > 0.0);
    assert_eq!(row(&store, "HOT").await, (1_000_000, batch as i64));
    let check = check_ledger(&store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.held_reservations, batch);
    assert_eq!(
        check.events, 1,
        "one reserve event for the batch's holds on the row"
    );
}

on_both_backends!(
    floor_writes_what_holds_write,
    floor_writes_what_holds_write_on_sqlite,
    floor_writes_what_holds_write_on_postgres
);

/// A retry after a restart, through the group-commit worker's idempotency path (on SQLite the
/// keys live in the worker's memory, rebuilt from the reservation rows when it starts): the
/// same key and body replay the first hold, a different body is refused, and a batch holding
/// retries and new keys after the restart answers each one. Past the retention window SQLite
/// takes the key for a new hold, while PostgreSQL keeps every key unique for good.
async fn retry_after_restart_replays(db: &Db) {
    // Longer than the test's clock moves: nothing expires under it.
    const TTL: i64 = 4 * 3600;
    seed(&db.store, &[("SOFA", 100)]).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let shared: SharedClock = clock.clone();
    let config = ReserverConfig {
        idempotency_window: std::time::Duration::from_secs(3600),
        // Long enough for the concurrent requests below to share one batch.
        linger: std::time::Duration::from_millis(100),
        ..ReserverConfig::default()
    };
    let held = |outcome: Result<Outcome, CoreError>| match outcome {
        Ok(Outcome::Reservation {
            reservation,
            replayed,
        }) => (reservation.id, replayed),
        other => panic!("expected a reservation: {other:?}"),
    };

    let before = Reserver::start(db.store.clone(), Arc::clone(&shared), config.clone());
    let mut first = Vec::new();
    for index in 0..5 {
        let outcome = before
            .submit(reserve(&format!("k{index}"), TTL, vec![line("SOFA", 2)]))
            .await;
        let (id, replayed) = held(outcome);
        assert!(!replayed);
        first.push(id);
    }
    before.shutdown().await;

    // The restart: a new pool and a new worker, nothing carried over but the database.
    let store = db.second_store().await;
    clock.advance_seconds(1800);
    let after = Reserver::start(store.clone(), Arc::clone(&shared), config.clone());
    let (retry, reuse, fresh, retry_again) = tokio::join!(
        after.submit(reserve("k0", TTL, vec![line("SOFA", 2)])),
        after.submit(reserve("k1", TTL, vec![line("SOFA", 3)])),
        after.submit(reserve("k5", TTL, vec![line("SOFA", 1)])),
        after.submit(reserve("k4", TTL, vec![line("SOFA", 2)])),
    );
    assert_eq!(
        held(retry),
        (first[0].clone(), true),
        "replays after a restart"
    );
    assert_eq!(held(retry_again), (first[4].clone(), true));
    assert!(
        matches!(
            reuse,
            Err(CoreError::Refused(Refusal::IdempotencyMismatch(_)))
        ),
        "a different body is refused: {reuse:?}"
    );
    let (fresh_id, fresh_replayed) = held(fresh);
    assert!(!fresh_replayed);
    // The key just made answers at once, without another restart.
    assert_eq!(
        held(
            after
                .submit(reserve("k5", TTL, vec![line("SOFA", 1)]))
                .await
        ),
        (fresh_id, true)
    );
    assert_eq!(
        row(&store, "SOFA").await,
        (100, 11),
        "5 × 2 + 1 held, no retry twice"
    );

    // Past the window.
    clock.advance_seconds(3600);
    let (late_id, late_replayed) = held(
        after
            .submit(reserve("k2", TTL, vec![line("SOFA", 2)]))
            .await,
    );
    match store {
        Store::Sqlite(_) => {
            assert!(
                !late_replayed,
                "SQLite: a key past its window makes a new hold"
            );
            assert_ne!(late_id, first[2]);
        }
        Store::Postgres(_) => assert_eq!((late_id, late_replayed), (first[2].clone(), true)),
    }
    after.shutdown().await;
    let check = check_ledger(&store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    store.close().await;
}

#[tokio::test]
async fn retry_after_restart_replays_on_sqlite() {
    let db = Db::sqlite().await;
    retry_after_restart_replays(&db).await;
    db.finish().await;
}

#[tokio::test]
async fn retry_after_restart_replays_on_postgres() {
    let Some(db) = Db::postgres("retry_after_restart_replays_on_postgres").await else {
        return;
    };
    retry_after_restart_replays(&db).await;
    db.finish().await;
}

/// Two service instances on one database receive the same requests at the same moment (a
/// client retrying through another instance, or a load balancer sending one request twice):
/// every key ends up with one reservation, both callers get its id, and the units are held
/// once.
async fn two_instances_racing_one_key_hold_once(first: Store, second: Store) {
    seed(&first, &[("SOFA", 1000)]).await;
    let clock: SharedClock = Arc::new(ManualClock::new(start_time()));
    let instances: Vec<Reserver> = [first.clone(), second]
        .into_iter()
        .map(|store| Reserver::start(store, Arc::clone(&clock), ReserverConfig::default()))
        .collect();
    let keys = 40;
    let mut races = Vec::new();
    for index in 0..keys {
        let key = format!("race-{index}");
        let (a, b) = (instances[0].clone(), instances[1].clone());
        races.push(tokio::spawn(async move {
            let (left, right) = tokio::join!(
                a.submit(reserve(&key, 600, vec![line("SOFA", 2)])),
                b.submit(reserve(&key, 600, vec![line("SOFA", 2)])),
            );
            (left, right)
        }));
    }
    for race in races {
        let (left, right) = race.await.unwrap();
        match (left, right) {
            (
                Ok(Outcome::Reservation {
                    reservation: left,
                    replayed: left_replayed,
                }),
                Ok(Outcome::Reservation {
                    reservation: right,
                    replayed: right_replayed,
                }),
            ) => {
                assert_eq!(left.id, right.id, "one reservation per key");
                assert!(
                    left_replayed != right_replayed,
                    "one caller made it, the other replayed it"
                );
            }
            other => panic!("both callers get the reservation: {other:?}"),
        }
    }
    for instance in instances {
        instance.shutdown().await;
    }
    assert_eq!(row(&first, "SOFA").await, (1000, 2 * keys));
    let check = check_ledger(&first).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.held_reservations, keys as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_one_key_hold_once_on_sqlite() {
    let db = Db::sqlite().await;
    let second = db.second_store().await;
    two_instances_racing_one_key_hold_once(db.store.clone(), second.clone()).await;
    second.close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_one_key_hold_once_on_postgres() {
    let Some(db) = Db::postgres("two_instances_racing_one_key_hold_once_on_postgres").await else {
        return;
    };
    let second = db.second_store().await;
    two_instances_racing_one_key_hold_once(db.store.clone(), second.clone()).await;
    second.close().await;
    db.finish().await;
}
