//! Rebuilding stock rows from the ledger. Pure: given one row's events in `seq` order, replay
//! them from the row's opening balance and check every step, then compare with the stored row.

use serde::Serialize;

use super::model::{Event, EventKind, StockKey, StockRow};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub sku: String,
    pub warehouse: String,
    pub problem: String,
}

/// Checks that each event's sign matches its kind (a reserve only raises reserved, a commit
/// lowers both, …).
fn kind_allows(event: &Event) -> bool {
    let on_hand = event.on_hand_after - event.on_hand_before;
    let reserved = event.reserved_after - event.reserved_before;
    match event.kind {
        EventKind::Reserve => on_hand == 0 && reserved > 0,
        EventKind::Release | EventKind::Expire => on_hand == 0 && reserved < 0,
        EventKind::Commit => on_hand <= 0 && reserved < 0 && -on_hand <= -reserved,
        EventKind::Receipt | EventKind::TransferIn => on_hand > 0 && reserved == 0,
        EventKind::Damage | EventKind::TransferOut => on_hand < 0 && reserved == 0,
        EventKind::Count => reserved == 0,
    }
}

/// Replays one row's events (sorted by seq) and returns the rebuilt row, or the first problem.
/// Reserved units start at zero; on_hand starts at the first event's `on_hand_before` (the
/// stock loaded by ingest before the live core touched the row).
pub fn replay(events: &[Event]) -> Result<StockRow, String> {
    let mut row = StockRow {
        on_hand: events.first().map_or(0, |event| event.on_hand_before),
        reserved: 0,
        ledger_seq: 0,
    };
    for event in events {
        if event.seq != row.ledger_seq + 1 {
            return Err(format!("seq {} follows {}", event.seq, row.ledger_seq));
        }
        if event.on_hand_before != row.on_hand || event.reserved_before != row.reserved {
            return Err(format!(
                "seq {}: before ({}, {}) but replay has ({}, {})",
                event.seq, event.on_hand_before, event.reserved_before, row.on_hand, row.reserved
            ));
        }
        if !kind_allows(event) {
            return Err(format!(
                "seq {}: a {} event cannot move on_hand {} → {} and reserved {} → {}",
                event.seq,
                event.kind.as_str(),
                event.on_hand_before,
                event.on_hand_after,
                event.reserved_before,
                event.reserved_after
            ));
        }
        if event.reserved_after < 0 || event.reserved_after > event.on_hand_after {
            return Err(format!("seq {}: available below zero", event.seq));
        }
        row = StockRow {
            on_hand: event.on_hand_after,
            reserved: event.reserved_after,
            ledger_seq: event.seq,
        };
    }
    Ok(row)
}

/// Compares a stored row with its replayed ledger. Rows with no events must hold nothing.
pub fn check_row(key: &StockKey, stored: &StockRow, events: &[Event]) -> Option<Mismatch> {
    let problem = match replay(events) {
        Err(problem) => Some(problem),
        Ok(_) if events.is_empty() => (stored.reserved != 0 || stored.ledger_seq != 0)
            .then(|| format!("no events but reserved {} and seq {}", stored.reserved, stored.ledger_seq)),
        Ok(rebuilt) if rebuilt != *stored => Some(format!(
            "stored (on_hand {}, reserved {}, seq {}) but the ledger gives (on_hand {}, reserved {}, seq {})",
            stored.on_hand, stored.reserved, stored.ledger_seq, rebuilt.on_hand, rebuilt.reserved, rebuilt.ledger_seq
        )),
        Ok(_) => None,
    };
    problem.map(|problem| Mismatch {
        sku: key.sku.clone(),
        warehouse: key.warehouse.clone(),
        problem,
    })
}

/// What the reservation rows say a stock row's ledger must add up to: every unit any
/// reservation ever held on it, and every unit a commit sold from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReservationTotals {
    pub held_ever: i64,
    pub sold: i64,
}

/// Ties a row's ledger to its reservations: the `reserve` events must add exactly the units
/// of every reservation made on the row, and the `commit` events must take exactly the units
/// their commits sold. With several holds sharing one `reserve` event this is what still
/// accounts for each hold; reservations are never deleted, so the sums cover all of them.
pub fn check_reservations(
    key: &StockKey,
    events: &[Event],
    totals: ReservationTotals,
) -> Option<Mismatch> {
    let mut reserved_in = 0;
    let mut sold = 0;
    for event in events {
        match event.kind {
            EventKind::Reserve => reserved_in += event.reserved_after - event.reserved_before,
            EventKind::Commit => sold += event.on_hand_before - event.on_hand_after,
            _ => {}
        }
    }
    let problem = if reserved_in != totals.held_ever {
        format!(
            "reserve events add {reserved_in} units but reservations held {}",
            totals.held_ever
        )
    } else if sold != totals.sold {
        format!(
            "commit events sold {sold} units but reservations committed {}",
            totals.sold
        )
    } else {
        return None;
    };
    Some(Mismatch {
        sku: key.sku.clone(),
        warehouse: key.warehouse.clone(),
        problem,
    })
}
