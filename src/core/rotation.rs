//! Signing-key rotation as a pure plan over the stored keys. A new key is published (in the
//! JWKS) when made and starts signing one run later; the key it replaces stops signing then
//! and leaves the key set once the longest access-token lifetime has passed.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    /// Rotated keys have a sealed private part; configured keys recorded at retirement do not.
    pub rotated: bool,
    pub created_at: i64,
    pub active_from: Option<i64>,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub activate: Option<String>,
    /// Rotated keys that stop signing now.
    pub retire: Vec<String>,
    /// The configured key that stops signing now (first rotation).
    pub retire_configured: Option<String>,
    pub generate: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        *self == Plan::default()
    }
}

pub fn plan(
    keys: &[StoredKey],
    configured_active: &str,
    now: i64,
    interval_s: Option<i64>,
) -> Plan {
    let mut p = Plan::default();
    let pending = keys
        .iter()
        .filter(|k| {
            k.rotated && k.active_from.is_none() && k.retired_at.is_none() && k.created_at < now
        })
        .max_by_key(|k| k.created_at);
    if let Some(next) = pending {
        p.activate = Some(next.kid.clone());
        let current: Vec<String> = keys
            .iter()
            .filter(|k| k.rotated && k.active_from.is_some() && k.retired_at.is_none())
            .map(|k| k.kid.clone())
            .collect();
        if current.is_empty() {
            p.retire_configured = Some(configured_active.to_owned());
        }
        p.retire = current;
    }
    if let Some(interval) = interval_s {
        let still_pending = keys
            .iter()
            .any(|k| k.rotated && k.active_from.is_none() && k.retired_at.is_none())
            && p.activate.is_none();
        let newest = keys
            .iter()
            .filter(|k| k.rotated)
            .map(|k| k.created_at)
            .max();
        p.generate = !still_pending && newest.is_none_or(|t| t <= now - interval);
    }
    p
}

/// An administrator's rotation now, whatever the interval. It keeps the two steps of the
/// schedule, so a new key is always published before it signs: a published key (made before
/// this second) starts signing; when none is waiting, a new one is published, and the next
/// run (cron or another call) activates it.
pub fn plan_on_demand(keys: &[StoredKey], configured_active: &str, now: i64) -> Plan {
    let mut p = plan(keys, configured_active, now, None);
    let waiting = keys
        .iter()
        .any(|k| k.rotated && k.active_from.is_none() && k.retired_at.is_none());
    p.generate = !waiting;
    p
}

/// Is a key still in the key set (published and accepted) at `now`?
pub fn in_key_set(retired_at: Option<i64>, now: i64, max_token_lifetime_s: i64) -> bool {
    retired_at.is_none_or(|t| now < t + max_token_lifetime_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated(kid: &str, created: i64, active: Option<i64>, retired: Option<i64>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            rotated: true,
            created_at: created,
            active_from: active,
            retired_at: retired,
        }
    }

    #[test]
    fn the_first_run_only_publishes_a_new_key() {
        let p = plan(&[], "cfg", 100, Some(86_400));
        assert_eq!(
            p,
            Plan {
                generate: true,
                ..Plan::default()
            }
        );
    }

    #[test]
    fn the_next_run_activates_it_and_retires_the_configured_key() {
        let keys = [rotated("k1", 100, None, None)];
        let p = plan(&keys, "cfg", 200, Some(86_400));
        assert_eq!(p.activate.as_deref(), Some("k1"));
        assert_eq!(p.retire_configured.as_deref(), Some("cfg"));
        assert!(!p.generate, "the interval has not passed");
    }

    #[test]
    fn a_key_made_in_this_very_second_is_not_activated() {
        let keys = [rotated("k1", 100, None, None)];
        assert_eq!(plan(&keys, "cfg", 100, Some(1)).activate, None);
    }

    #[test]
    fn later_rotations_retire_the_previous_rotated_key() {
        let keys = [
            rotated("k1", 100, Some(200), None),
            rotated("k2", 300, None, None),
        ];
        let p = plan(&keys, "cfg", 400, Some(86_400));
        assert_eq!(p.activate.as_deref(), Some("k2"));
        assert_eq!(p.retire, vec!["k1".to_string()]);
        assert_eq!(p.retire_configured, None);
    }

    #[test]
    fn a_new_key_is_made_once_the_interval_has_passed() {
        let keys = [rotated("k1", 100, Some(200), None)];
        assert!(!plan(&keys, "cfg", 150, Some(100)).generate);
        assert!(plan(&keys, "cfg", 200, Some(100)).generate);
        assert!(!plan(&keys, "cfg", 10_000, None).generate, "rotation off");
    }

    #[test]
    fn an_on_demand_rotation_publishes_first_and_activates_on_the_next_call() {
        let first = plan_on_demand(&[], "cfg", 100);
        assert!(first.generate && first.activate.is_none());
        let keys = [rotated("k1", 100, None, None)];
        let second = plan_on_demand(&keys, "cfg", 101);
        assert_eq!(second.activate.as_deref(), Some("k1"));
        assert_eq!(second.retire_configured.as_deref(), Some("cfg"));
        assert!(
            !second.generate,
            "no second key while one is being activated"
        );
        let same_second = plan_on_demand(&keys, "cfg", 100);
        assert!(
            same_second.is_empty(),
            "a key is never activated in the second it is made"
        );
        let later = [rotated("k1", 100, Some(101), None)];
        assert!(
            plan_on_demand(&later, "cfg", 102).generate,
            "regardless of the interval"
        );
    }

    #[test]
    fn retired_keys_stay_for_one_token_lifetime() {
        assert!(in_key_set(None, 1_000, 900));
        assert!(in_key_set(Some(100), 999, 900));
        assert!(!in_key_set(Some(100), 1_000, 900));
    }
}
