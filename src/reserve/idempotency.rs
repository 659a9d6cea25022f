//! Idempotency: a retried request is recognised by its client-chosen key, and its body must
//! match the first one's, compared by a hash of a canonical form of the body. A key is
//! recognised for a retention window after its reservation was made ([`IdempotencyWindow`]).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::model::ReserveRequest;

/// How long a key replays its reservation by default: a day, as payment APIs keep theirs.
pub const DEFAULT_IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

pub fn default_idempotency_window() -> Duration {
    Duration::hours(DEFAULT_IDEMPOTENCY_WINDOW_HOURS)
}

/// The start of a `window` ending at `now`; the beginning of time for a window longer than
/// the calendar reaches back.
pub fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    now.checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The idempotency keys of reservations made within the last `window`, each with the id of
/// its reservation: an index held in memory instead of a unique index in the database, whose
/// random inserts dirty about one page per hold. Whoever owns it must feed it every
/// reservation the store holds from within the window (its own and any other writer's)
/// before looking a key up. Pure: time is passed in.
#[derive(Debug, Clone)]
pub struct IdempotencyWindow {
    window: Duration,
    by_key: HashMap<String, (String, DateTime<Utc>)>,
    /// (created_at, key, id) in the order remembered, to forget old keys without a scan.
    order: VecDeque<(DateTime<Utc>, String, String)>,
}

impl IdempotencyWindow {
    pub fn new(window: Duration) -> IdempotencyWindow {
        IdempotencyWindow {
            window,
            by_key: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Reservations created before this no longer answer for their key at `now`.
    pub fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        window_start(now, self.window)
    }

    /// Records that reservation `id` was made for `key` at `created_at`. A later reservation
    /// for the same key (made once the first one's window had passed) takes its place.
    pub fn remember(&mut self, key: &str, id: &str, created_at: DateTime<Utc>) {
        let newer = match self.by_key.get(key) {
            None => true,
            Some((known_id, known)) => known_id != id && *known <= created_at,
        };
        if newer {
            self.by_key
                .insert(key.to_string(), (id.to_string(), created_at));
            self.order
                .push_back((created_at, key.to_string(), id.to_string()));
        }
    }

    /// The reservation made for `key` within the window at `now`, if any.
    pub fn lookup(&self, key: &str, now: DateTime<Utc>) -> Option<&str> {
        self.by_key
            .get(key)
            .filter(|(_, created_at)| *created_at >= self.cutoff(now))
            .map(|(id, _)| id.as_str())
    }

    /// Forgets keys whose window has passed at `now`, so memory follows the window, not the
    /// history. Keys are forgotten in the order they were remembered; one remembered out of
    /// time order waits for those before it (`lookup` still ignores it).
    pub fn forget_before(&mut self, now: DateTime<Utc>) {
        let cutoff = self.cutoff(now);
        while let Some((created_at, _, _)) = self.order.front() {
            if *created_at >= cutoff {
                break;
            }
            let (_, key, id) = self.order.pop_front().expect("front exists");
            if self.by_key.get(&key).is_some_and(|(known, _)| *known == id) {
                self.by_key.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// sha256 over the fields that define a reservation, in request order (line order is part of
/// the body: the response lists lines in that order).
pub fn request_hash(request: &ReserveRequest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.ttl_seconds.to_le_bytes());
    for line in &request.lines {
        hasher.update(line.sku.as_bytes());
        hasher.update([0x1f]);
        hasher.update(line.warehouse.as_bytes());
        hasher.update([0x1f]);
        hasher.update(line.qty.to_le_bytes());
        hasher.update([0x1e]);
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reserve::model::LineRequest;

    fn request(qty: i64, ttl_seconds: i64) -> ReserveRequest {
        ReserveRequest {
            idempotency_key: "k".into(),
            ttl_seconds,
            lines: vec![LineRequest {
                sku: "S".into(),
                warehouse: "W".into(),
                qty,
            }],
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_key_answers_within_its_window_and_is_forgotten_after() {
        let mut window = IdempotencyWindow::new(Duration::seconds(100));
        window.remember("k", "res_1", at(0));
        assert_eq!(window.lookup("k", at(100)), Some("res_1"));
        assert_eq!(window.lookup("k", at(101)), None, "past the window");
        assert_eq!(window.lookup("other", at(1)), None);
        window.forget_before(at(100));
        assert_eq!(window.len(), 1, "still within the window");
        window.forget_before(at(101));
        assert!(window.is_empty());
    }

    #[test]
    fn a_key_reused_after_its_window_names_the_new_reservation() {
        let mut window = IdempotencyWindow::new(Duration::seconds(100));
        window.remember("k", "res_1", at(0));
        window.remember("k", "res_2", at(150));
        // Remembering the older one again (a reload) does not bring it back.
        window.remember("k", "res_1", at(0));
        assert_eq!(window.lookup("k", at(160)), Some("res_2"));
        window.forget_before(at(160));
        assert_eq!(
            window.lookup("k", at(160)),
            Some("res_2"),
            "the newer one stays"
        );
        window.forget_before(at(251));
        assert!(window.is_empty());
    }

    #[test]
    fn same_body_same_hash_and_any_change_differs() {
        assert_eq!(request_hash(&request(2, 60)), request_hash(&request(2, 60)));
        assert_ne!(request_hash(&request(2, 60)), request_hash(&request(3, 60)));
        assert_ne!(request_hash(&request(2, 60)), request_hash(&request(2, 61)));
    }
}
