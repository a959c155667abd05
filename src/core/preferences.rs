//! Notification preferences: defaults, partial updates (a JSON merge patch of booleans).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub email: EmailPrefs,
    pub push: PushPrefs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPrefs {
    pub security_alerts: bool,
    pub product_updates: bool,
    pub weekly_digest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPrefs {
    pub tips_received: bool,
    pub job_updates: bool,
}

impl Default for Preferences {
    /// Security mail and activity pushes on; marketing and digests off (opt-in).
    fn default() -> Self {
        Self {
            email: EmailPrefs {
                security_alerts: true,
                product_updates: false,
                weekly_digest: false,
            },
            push: PushPrefs {
                tips_received: true,
                job_updates: true,
            },
        }
    }
}

/// Present keys must hold a value: `null` is refused rather than read as "absent".
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A validated partial update: only known keys, only booleans.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesPatch {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<EmailPatch>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub push: Option<PushPatch>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailPatch {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub security_alerts: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub product_updates: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub weekly_digest: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PushPatch {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tips_received: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_updates: Option<bool>,
}

impl Preferences {
    /// Stored JSON (NULL = defaults). A stored value missing keys falls back to defaults.
    pub fn from_stored(json: Option<&str>) -> Self {
        let defaults = Self::default();
        let Some(text) = json else { return defaults };
        let mut base = serde_json::to_value(&defaults).expect("serializable");
        if let Ok(stored) = serde_json::from_str::<serde_json::Value>(text) {
            merge(&mut base, &stored);
        }
        serde_json::from_value(base).unwrap_or(defaults)
    }
}

/// RFC 7396 merge of `patch` into `base` (objects recurse; other values replace).
fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_stored_means_defaults() {
        let p = Preferences::from_stored(None);
        assert!(p.email.security_alerts && !p.email.weekly_digest && p.push.job_updates);
    }

    #[test]
    fn a_stored_partial_object_merges_over_defaults() {
        let p = Preferences::from_stored(Some(r#"{"email":{"weekly_digest":true}}"#));
        assert!(p.email.weekly_digest);
        assert!(p.email.security_alerts);
    }

    #[test]
    fn patches_refuse_unknown_keys_and_non_booleans() {
        assert!(serde_json::from_str::<PreferencesPatch>(r#"{"email":{"spam":true}}"#).is_err());
        assert!(
            serde_json::from_str::<PreferencesPatch>(r#"{"push":{"job_updates":"yes"}}"#).is_err()
        );
        assert!(serde_json::from_str::<PreferencesPatch>(r#"{"sms":{}}"#).is_err());
        assert!(
            serde_json::from_str::<PreferencesPatch>(r#"{"push":{"job_updates":null}}"#).is_err()
        );
        assert!(serde_json::from_str::<PreferencesPatch>(r#"{"email":null}"#).is_err());
        let ok: PreferencesPatch =
            serde_json::from_str(r#"{"push":{"job_updates":false}}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"push":{"job_updates":false}}"#
        );
    }
}
