//! Admission to password hashing in one isolate. Argon2id costs tens of milliseconds of CPU and
//! 19 MiB per hash, and an isolate runs one request's code at a time: a burst of logins would
//! otherwise pile up as a backlog that every later request waits behind. The gate admits a few
//! password operations at once (from the moment one is decided on until its hash is done), lets
//! a bounded number more wait a bounded time, and sheds the rest at once with 503 and
//! `Retry-After`. The counts live in the isolate (one thread); this is the arithmetic.

/// Configuration: how many run, how many more may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub concurrency: u32,
    pub queue: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            concurrency: 4,
            queue: 16,
        }
    }
}

/// Longest wait for a slot before giving up with 503.
pub const MAX_WAIT_MS: u64 = 5_000;
/// The `Retry-After` of a shed request.
pub const RETRY_AFTER_S: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Run,
    Wait,
    Shed,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gate {
    running: u32,
    waiting: u32,
}

impl Gate {
    /// A newcomer. It runs only when a slot is free and nobody is waiting for one (first come,
    /// first served); waits while the queue has room; is shed otherwise.
    pub fn admit(&mut self, p: Policy) -> Admit {
        if self.running < p.concurrency && self.waiting == 0 {
            self.running += 1;
            Admit::Run
        } else if self.waiting < p.queue {
            self.waiting += 1;
            Admit::Wait
        } else {
            Admit::Shed
        }
    }

    /// A waiter looks again: `true` when it took a free slot (and stopped waiting).
    pub fn take_slot(&mut self, p: Policy) -> bool {
        if self.running < p.concurrency {
            self.running += 1;
            self.waiting = self.waiting.saturating_sub(1);
            true
        } else {
            false
        }
    }

    /// A waiter gave up (timed out, or its request went away).
    pub fn leave_queue(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// A running operation finished (its hash is done, or it failed before).
    pub fn finish(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    #[cfg(test)]
    fn running(&self) -> u32 {
        self.running
    }

    #[cfg(test)]
    fn waiting(&self) -> u32 {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        concurrency: 2,
        queue: 1,
    };

    #[test]
    fn beyond_the_slots_one_waits_and_the_next_is_shed() {
        let mut g = Gate::default();
        assert_eq!(g.admit(P), Admit::Run);
        assert_eq!(g.admit(P), Admit::Run);
        assert_eq!(g.admit(P), Admit::Wait);
        assert_eq!(g.admit(P), Admit::Shed);
        assert_eq!((g.running(), g.waiting()), (2, 1));
    }

    #[test]
    fn a_finished_operation_frees_a_slot_for_the_waiter_first() {
        let mut g = Gate::default();
        g.admit(P);
        g.admit(P);
        assert_eq!(g.admit(P), Admit::Wait);
        assert!(!g.take_slot(P), "no slot yet");
        g.finish();
        // A newcomer does not overtake the waiter.
        assert_eq!(g.admit(P), Admit::Shed);
        assert!(g.take_slot(P));
        assert_eq!((g.running(), g.waiting()), (2, 0));
    }

    #[test]
    fn a_waiter_that_gives_up_frees_its_place_in_the_queue() {
        let mut g = Gate::default();
        g.admit(P);
        g.admit(P);
        g.admit(P);
        g.leave_queue();
        assert_eq!(g.admit(P), Admit::Wait);
    }

    #[test]
    fn with_no_queue_the_excess_is_shed_at_once() {
        let p = Policy {
            concurrency: 1,
            queue: 0,
        };
        let mut g = Gate::default();
        assert_eq!(g.admit(p), Admit::Run);
        assert_eq!(g.admit(p), Admit::Shed);
        g.finish();
        assert_eq!(g.admit(p), Admit::Run);
    }
}
