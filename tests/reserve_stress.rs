//! Bounded stress: many clients reserve, commit (fully or partly), release, retry and let holds
//! expire on a few SKUs with small stock while time moves and stock arrives; at the end nothing
//! was oversold, `reserved` equals the live holds, and the ledger replays to every row.

mod reserve_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use rand::{Rng, SeedableRng};
use reserve_support::*;
use stockcast::clock::{Clock, ManualClock, SharedClock};
use stockcast::reservation_store::{check_ledger, expire_due, CoreError, Reserver, ReserverConfig};
use stockcast::reserve::{
    Adjustment, AdjustmentKind, LineRequest, Operation, Outcome, Refusal, Request, ReserveRequest,
};
use stockcast::store::Store;

const SKUS: [&str; 3] = ["SOFA", "LAMP", "RUG"];
const INITIAL: i64 = 40;
const CLIENTS: usize = 24;
const ROUNDS: usize = 40;

#[derive(Default)]
struct Tally {
    committed: HashMap<String, i64>,
    received: HashMap<String, i64>,
}

async fn stress(stores: Vec<Store>, check_store: Store) {
    let stock: Vec<(&str, i64)> = SKUS.iter().map(|sku| (*sku, INITIAL)).collect();
    seed(&check_store, &stock).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let shared: SharedClock = clock.clone();
    let reservers: Vec<Reserver> = stores
        .into_iter()
        .map(|store| {
            Reserver::start(
                store,
                Arc::clone(&shared),
                ReserverConfig {
                    max_batch: 32,
                    ..ReserverConfig::default()
                },
            )
        })
        .collect();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let done = Arc::new(AtomicBool::new(false));
    // Time moves on while clients work, so holds expire mid-run.
    let ticker = {
        let clock = Arc::clone(&clock);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                clock.advance_seconds(2);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let reserver = reservers[client % reservers.len()].clone();
        let tally = Arc::clone(&tally);
        clients.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64);
            let submit = |operation| {
                reserver.submit(Request {
                    who: format!("client-{client}"),
                    operation,
                })
            };
            for round in 0..ROUNDS {
                if rng.random_range(0..20) == 0 {
                    let sku = SKUS[rng.random_range(0..SKUS.len())];
                    let units = rng.random_range(1..4);
                    let adjustment = Adjustment {
                        sku: sku.into(),
                        warehouse: WAREHOUSE.into(),
                        kind: AdjustmentKind::Receipt,
                        qty: units,
                        reason: "stress".into(),
                    };
                    submit(Operation::Adjust(vec![adjustment]))
                        .await
                        .expect("receipt");
                    *tally
                        .lock()
                        .unwrap()
                        .received
                        .entry(sku.to_string())
                        .or_insert(0) += units;
                    continue;
                }
                let lines: Vec<LineRequest> = (0..rng.random_range(1..3))
                    .map(|_| LineRequest {
                        sku: SKUS[rng.random_range(0..SKUS.len())].into(),
                        warehouse: WAREHOUSE.into(),
                        qty: rng.random_range(1..4),
                    })
                    .collect();
                let request = ReserveRequest {
                    idempotency_key: format!("{client}-{round}"),
                    ttl_seconds: rng.random_range(5..60),
                    lines,
                };
                let reservation = match submit(Operation::Reserve(request.clone())).await {
                    Ok(Outcome::Reservation { reservation, .. }) => reservation,
                    Err(CoreError::Refused(Refusal::InsufficientStock(_))) => continue,
                    other => panic!("reserve: {other:?}"),
                };
                if rng.random_range(0..4) == 0 {
                    // A client retry: must be the same hold, not a second one.
                    match submit(Operation::Reserve(request)).await {
                        Ok(Outcome::Reservation {
                            reservation: again,
                            replayed,
                        }) => {
                            assert!(replayed);
                            assert_eq!(again.id, reservation.id);
                        }
                        other => panic!("retry: {other:?}"),
                    }
                }
                let id = reservation.id.clone();
                let outcome = match rng.random_range(0..10) {
                    0..=2 => submit(Operation::Commit { id, lines: None }).await,
                    3..=4 => {
                        let first = &reservation.lines[0];
                        let partial = LineRequest {
                            sku: first.sku.clone(),
                            warehouse: first.warehouse.clone(),
                            qty: rng.random_range(0..=first.qty),
                        };
                        submit(Operation::Commit {
                            id,
                            lines: Some(vec![partial]),
                        })
                        .await
                    }
                    5..=6 => submit(Operation::Release { id }).await,
                    7 => {
                        submit(Operation::Extend {
                            id,
                            ttl_seconds: 30,
                        })
                        .await
                    }
                    _ => continue,
                };
                match outcome {
                    Ok(Outcome::Reservation { reservation, .. }) => {
                        let mut tally = tally.lock().unwrap();
                        for line in &reservation.lines {
                            *tally.committed.entry(line.sku.clone()).or_insert(0) += line.committed;
                        }
                    }
                    // The hold expired before the commit/release/extend reached it: fine.
                    Err(CoreError::Refused(Refusal::NotHeld { .. })) => {}
                    other => panic!("follow-up: {other:?}"),
                }
            }
        }));
    }
    for client in clients {
        client.await.expect("client finished");
    }
    done.store(true, Ordering::Relaxed);
    ticker.await.unwrap();
    for reserver in reservers {
        reserver.shutdown().await;
    }

    let tally = std::mem::take(&mut *tally.lock().unwrap());
    for sku in SKUS {
        let received = tally.received.get(sku).copied().unwrap_or(0);
        let committed = tally.committed.get(sku).copied().unwrap_or(0);
        let (on_hand, reserved) = row(&check_store, sku).await;
        assert!(
            committed <= INITIAL + received,
            "{sku}: sold {committed} of {}",
            INITIAL + received
        );
        assert_eq!(
            on_hand,
            INITIAL + received - committed,
            "{sku}: every acknowledged commit left the shelf"
        );
        assert_eq!(
            live_sales(&check_store, sku).await,
            committed as f64,
            "{sku}: sales history learns every commit"
        );
        assert!(reserved <= on_hand);
    }
    let check = check_ledger(&check_store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert!(
        check.events > 100,
        "the stress did something: {} events",
        check.events
    );
    let later = clock.now() + Duration::days(1);
    expire_due(&check_store, later, 100_000).await.unwrap();
    for sku in SKUS {
        assert_eq!(
            row(&check_store, sku).await.1,
            0,
            "{sku}: every hold expired"
        );
    }
    assert!(check_ledger(&check_store).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_keeps_every_invariant_on_sqlite() {
    let db = Db::sqlite().await;
    stress(vec![db.store.clone()], db.store.clone()).await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_keeps_every_invariant_with_two_instances_on_postgres() {
    let Some(db) =
        Db::postgres("stress_keeps_every_invariant_with_two_instances_on_postgres").await
    else {
        return;
    };
    let second = db.second_store().await;
    stress(vec![db.store.clone(), second.clone()], db.store.clone()).await;
    second.close().await;
    db.finish().await;
}
