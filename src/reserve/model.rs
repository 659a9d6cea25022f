//! The reservation core's data: stock rows, reservations, requests and ledger events.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One stock row: a SKU in a warehouse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StockKey {
    pub sku: String,
    pub warehouse: String,
}

impl StockKey {
    pub fn new(sku: impl Into<String>, warehouse: impl Into<String>) -> StockKey {
        StockKey {
            sku: sku.into(),
            warehouse: warehouse.into(),
        }
    }
}

impl fmt::Display for StockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.sku, self.warehouse)
    }
}

/// The mutable part of an `inventory` row. `available = on_hand − reserved` never goes below
/// zero; the database enforces it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockRow {
    pub on_hand: i64,
    pub reserved: i64,
    /// How many ledger events this row has; the next event gets `ledger_seq + 1`.
    pub ledger_seq: i64,
}

impl StockRow {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineRequest {
    pub sku: String,
    pub warehouse: String,
    #[schema(minimum = 1)]
    pub qty: i64,
}

impl LineRequest {
    pub fn key(&self) -> StockKey {
        StockKey::new(&self.sku, &self.warehouse)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReservedLine {
    pub sku: String,
    pub warehouse: String,
    pub qty: i64,
    /// Units sold by the commit (0 until committed).
    #[serde(default)]
    pub committed: i64,
}

impl ReservedLine {
    pub fn key(&self) -> StockKey {
        StockKey::new(&self.sku, &self.warehouse)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Held,
    Committed,
    Released,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Committed => "committed",
            Status::Released => "released",
            Status::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "held" => Status::Held,
            "committed" => Status::Committed,
            "released" => Status::Released,
            "expired" => Status::Expired,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    pub id: String,
    pub idempotency_key: String,
    #[serde(skip)]
    pub request_hash: String,
    #[serde(skip)]
    pub who: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub lines: Vec<ReservedLine>,
}

impl Reservation {
    /// The status a reader should see: a hold past its expiry is expired even before the
    /// sweeper has written that down.
    pub fn status_at(&self, now: DateTime<Utc>) -> Status {
        if self.status == Status::Held && self.expires_at <= now {
            Status::Expired
        } else {
            self.status
        }
    }

    /// This reservation as a reader sees it at `now`.
    pub fn as_of(&self, now: DateTime<Utc>) -> Reservation {
        let mut view = self.clone();
        view.status = self.status_at(now);
        view
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    Receipt,
    Count,
    Damage,
    TransferIn,
    TransferOut,
}

impl AdjustmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AdjustmentKind::Receipt => "receipt",
            AdjustmentKind::Count => "count",
            AdjustmentKind::Damage => "damage",
            AdjustmentKind::TransferIn => "transfer_in",
            AdjustmentKind::TransferOut => "transfer_out",
        }
    }

    /// The on_hand after this adjustment of `qty` units (a count sets it, the rest move it).
    pub fn apply(self, on_hand: i64, qty: i64) -> i64 {
        match self {
            AdjustmentKind::Receipt | AdjustmentKind::TransferIn => on_hand.saturating_add(qty),
            AdjustmentKind::Count => qty,
            AdjustmentKind::Damage | AdjustmentKind::TransferOut => on_hand.saturating_sub(qty),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Adjustment {
    pub sku: String,
    pub warehouse: String,
    pub kind: AdjustmentKind,
    pub qty: i64,
    #[serde(default)]
    pub reason: String,
}

impl Adjustment {
    pub fn key(&self) -> StockKey {
        StockKey::new(&self.sku, &self.warehouse)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReserveRequest {
    pub idempotency_key: String,
    #[schema(minimum = 1)]
    pub ttl_seconds: i64,
    pub lines: Vec<LineRequest>,
}

/// One request to the core; a batch applies many in order, each with its own outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Reserve(ReserveRequest),
    /// `lines: None` commits everything held; otherwise the listed units are sold and the
    /// rest of the hold is released.
    Commit {
        id: String,
        lines: Option<Vec<LineRequest>>,
    },
    Release {
        id: String,
    },
    Extend {
        id: String,
        ttl_seconds: i64,
    },
    Adjust(Vec<Adjustment>),
}

impl Operation {
    /// The reservation an operation acts on, if any.
    pub fn reservation_id(&self) -> Option<&str> {
        match self {
            Operation::Commit { id, .. }
            | Operation::Release { id }
            | Operation::Extend { id, .. } => Some(id),
            Operation::Reserve(_) | Operation::Adjust(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who asked (an API key id, or a CLI/bench name): recorded on every ledger event.
    pub who: String,
    pub operation: Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Reserve,
    Commit,
    Release,
    Expire,
    Receipt,
    Count,
    Damage,
    TransferIn,
    TransferOut,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Reserve => "reserve",
            EventKind::Commit => "commit",
            EventKind::Release => "release",
            EventKind::Expire => "expire",
            EventKind::Receipt => "receipt",
            EventKind::Count => "count",
            EventKind::Damage => "damage",
            EventKind::TransferIn => "transfer_in",
            EventKind::TransferOut => "transfer_out",
        }
    }

    pub fn from_adjustment(kind: AdjustmentKind) -> EventKind {
        match kind {
            AdjustmentKind::Receipt => EventKind::Receipt,
            AdjustmentKind::Count => EventKind::Count,
            AdjustmentKind::Damage => EventKind::Damage,
            AdjustmentKind::TransferIn => EventKind::TransferIn,
            AdjustmentKind::TransferOut => EventKind::TransferOut,
        }
    }
}

/// One immutable ledger entry: a change to one stock row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub key: StockKey,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub on_hand_before: i64,
    pub on_hand_after: i64,
    pub reserved_before: i64,
    pub reserved_after: i64,
    pub reservation_id: Option<String>,
    pub who: String,
    pub reason: String,
}

/// A stock row as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StockView {
    pub sku: String,
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl StockView {
    pub fn new(key: &StockKey, row: &StockRow) -> StockView {
        StockView {
            sku: key.sku.clone(),
            warehouse: key.warehouse.clone(),
            on_hand: row.on_hand,
            reserved: row.reserved,
            available: row.available(),
        }
    }
}
