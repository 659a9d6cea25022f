//! The clock a run reads and sleeps on. The runner takes a [`Clock`]; the steps see it through
//! the run context as a [`StepClock`], so every "now" of a run (its history, its publication,
//! its holds, its shard claims) comes from one place that tests control.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The clock a run reads and sleeps on; tests substitute one that does not wait.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// A [`Clock`] as the run context holds it: object-safe, so the context needs no type
/// parameter. Every `Clock` is one.
pub trait StepClock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

impl<C: Clock> StepClock for C {
    fn now(&self) -> DateTime<Utc> {
        Clock::now(self)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Clock::sleep(self, duration))
    }
}
