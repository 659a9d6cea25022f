//! Idempotency: a retried request is recognised by its client-chosen key, and its body must
//! match the first one's, compared by a hash of a canonical form of the body.

use sha2::{Digest, Sha256};

use super::model::ReserveRequest;

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

    #[test]
    fn same_body_same_hash_and_any_change_differs() {
        assert_eq!(request_hash(&request(2, 60)), request_hash(&request(2, 60)));
        assert_ne!(request_hash(&request(2, 60)), request_hash(&request(3, 60)));
        assert_ne!(request_hash(&request(2, 60)), request_hash(&request(2, 61)));
    }
}
