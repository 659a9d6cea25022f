//! Applying a batch of requests to the stock rows and reservations a transaction has locked.
//! Pure: the store loads the state, calls [`apply`] for each request in arrival order, then
//! writes [`Changes`] back in the same transaction. Each request is all-or-nothing on its own;
//! a refused request leaves the state exactly as it found it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::idempotency::request_hash;
use super::model::{
    Adjustment, Event, EventKind, LineRequest, Operation, Request, Reservation, ReserveRequest,
    ReservedLine, Status, StockKey, StockRow, StockView,
};
use super::refusal::{Refusal, Shortage};

/// What a batch changed, for the store to write.
#[derive(Debug, Default)]
pub struct Changes {
    /// Ledger events in order. Holds that follow one another on a row within a batch, made
    /// by the same caller, share one `reserve` event (see [`BatchState::record`]).
    pub events: Vec<Event>,
    /// Per row, the index in `events` of its latest event in this batch.
    latest_event: HashMap<StockKey, usize>,
    /// Rows created by an adjustment (a receipt of a SKU never stocked here before).
    pub created_rows: BTreeSet<StockKey>,
    pub changed_rows: BTreeSet<StockKey>,
    /// Reservations created in this batch, in creation order.
    pub inserted: Vec<String>,
    /// Reservations that existed before the batch and changed.
    pub updated: BTreeSet<String>,
    /// Units committed per row and day: appended to `sales` (source 'live').
    pub sales: BTreeMap<(StockKey, NaiveDate), i64>,
    pub expired: usize,
}

/// The locked rows and reservations a batch works on.
#[derive(Debug, Default)]
pub struct BatchState {
    pub rows: BTreeMap<StockKey, StockRow>,
    /// Rows that do not exist yet but whose SKU and warehouse do (an adjustment may create them).
    pub creatable: BTreeSet<StockKey>,
    pub reservations: HashMap<String, Reservation>,
    pub by_idempotency_key: HashMap<String, String>,
    /// on_hand as of each loaded row's last ledger event, where known.
    pub ledger_on_hand: HashMap<StockKey, i64>,
    /// Reservations loaded only to answer an idempotent retry, without a row lock: the batch
    /// may show them but never change them (another process may be changing them).
    pub replay_only: std::collections::HashSet<String>,
    pub changes: Changes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The reservation after the request. `replayed` when the request had already been applied
    /// (an idempotent retry) and nothing changed.
    Reservation {
        reservation: Reservation,
        replayed: bool,
    },
    Adjusted(Vec<StockView>),
}

impl BatchState {
    pub fn add_reservation(&mut self, reservation: Reservation) {
        self.by_idempotency_key
            .insert(reservation.idempotency_key.clone(), reservation.id.clone());
        self.reservations
            .insert(reservation.id.clone(), reservation);
    }

    fn mark_updated(&mut self, id: &str) {
        if !self.changes.inserted.iter().any(|inserted| inserted == id) {
            self.changes.updated.insert(id.to_string());
        }
    }

    /// Appends a ledger event and moves the row to its new values.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        key: &StockKey,
        kind: EventKind,
        on_hand_after: i64,
        reserved_after: i64,
        reservation_id: Option<&str>,
        who: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) {
        let row = self
            .rows
            .get_mut(key)
            .expect("caller checked the row exists");
        debug_assert!(reserved_after >= 0 && reserved_after <= on_hand_after);
        // A hold that follows another hold by the same caller on this row, with nothing in
        // between, extends that event instead of writing its own: under load a batch's holds
        // on a hot row cost one ledger row, not one each. The event still carries the row
        // from before to after, so replaying the ledger rebuilds every counter, and
        // `check_reservations` ties its units to the reservation rows.
        if kind == EventKind::Reserve && on_hand_after == row.on_hand {
            if let Some(&index) = self.changes.latest_event.get(key) {
                let latest = &mut self.changes.events[index];
                if latest.kind == EventKind::Reserve
                    && latest.who == who
                    && latest.at == now
                    && latest.seq == row.ledger_seq
                {
                    latest.reserved_after = reserved_after;
                    // It covers several reservations now, so it names none of them.
                    latest.reservation_id = None;
                    row.reserved = reserved_after;
                    return;
                }
            }
        }
        row.ledger_seq += 1;
        self.changes
            .latest_event
            .insert(key.clone(), self.changes.events.len());
        self.changes.events.push(Event {
            key: key.clone(),
            seq: row.ledger_seq,
            at: now,
            kind,
            on_hand_before: row.on_hand,
            on_hand_after,
            reserved_before: row.reserved,
            reserved_after,
            reservation_id: reservation_id.map(str::to_string),
            who: who.to_string(),
            reason: reason.to_string(),
        });
        row.on_hand = on_hand_after;
        row.reserved = reserved_after;
        self.changes.changed_rows.insert(key.clone());
    }

    fn missing_rows(&self, keys: impl Iterator<Item = StockKey>) -> Vec<StockKey> {
        let missing: BTreeSet<StockKey> = keys.filter(|key| !self.rows.contains_key(key)).collect();
        missing.into_iter().collect()
    }

    /// Gives back the units of one hold (release or expiry).
    fn give_back(&mut self, id: &str, kind: EventKind, status: Status, now: DateTime<Utc>) {
        let reservation = self.reservations.get(id).expect("loaded").clone();
        for line in &reservation.lines {
            let row = self.rows[&line.key()];
            self.record(
                &line.key(),
                kind,
                row.on_hand,
                row.reserved - line.qty,
                Some(id),
                &reservation.who,
                "",
                now,
            );
        }
        let reservation = self.reservations.get_mut(id).expect("loaded");
        reservation.status = status;
        reservation.finished_at = Some(now);
        self.mark_updated(id);
    }
}

/// Writes a `count` event for every loaded row whose on_hand was changed outside the ledger
/// (an inventory ingest), so the ledger keeps replaying to the stored row.
pub fn reconcile_imports(state: &mut BatchState, now: DateTime<Utc>) {
    let mut keys: Vec<StockKey> = state
        .ledger_on_hand
        .iter()
        .filter(|(key, ledger)| {
            state
                .rows
                .get(*key)
                .is_some_and(|row| row.on_hand != **ledger)
        })
        .map(|(key, _)| key.clone())
        .collect();
    keys.sort();
    for key in keys {
        let ledger = state.ledger_on_hand[&key];
        let row = state.rows.get_mut(&key).expect("filtered on rows");
        row.ledger_seq += 1;
        state.changes.events.push(Event {
            key: key.clone(),
            seq: row.ledger_seq,
            at: now,
            kind: EventKind::Count,
            on_hand_before: ledger,
            on_hand_after: row.on_hand,
            reserved_before: row.reserved,
            reserved_after: row.reserved,
            reservation_id: None,
            who: "ingest".to_string(),
            reason: "inventory import".to_string(),
        });
        state.ledger_on_hand.insert(key.clone(), row.on_hand);
        state.changes.changed_rows.insert(key);
    }
}

/// Expires every loaded hold that is due at `now`; returns how many. Called before a batch's
/// requests so an expired hold never counts against availability.
pub fn expire_due(state: &mut BatchState, now: DateTime<Utc>) -> usize {
    let mut due: Vec<String> = state
        .reservations
        .values()
        .filter(|reservation| reservation.status == Status::Held && reservation.expires_at <= now)
        .filter(|reservation| !state.replay_only.contains(&reservation.id))
        .map(|reservation| reservation.id.clone())
        .collect();
    due.sort();
    for id in &due {
        if state
            .missing_rows(state.reservations[id].lines.iter().map(ReservedLine::key))
            .is_empty()
        {
            state.give_back(id, EventKind::Expire, Status::Expired, now);
        }
    }
    state.changes.expired += due.len();
    due.len()
}

/// Applies one request. `new_id` names a new reservation.
pub fn apply(
    state: &mut BatchState,
    request: &Request,
    now: DateTime<Utc>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Outcome, Refusal> {
    let who = request.who.as_str();
    match &request.operation {
        Operation::Reserve(reserve) => apply_reserve(state, reserve, who, now, new_id),
        Operation::Commit { id, lines } => apply_commit(state, id, lines.as_deref(), now),
        Operation::Release { id } => apply_release(state, id, now),
        Operation::Extend { id, ttl_seconds } => apply_extend(state, id, *ttl_seconds, now),
        Operation::Adjust(adjustments) => apply_adjust(state, adjustments, who, now),
    }
}

fn apply_reserve(
    state: &mut BatchState,
    request: &ReserveRequest,
    who: &str,
    now: DateTime<Utc>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Outcome, Refusal> {
    let hash = request_hash(request);
    if let Some(id) = state.by_idempotency_key.get(&request.idempotency_key) {
        let existing = &state.reservations[id];
        return if existing.request_hash == hash {
            Ok(Outcome::Reservation {
                reservation: existing.as_of(now),
                replayed: true,
            })
        } else {
            Err(Refusal::IdempotencyMismatch(
                request.idempotency_key.clone(),
            ))
        };
    }
    let keys: Vec<StockKey> = request.lines.iter().map(LineRequest::key).collect();
    let missing = state.missing_rows(keys.iter().cloned());
    if !missing.is_empty() {
        return Err(Refusal::UnknownStock(missing));
    }
    // A cart may name one SKU on several lines: the sum must fit.
    let mut wanted: BTreeMap<&StockKey, i64> = BTreeMap::new();
    for (key, line) in keys.iter().zip(&request.lines) {
        *wanted.entry(key).or_insert(0) += line.qty;
    }
    let shortages: Vec<Shortage> = wanted
        .iter()
        .filter_map(|(key, requested)| {
            let available = state.rows[*key].available();
            (*requested > available).then(|| Shortage {
                sku: key.sku.clone(),
                warehouse: key.warehouse.clone(),
                requested: *requested,
                available: available.max(0),
            })
        })
        .collect();
    if !shortages.is_empty() {
        return Err(Refusal::InsufficientStock(shortages));
    }
    let id = new_id();
    for (key, line) in keys.iter().zip(&request.lines) {
        let row = state.rows[key];
        state.record(
            key,
            EventKind::Reserve,
            row.on_hand,
            row.reserved + line.qty,
            Some(&id),
            who,
            "",
            now,
        );
    }
    let reservation = Reservation {
        id: id.clone(),
        idempotency_key: request.idempotency_key.clone(),
        request_hash: hash,
        who: who.to_string(),
        status: Status::Held,
        created_at: now,
        expires_at: now + Duration::seconds(request.ttl_seconds),
        finished_at: None,
        lines: request
            .lines
            .iter()
            .map(|line| ReservedLine {
                sku: line.sku.clone(),
                warehouse: line.warehouse.clone(),
                qty: line.qty,
                committed: 0,
            })
            .collect(),
    };
    state.add_reservation(reservation.clone());
    state.changes.inserted.push(id);
    Ok(Outcome::Reservation {
        reservation,
        replayed: false,
    })
}

/// A held reservation (expiring it first if it is due), or why not.
fn held<'a>(
    state: &'a mut BatchState,
    id: &str,
    now: DateTime<Utc>,
) -> Result<&'a Reservation, Refusal> {
    let Some(reservation) = state.reservations.get(id) else {
        return Err(Refusal::NotFound(id.to_string()));
    };
    if reservation.status == Status::Held && reservation.expires_at <= now {
        state.give_back(id, EventKind::Expire, Status::Expired, now);
        state.changes.expired += 1;
    }
    let reservation = &state.reservations[id];
    if reservation.status != Status::Held {
        return Err(Refusal::NotHeld {
            id: id.to_string(),
            status: reservation.status,
        });
    }
    Ok(reservation)
}

/// Units to sell per reservation line: all of them, or the requested units per (sku,
/// warehouse) spread over that row's lines in order.
fn commit_quantities(
    reservation: &Reservation,
    requested: Option<&[LineRequest]>,
) -> Result<Vec<i64>, Refusal> {
    let Some(requested) = requested else {
        return Ok(reservation.lines.iter().map(|line| line.qty).collect());
    };
    let mut remaining: BTreeMap<StockKey, i64> = BTreeMap::new();
    for line in requested {
        *remaining.entry(line.key()).or_insert(0) += line.qty;
    }
    let mut held: BTreeMap<StockKey, i64> = BTreeMap::new();
    for line in &reservation.lines {
        *held.entry(line.key()).or_insert(0) += line.qty;
    }
    for (key, units) in &remaining {
        match held.get(key) {
            None => {
                return Err(Refusal::BadCommit(format!(
                    "{key} is not in reservation {}",
                    reservation.id
                )))
            }
            Some(held) if units > held => {
                return Err(Refusal::BadCommit(format!(
                    "{key}: cannot commit {units} units, {held} are held"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(reservation
        .lines
        .iter()
        .map(|line| {
            let left = remaining.entry(line.key()).or_insert(0);
            let take = (*left).min(line.qty);
            *left -= take;
            take
        })
        .collect())
}

fn apply_commit(
    state: &mut BatchState,
    id: &str,
    requested: Option<&[LineRequest]>,
    now: DateTime<Utc>,
) -> Result<Outcome, Refusal> {
    if let Some(existing) = state.reservations.get(id) {
        if existing.status == Status::Committed {
            // A retried commit: the same units again is a no-op, other units are a conflict.
            let same = commit_quantities(existing, requested).is_ok_and(|units| {
                units
                    .iter()
                    .zip(&existing.lines)
                    .all(|(units, line)| *units == line.committed)
            });
            return if same {
                Ok(Outcome::Reservation {
                    reservation: existing.clone(),
                    replayed: true,
                })
            } else {
                Err(Refusal::NotHeld {
                    id: id.to_string(),
                    status: Status::Committed,
                })
            };
        }
    }
    let reservation = held(state, id, now)?.clone();
    let units = commit_quantities(&reservation, requested)?;
    let missing = state.missing_rows(reservation.lines.iter().map(ReservedLine::key));
    if !missing.is_empty() {
        return Err(Refusal::UnknownStock(missing));
    }
    for (line, sold) in reservation.lines.iter().zip(&units) {
        let key = line.key();
        let row = state.rows[&key];
        state.record(
            &key,
            EventKind::Commit,
            row.on_hand - sold,
            row.reserved - line.qty,
            Some(id),
            &reservation.who,
            "",
            now,
        );
        if *sold > 0 {
            *state
                .changes
                .sales
                .entry((key, now.date_naive()))
                .or_insert(0) += sold;
        }
    }
    let stored = state.reservations.get_mut(id).expect("loaded");
    stored.status = Status::Committed;
    stored.finished_at = Some(now);
    for (line, sold) in stored.lines.iter_mut().zip(units) {
        line.committed = sold;
    }
    let reservation = stored.clone();
    state.mark_updated(id);
    Ok(Outcome::Reservation {
        reservation,
        replayed: false,
    })
}

fn apply_release(state: &mut BatchState, id: &str, now: DateTime<Utc>) -> Result<Outcome, Refusal> {
    if let Some(existing) = state.reservations.get(id) {
        if existing.status == Status::Released {
            return Ok(Outcome::Reservation {
                reservation: existing.clone(),
                replayed: true,
            });
        }
    }
    held(state, id, now)?;
    let missing = state.missing_rows(state.reservations[id].lines.iter().map(ReservedLine::key));
    if !missing.is_empty() {
        return Err(Refusal::UnknownStock(missing));
    }
    state.give_back(id, EventKind::Release, Status::Released, now);
    Ok(Outcome::Reservation {
        reservation: state.reservations[id].clone(),
        replayed: false,
    })
}

fn apply_extend(
    state: &mut BatchState,
    id: &str,
    ttl_seconds: i64,
    now: DateTime<Utc>,
) -> Result<Outcome, Refusal> {
    held(state, id, now)?;
    let reservation = state.reservations.get_mut(id).expect("held");
    reservation.expires_at = now + Duration::seconds(ttl_seconds);
    let reservation = reservation.clone();
    state.mark_updated(id);
    Ok(Outcome::Reservation {
        reservation,
        replayed: false,
    })
}

fn apply_adjust(
    state: &mut BatchState,
    adjustments: &[Adjustment],
    who: &str,
    now: DateTime<Utc>,
) -> Result<Outcome, Refusal> {
    // Dry run on copies first: the whole bulk applies or none of it does.
    let mut scratch: BTreeMap<StockKey, StockRow> = BTreeMap::new();
    let mut unknown = BTreeSet::new();
    let mut below = BTreeSet::new();
    for adjustment in adjustments {
        let key = adjustment.key();
        let row = match scratch.get(&key).or(state.rows.get(&key)) {
            Some(row) => *row,
            None if state.creatable.contains(&key) => StockRow {
                on_hand: 0,
                reserved: 0,
                ledger_seq: 0,
            },
            None => {
                unknown.insert(key);
                continue;
            }
        };
        let on_hand = adjustment.kind.apply(row.on_hand, adjustment.qty);
        if on_hand < row.reserved {
            below.insert(key.clone());
        }
        scratch.insert(key, StockRow { on_hand, ..row });
    }
    if !unknown.is_empty() {
        return Err(Refusal::UnknownStock(unknown.into_iter().collect()));
    }
    if !below.is_empty() {
        return Err(Refusal::BelowReserved(below.into_iter().collect()));
    }
    let mut touched: Vec<StockKey> = Vec::new();
    for adjustment in adjustments {
        let key = adjustment.key();
        if !state.rows.contains_key(&key) {
            state.rows.insert(
                key.clone(),
                StockRow {
                    on_hand: 0,
                    reserved: 0,
                    ledger_seq: 0,
                },
            );
            state.creatable.remove(&key);
            state.changes.created_rows.insert(key.clone());
        }
        let row = state.rows[&key];
        state.record(
            &key,
            EventKind::from_adjustment(adjustment.kind),
            adjustment.kind.apply(row.on_hand, adjustment.qty),
            row.reserved,
            None,
            who,
            &adjustment.reason,
            now,
        );
        if !touched.contains(&key) {
            touched.push(key);
        }
    }
    Ok(Outcome::Adjusted(
        touched
            .iter()
            .map(|key| StockView::new(key, &state.rows[key]))
            .collect(),
    ))
}

/// The stock rows and reservations a batch needs to load and lock.
#[derive(Debug, Default)]
pub struct Footprint {
    pub reservation_ids: BTreeSet<String>,
    pub idempotency_keys: BTreeSet<String>,
    pub rows: BTreeSet<StockKey>,
}

pub fn footprint(requests: &[Request]) -> Footprint {
    let mut footprint = Footprint::default();
    for request in requests {
        match &request.operation {
            Operation::Reserve(reserve) => {
                footprint
                    .idempotency_keys
                    .insert(reserve.idempotency_key.clone());
                footprint
                    .rows
                    .extend(reserve.lines.iter().map(LineRequest::key));
            }
            Operation::Adjust(adjustments) => {
                footprint
                    .rows
                    .extend(adjustments.iter().map(Adjustment::key));
            }
            other => {
                let id = other.reservation_id().expect("acts on a reservation");
                footprint.reservation_ids.insert(id.to_string());
            }
        }
    }
    footprint
}
