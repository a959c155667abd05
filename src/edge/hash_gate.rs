//! The isolate's password-hashing gate (`core::hash_gate`): a permit is taken before a password
//! operation's I/O and given back when its hash is done (when the permit drops).

use crate::core::error::AppError;
use crate::core::hash_gate::{Admit, Gate, Policy, MAX_WAIT_MS, RETRY_AFTER_S};
use std::cell::RefCell;
use std::time::Duration;
use worker::Delay;

thread_local! {
    // One isolate runs one thread: every request of the isolate sees this gate.
    static GATE: RefCell<Gate> = RefCell::new(Gate::default());
}

/// How often a waiting request looks for a free slot.
const POLL_MS: u64 = 10;

/// A slot of the gate, held until dropped.
pub struct Permit(());

impl Drop for Permit {
    fn drop(&mut self) {
        GATE.with(|g| g.borrow_mut().finish());
    }
}

/// Leaves the queue when a waiting request goes away (times out, or its future is dropped).
struct Waiting {
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            GATE.with(|g| g.borrow_mut().leave_queue());
        }
    }
}

fn overloaded() -> AppError {
    AppError::Overloaded {
        retry_after_s: RETRY_AFTER_S,
    }
}

/// A permit to hash now, after waiting for one if need be; 503 with `Retry-After` when the
/// queue is full or the wait too long.
pub async fn admit(policy: Policy) -> Result<Permit, AppError> {
    match GATE.with(|g| g.borrow_mut().admit(policy)) {
        Admit::Run => return Ok(Permit(())),
        Admit::Shed => return Err(overloaded()),
        Admit::Wait => {}
    }
    let mut waiting = Waiting { done: false };
    let mut waited = 0;
    while waited < MAX_WAIT_MS {
        Delay::from(Duration::from_millis(POLL_MS)).await;
        waited += POLL_MS;
        if GATE.with(|g| g.borrow_mut().take_slot(policy)) {
            waiting.done = true;
            return Ok(Permit(()));
        }
    }
    Err(overloaded())
}
