//! Decoding stored rows into the core's types.

use chrono::{DateTime, Utc};

use super::ReservationStoreError;
use crate::reserve::{Reservation, ReservedLine, Status};

pub(crate) const RESERVATION_COLUMNS: &str =
    "id, idempotency_key, request_hash, who, status, created_at, expires_at, finished_at, lines";

pub(crate) type ReservationRecord = (
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
);

pub(crate) fn reservation_from(
    record: ReservationRecord,
) -> Result<Reservation, ReservationStoreError> {
    let (
        id,
        idempotency_key,
        request_hash,
        who,
        status,
        created_at,
        expires_at,
        finished_at,
        lines,
    ) = record;
    let corrupt = |message: String| ReservationStoreError::Corrupt {
        id: id.clone(),
        message,
    };
    let status = Status::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?;
    let lines: Vec<ReservedLine> =
        serde_json::from_str(&lines).map_err(|error| corrupt(format!("lines: {error}")))?;
    Ok(Reservation {
        id,
        idempotency_key,
        request_hash,
        who,
        status,
        created_at,
        expires_at,
        finished_at,
        lines,
    })
}

pub(crate) fn lines_json(lines: &[ReservedLine]) -> String {
    serde_json::to_string(lines).expect("lines serialise")
}

/// `?, ?, …` groups for a multi-row SQLite statement: plain `?` because SQLite resolves each
/// named `$N` by a linear search, which makes large statements quadratic to prepare.
pub(crate) fn sqlite_groups(rows: usize, width: usize) -> String {
    let group = format!("({})", vec!["?"; width].join(","));
    vec![group; rows].join(",")
}

/// Splits `n` rows into chunks whose sizes are powers of two up to `max` (a power of two), so
/// multi-row statements come in a handful of shapes and stay in the statement cache.
pub(crate) fn chunk_sizes(mut n: usize, max: usize) -> Vec<usize> {
    debug_assert!(max.is_power_of_two());
    let mut sizes = Vec::new();
    while n >= max {
        sizes.push(max);
        n -= max;
    }
    let mut size = max / 2;
    while n > 0 {
        if n >= size {
            sizes.push(size);
            n -= size;
        }
        size /= 2;
    }
    sizes
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_cover_every_row_in_few_shapes() {
        assert_eq!(super::chunk_sizes(0, 256), Vec::<usize>::new());
        assert_eq!(
            super::chunk_sizes(700, 256),
            vec![256, 256, 128, 32, 16, 8, 4]
        );
        assert_eq!(super::chunk_sizes(5, 256), vec![4, 1]);
    }
}
