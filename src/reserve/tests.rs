use chrono::{DateTime, Duration, TimeZone, Utc};

use super::batch::{apply, expire_due, BatchState, Outcome};
use super::model::*;
use super::refusal::Refusal;
use super::replay::replay;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

fn state(rows: &[(&str, i64)]) -> BatchState {
    let mut state = BatchState::default();
    for (sku, on_hand) in rows {
        state.rows.insert(
            StockKey::new(*sku, "W"),
            StockRow {
                on_hand: *on_hand,
                reserved: 0,
                ledger_seq: 0,
            },
        );
    }
    state
}

fn line(sku: &str, qty: i64) -> LineRequest {
    LineRequest {
        sku: sku.into(),
        warehouse: "W".into(),
        qty,
    }
}

fn reserve(key: &str, lines: Vec<LineRequest>) -> Request {
    Request {
        who: "test".into(),
        operation: Operation::Reserve(ReserveRequest {
            idempotency_key: key.into(),
            ttl_seconds: 60,
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

fn run(state: &mut BatchState, request: &Request, now: DateTime<Utc>) -> Result<Outcome, Refusal> {
    let mut next = state.reservations.len();
    apply(state, request, now, &mut || {
        next += 1;
        format!("r{next}")
    })
}

fn id_of(outcome: Result<Outcome, Refusal>) -> String {
    match outcome {
        Ok(Outcome::Reservation { reservation, .. }) => reservation.id,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

fn row(state: &BatchState, sku: &str) -> StockRow {
    state.rows[&StockKey::new(sku, "W")]
}

#[test]
fn carts_are_all_or_nothing_and_sum_repeated_skus() {
    let mut state = state(&[("A", 5), ("B", 1)]);
    let refused = run(
        &mut state,
        &reserve("k1", vec![line("A", 2), line("B", 2)]),
        t0(),
    );
    match refused {
        Err(Refusal::InsufficientStock(shortages)) => {
            assert_eq!(shortages.len(), 1);
            assert_eq!((shortages[0].requested, shortages[0].available), (2, 1));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        row(&state, "A").reserved,
        0,
        "nothing held from a refused cart"
    );
    assert!(state.changes.events.is_empty());
    // 3 + 3 of A on two lines is 6 > 5.
    let refused = run(
        &mut state,
        &reserve("k2", vec![line("A", 3), line("A", 3)]),
        t0(),
    );
    assert!(matches!(refused, Err(Refusal::InsufficientStock(_))));
    id_of(run(
        &mut state,
        &reserve("k3", vec![line("A", 3), line("A", 2)]),
        t0(),
    ));
    assert_eq!(row(&state, "A").reserved, 5);
    assert_eq!(row(&state, "A").available(), 0);
}

#[test]
fn idempotent_retries_replay_and_different_bodies_are_refused() {
    let mut state = state(&[("A", 5)]);
    let first = id_of(run(&mut state, &reserve("k", vec![line("A", 2)]), t0()));
    match run(&mut state, &reserve("k", vec![line("A", 2)]), t0()) {
        Ok(Outcome::Reservation {
            reservation,
            replayed,
        }) => {
            assert!(replayed);
            assert_eq!(reservation.id, first);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(row(&state, "A").reserved, 2, "a retry never reserves twice");
    assert!(matches!(
        run(&mut state, &reserve("k", vec![line("A", 3)]), t0()),
        Err(Refusal::IdempotencyMismatch(_))
    ));
}

#[test]
fn partial_commit_sells_some_and_releases_the_rest() {
    let mut state = state(&[("A", 10), ("B", 10)]);
    let id = id_of(run(
        &mut state,
        &reserve("k", vec![line("A", 4), line("B", 2)]),
        t0(),
    ));
    let commit = op(Operation::Commit {
        id: id.clone(),
        lines: Some(vec![line("A", 3)]),
    });
    let Ok(Outcome::Reservation { reservation, .. }) = run(&mut state, &commit, t0()) else {
        panic!("commit failed")
    };
    assert_eq!(reservation.status, Status::Committed);
    assert_eq!(
        row(&state, "A"),
        StockRow {
            on_hand: 7,
            reserved: 0,
            ledger_seq: 2
        }
    );
    assert_eq!(row(&state, "B").on_hand, 10);
    assert_eq!(row(&state, "B").reserved, 0);
    let sold: i64 = state.changes.sales.values().sum();
    assert_eq!(sold, 3);
    // The same commit again is a no-op; a different one is refused.
    assert!(matches!(
        run(&mut state, &commit, t0()),
        Ok(Outcome::Reservation { replayed: true, .. })
    ));
    let other = op(Operation::Commit { id, lines: None });
    assert!(matches!(
        run(&mut state, &other, t0()),
        Err(Refusal::NotHeld { .. })
    ));
    // More than held is refused before anything changes.
    let id2 = id_of(run(&mut state, &reserve("k2", vec![line("A", 1)]), t0()));
    let too_many = op(Operation::Commit {
        id: id2,
        lines: Some(vec![line("A", 2)]),
    });
    assert!(matches!(
        run(&mut state, &too_many, t0()),
        Err(Refusal::BadCommit(_))
    ));
    assert_eq!(row(&state, "A").reserved, 1);
}

#[test]
fn expired_holds_free_their_units_and_cannot_be_committed() {
    let mut state = state(&[("A", 3)]);
    let id = id_of(run(&mut state, &reserve("k", vec![line("A", 3)]), t0()));
    let later = t0() + Duration::seconds(60);
    // Not yet swept, but due: a commit finds it expired and its units come back.
    let commit = op(Operation::Commit {
        id: id.clone(),
        lines: None,
    });
    assert!(matches!(
        run(&mut state, &commit, later),
        Err(Refusal::NotHeld {
            status: Status::Expired,
            ..
        })
    ));
    assert_eq!(row(&state, "A").reserved, 0);
    id_of(run(&mut state, &reserve("k2", vec![line("A", 3)]), later));
    assert_eq!(expire_due(&mut state, later + Duration::seconds(59)), 0);
    assert_eq!(expire_due(&mut state, later + Duration::seconds(60)), 1);
    assert_eq!(row(&state, "A").reserved, 0);
}

#[test]
fn extend_moves_expiry_and_release_gives_units_back() {
    let mut state = state(&[("A", 3)]);
    let id = id_of(run(&mut state, &reserve("k", vec![line("A", 2)]), t0()));
    let extend = op(Operation::Extend {
        id: id.clone(),
        ttl_seconds: 600,
    });
    run(&mut state, &extend, t0() + Duration::seconds(30)).unwrap();
    assert_eq!(expire_due(&mut state, t0() + Duration::seconds(300)), 0);
    let release = op(Operation::Release { id: id.clone() });
    run(&mut state, &release, t0() + Duration::seconds(301)).unwrap();
    assert_eq!(row(&state, "A").reserved, 0);
    assert!(matches!(
        run(&mut state, &release, t0() + Duration::seconds(302)),
        Ok(Outcome::Reservation { replayed: true, .. })
    ));
    assert!(matches!(
        run(&mut state, &extend, t0()),
        Err(Refusal::NotHeld { .. })
    ));
}

#[test]
fn adjustments_are_all_or_nothing_and_never_undercut_holds() {
    let mut state = state(&[("A", 5)]);
    state.creatable.insert(StockKey::new("NEW", "W"));
    id_of(run(&mut state, &reserve("k", vec![line("A", 4)]), t0()));
    let adjust = |kind, sku: &str, qty| Adjustment {
        sku: sku.into(),
        warehouse: "W".into(),
        kind,
        qty,
        reason: "test".into(),
    };
    let bad = op(Operation::Adjust(vec![
        adjust(AdjustmentKind::Receipt, "A", 10),
        adjust(AdjustmentKind::Damage, "A", 12),
    ]));
    assert!(matches!(
        run(&mut state, &bad, t0()),
        Err(Refusal::BelowReserved(_))
    ));
    assert_eq!(row(&state, "A").on_hand, 5);
    let unknown = op(Operation::Adjust(vec![adjust(
        AdjustmentKind::Receipt,
        "NOPE",
        1,
    )]));
    assert!(matches!(
        run(&mut state, &unknown, t0()),
        Err(Refusal::UnknownStock(_))
    ));
    let good = op(Operation::Adjust(vec![
        adjust(AdjustmentKind::Receipt, "A", 10),
        adjust(AdjustmentKind::Count, "A", 7),
        adjust(AdjustmentKind::TransferIn, "NEW", 2),
    ]));
    run(&mut state, &good, t0()).unwrap();
    assert_eq!(row(&state, "A").on_hand, 7);
    assert_eq!(row(&state, "NEW").on_hand, 2);
    assert!(state
        .changes
        .created_rows
        .contains(&StockKey::new("NEW", "W")));
}

#[test]
fn the_ledger_replays_to_the_rows() {
    let mut state = state(&[("A", 5)]);
    let id = id_of(run(&mut state, &reserve("k", vec![line("A", 2)]), t0()));
    run(
        &mut state,
        &op(Operation::Commit {
            id,
            lines: Some(vec![line("A", 1)]),
        }),
        t0(),
    )
    .unwrap();
    id_of(run(&mut state, &reserve("k2", vec![line("A", 3)]), t0()));
    let events: Vec<Event> = state.changes.events.clone();
    assert_eq!(replay(&events).unwrap(), row(&state, "A"));
    let mut tampered = events.clone();
    tampered[1].on_hand_after += 1;
    assert!(replay(&tampered).is_err());
}

#[test]
fn holds_in_a_row_by_one_caller_share_one_reserve_event() {
    use super::replay::{check_reservations, ReservationTotals};
    let mut state = state(&[("A", 10), ("B", 10)]);
    let first = id_of(run(&mut state, &reserve("k1", vec![line("A", 1)]), t0()));
    id_of(run(
        &mut state,
        &reserve("k2", vec![line("A", 2), line("B", 1)]),
        t0(),
    ));
    id_of(run(&mut state, &reserve("k3", vec![line("A", 3)]), t0()));
    let events = state.changes.events.clone();
    assert_eq!(events.len(), 2, "one event per row: {events:?}");
    assert_eq!(
        (
            events[0].reserved_before,
            events[0].reserved_after,
            events[0].seq
        ),
        (0, 6, 1)
    );
    assert_eq!(events[0].reservation_id, None, "it covers three holds");
    assert_eq!(
        events[1].reservation_id.as_deref(),
        Some("r2"),
        "B had one hold"
    );

    // A release in between, or another caller, starts a new event.
    run(&mut state, &op(Operation::Release { id: first }), t0()).unwrap();
    id_of(run(&mut state, &reserve("k4", vec![line("A", 1)]), t0()));
    let mut other = reserve("k5", vec![line("A", 1)]);
    other.who = "someone else".into();
    id_of(run(&mut state, &other, t0()));
    let a: Vec<Event> = state
        .changes
        .events
        .iter()
        .filter(|event| event.key.sku == "A")
        .cloned()
        .collect();
    let kinds: Vec<EventKind> = a.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Reserve,
            EventKind::Release,
            EventKind::Reserve,
            EventKind::Reserve
        ]
    );
    assert_eq!(replay(&a).unwrap(), row(&state, "A"));

    // The reserve events add up to the units of every reservation made on the row.
    let key = StockKey::new("A", "W");
    let held_ever = 1 + 2 + 3 + 1 + 1;
    let totals = ReservationTotals { held_ever, sold: 0 };
    assert_eq!(check_reservations(&key, &a, totals), None);
    let short = ReservationTotals {
        held_ever: held_ever + 1,
        sold: 0,
    };
    assert!(check_reservations(&key, &a, short).is_some());
}
