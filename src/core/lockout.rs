//! Progressive account lockout. Every login attempt is counted as a failure when it starts
//! (so parallel guesses cannot all slip through before the first failure is recorded); a
//! success resets the count. The state lives in the user's `UserSessions` object.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive failures that lock the account.
    pub threshold: u32,
    /// First lock duration; doubled by each further failure.
    pub base_s: i64,
    pub max_s: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub failures: u32,
    pub locked_until: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Check the password. `locks` tells that this attempt started a lock (if it fails).
    Proceed { locks: bool },
    /// The account is locked: answer as a wrong password, without checking it.
    Locked,
}

fn wait(policy: Policy, failures: u32) -> i64 {
    let doublings = failures.saturating_sub(policy.threshold).min(30);
    policy
        .base_s
        .saturating_mul(1i64 << doublings)
        .min(policy.max_s)
}

/// Registers the start of an attempt at `now`; returns the new state and what to do.
/// An attempt during a lock is refused unchecked and changes nothing: hammering a locked
/// account neither counts nor extends the lock, so the owner is out for `max_s` at most.
pub fn begin(state: State, now: i64, policy: Policy) -> (State, Attempt) {
    if now < state.locked_until {
        return (state, Attempt::Locked);
    }
    let failures = state.failures.saturating_add(1);
    let locked_until = if failures >= policy.threshold {
        now + wait(policy, failures)
    } else {
        state.locked_until
    };
    let next = State {
        failures,
        locked_until,
    };
    let attempt = Attempt::Proceed {
        locks: failures >= policy.threshold,
    };
    (next, attempt)
}

/// A correct password of an account that also has a second factor: that attempt was no
/// failure, but nothing is proved yet, so the count is not cleared (the second factor's codes
/// count on from where it stood). Only right after the attempt it refunds: it proceeded, so
/// any lock in force now was set by it and goes.
pub fn refund(state: State, now: i64) -> State {
    State {
        failures: state.failures.saturating_sub(1),
        locked_until: state.locked_until.min(now),
    }
}

/// A correct password (or a password reset): the slate is clean, any lock lifted.
pub fn succeed() -> State {
    State::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        threshold: 5,
        base_s: 60,
        max_s: 900,
    };

    #[test]
    fn the_fifth_failure_locks_and_the_sixth_attempt_is_refused_unchecked() {
        let mut s = State::default();
        for i in 1..=4 {
            let (n, a) = begin(s, 100, P);
            assert_eq!(a, Attempt::Proceed { locks: false }, "attempt {i}");
            s = n;
        }
        let (s5, a5) = begin(s, 100, P);
        assert_eq!(a5, Attempt::Proceed { locks: true });
        assert_eq!(s5.locked_until, 160);
        let (s6, a6) = begin(s5, 101, P);
        assert_eq!(a6, Attempt::Locked);
        assert_eq!(s6, s5, "an attempt during the lock changes nothing");
    }

    #[test]
    fn attempts_during_a_lock_do_not_extend_it() {
        let mut s = State {
            failures: 5,
            locked_until: 160,
        };
        for now in 100..160 {
            let (n, a) = begin(s, now, P);
            assert_eq!(a, Attempt::Locked);
            s = n;
        }
        assert_eq!(s.locked_until, 160, "the owner is let back in on time");
        let (n, a) = begin(s, 160, P);
        assert_eq!(a, Attempt::Proceed { locks: true });
        assert_eq!(
            n.locked_until,
            160 + 120,
            "a failure after the lock doubles the wait"
        );
    }

    #[test]
    fn the_wait_is_capped() {
        let s = State {
            failures: 40,
            locked_until: 0,
        };
        let (n, _) = begin(s, 1_000, P);
        assert_eq!(n.locked_until, 1_000 + 900);
    }

    #[test]
    fn after_the_lock_one_guess_is_allowed_and_a_failure_locks_longer() {
        let s = State {
            failures: 5,
            locked_until: 160,
        };
        let (n, a) = begin(s, 160, P);
        assert_eq!(a, Attempt::Proceed { locks: true });
        assert_eq!(n.locked_until, 160 + 120);
    }

    #[test]
    fn n_parallel_attempts_count_until_the_lock() {
        let mut s = State::default();
        let mut checked = 0;
        for _ in 0..20 {
            let (n, a) = begin(s, 100, P);
            if matches!(a, Attempt::Proceed { .. }) {
                checked += 1;
            }
            s = n;
        }
        assert_eq!(s.failures, 5);
        assert_eq!(s.locked_until, 160);
        assert_eq!(
            checked, 5,
            "only the first five guesses reach the password check"
        );
    }

    #[test]
    fn a_refunded_first_factor_neither_counts_nor_clears_nor_locks() {
        let mut s = State::default();
        for _ in 0..3 {
            s = begin(s, 100, P).0; // three wrong codes
        }
        let (counted, a) = begin(s, 100, P); // the right password of the next sign-in
        assert_eq!(a, Attempt::Proceed { locks: false });
        assert_eq!(
            refund(counted, 100),
            s,
            "the count stands where the codes left it"
        );
        let (s4, _) = begin(s, 100, P);
        let (s5, a5) = begin(s4, 100, P);
        assert_eq!(
            a5,
            Attempt::Proceed { locks: true },
            "the fifth attempt would lock"
        );
        assert_eq!(
            refund(s5, 100),
            State {
                failures: 4,
                locked_until: 100
            },
            "a right password lifts the lock its own attempt set"
        );
        assert_eq!(
            begin(refund(s5, 100), 100, P).1,
            Attempt::Proceed { locks: true }
        );
    }

    #[test]
    fn success_resets() {
        assert_eq!(succeed(), State::default());
    }
}
