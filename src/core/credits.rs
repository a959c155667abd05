//! Credits: amounts, idempotency keys and request fingerprints. The ledger's rules are
//! enforced in SQL (see `sql::credits`): one batch per movement, with a CHECK that makes any
//! overdraft abort the whole batch.

use crate::core::domain::ValidationError;
use crate::core::error::AppError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What a ledger entry written here records, as stored (`ledger.kind`). A job's charge and
/// refund are written by the conditional statements of `sql::jobs` themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Grant,
    TipSent,
    TipReceived,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::TipSent => "tip_sent",
            Self::TipReceived => "tip_received",
        }
    }
}

/// A tip, as stored, answered and announced (`tip.received`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    pub id: String,
    pub stream_id: String,
    pub from_user_id: String,
    pub to_user_id: String,
    pub amount: i64,
    pub message: Option<String>,
    pub created_at: String,
}

/// The body of `POST /v1/streams/{id}/tips`: `{"amount": <int>, "message"?: <string>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipRequest {
    pub amount: Amount,
    pub message: Option<String>,
}

impl TipRequest {
    pub fn parse(body: &Value) -> Result<Self, AppError> {
        let obj = body
            .as_object()
            .filter(|o| o.keys().all(|k| k == "amount" || k == "message"))
            .ok_or_else(|| {
                AppError::InvalidRequest(
                    "the body is {\"amount\": <int>, \"message\"?: <string>}".into(),
                )
            })?;
        let amount = Amount::parse(obj.get("amount").unwrap_or(&Value::Null))?;
        let message = match obj.get("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => tip_message(Some(m))?,
            Some(_) => return Err(AppError::InvalidRequest("message must be a string".into())),
        };
        Ok(Self { amount, message })
    }
}

/// A positive whole number of credits, at most a million per movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(i64);

impl Amount {
    pub const MAX: i64 = 1_000_000;

    pub fn parse(v: &serde_json::Value) -> Result<Self, ValidationError> {
        let bad = ValidationError::Invalid {
            field: "amount",
            why: "must be a whole number from 1 to 1000000",
        };
        // `5.0` is the number 5 (see `domain::whole_number`); `1.5` is refused.
        match crate::core::domain::whole_number(v) {
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(bad),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// An `Idempotency-Key` header: 1-255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        match raw.map(str::trim) {
            Some(k)
                if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Self(k.to_owned()))
            }
            _ => Err(ValidationError::Invalid {
                field: "Idempotency-Key",
                why: "header is required: 1-255 visible ASCII characters",
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fingerprint of a request for an idempotency key: SHA-256 over the operation and its
/// canonical JSON (object keys sorted by serde_json's map), so key order and spacing do not
/// matter but any value does.
pub fn fingerprint(scope: &str, canonical: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0]);
    h.update(canonical.to_string().as_bytes());
    crate::core::crypto::hex(&h.finalize())
}

/// A message attached to a tip: at most 200 characters, no control characters.
pub fn tip_message(raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(m) = raw.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    if m.chars().count() > 200 {
        return Err(ValidationError::TextTooLong {
            field: "message",
            max: 200,
        });
    }
    if m.chars().any(char::is_control) {
        return Err(ValidationError::TextHasControlCharacters { field: "message" });
    }
    Ok(Some(m.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_positive_integers() {
        assert_eq!(Amount::parse(&json!(1)).unwrap().get(), 1);
        assert_eq!(Amount::parse(&json!(1_000_000)).unwrap().get(), 1_000_000);
        // The same numbers spelled with a fraction or exponent (JSON Schema's integer takes them).
        assert_eq!(Amount::parse(&json!(1e3)).unwrap().get(), 1000);
        assert_eq!(Amount::parse(&json!(25.0)).unwrap().get(), 25);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("5"),
            json!(null),
            json!(1_000_001),
            json!(1e7),
        ] {
            assert!(Amount::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_required_and_bounded() {
        assert!(IdempotencyKey::parse(Some("k-1")).is_ok());
        assert!(IdempotencyKey::parse(None).is_err());
        assert!(IdempotencyKey::parse(Some("  ")).is_err());
        assert!(IdempotencyKey::parse(Some(&"k".repeat(256))).is_err());
        assert!(IdempotencyKey::parse(Some("with space")).is_err());
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_values() {
        let a: serde_json::Value = serde_json::from_str(r#"{"amount":1,"message":"hi"}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "message":"hi", "amount":1 }"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"amount":2,"message":"hi"}"#).unwrap();
        assert_eq!(fingerprint("tip", &a), fingerprint("tip", &b));
        assert_ne!(fingerprint("tip", &a), fingerprint("tip", &c));
        assert_ne!(fingerprint("tip", &a), fingerprint("grant", &a));
    }

    #[test]
    fn a_tip_body_is_an_amount_and_an_optional_plain_message_and_nothing_else() {
        let ok = TipRequest::parse(&json!({"amount": 5, "message": " gg "})).unwrap();
        assert_eq!((ok.amount.get(), ok.message.as_deref()), (5, Some("gg")));
        let bare = TipRequest::parse(&json!({"amount": 1, "message": null})).unwrap();
        assert_eq!(bare.message, None);
        for bad in [
            json!({"amount": 5, "extra": 1}),
            json!({"amount": 5, "message": 7}),
            json!({"amount": 0}),
            json!({"message": "hi"}),
            json!([5]),
        ] {
            assert_eq!(TipRequest::parse(&bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn tip_messages_are_short_plain_text() {
        assert_eq!(tip_message(Some("  gg ")).unwrap().as_deref(), Some("gg"));
        assert_eq!(tip_message(Some("")).unwrap(), None);
        assert!(tip_message(Some(&"x".repeat(201))).is_err());
    }
}
