//! Whole numbers in JSON bodies. JSON has a single number type, so `5` and `5.0` are the same
//! number, and JSON Schema's `"type": "integer"` (what `openapi/openapi.json` declares for these
//! fields) accepts both. A field declared integer therefore takes either spelling; `5.5` is still
//! refused, and so is a float too large to stand for an exact integer.

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// 2^53: every integer up to this magnitude has an exact f64.
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

/// The value as an i64 when it is a whole JSON number (`5`, `5.0`, `-3e2`).
pub fn whole_number(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    if v.is_u64() {
        return None; // above i64::MAX
    }
    let f = v.as_f64()?;
    (f.fract() == 0.0 && f.abs() <= EXACT_F64).then_some(f as i64)
}

fn whole<'de, D: Deserializer<'de>>(v: Value) -> Result<i64, D::Error> {
    whole_number(&v).ok_or_else(|| match v.as_f64() {
        Some(f) => D::Error::invalid_type(Unexpected::Float(f), &"a whole number"),
        None => D::Error::invalid_type(Unexpected::Other("a non-number"), &"a whole number"),
    })
}

/// `deserialize_with` for an `Option<i64>` field (absent or null is `None`).
pub fn opt_whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => whole::<D>(v).map(Some),
    }
}

/// `deserialize_with` for an `i64` field.
pub fn whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole::<D>(Value::deserialize(d)?)
}

/// `deserialize_with` for a `u32` field.
pub fn whole_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = whole::<D>(Value::deserialize(d)?)?;
    u32::try_from(n).map_err(|_| D::Error::invalid_value(Unexpected::Signed(n), &"a u32"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_whole_number_may_be_written_with_a_fraction_of_zero() {
        for (v, n) in [
            (json!(5), 5),
            (json!(5.0), 5),
            (json!(-300.0), -300),
            (json!(0), 0),
        ] {
            assert_eq!(whole_number(&v), Some(n), "{v}");
        }
    }

    #[test]
    fn fractions_huge_floats_and_non_numbers_are_not_whole_numbers() {
        for v in [
            json!(1.5),
            json!(1e300),
            json!(u64::MAX),
            json!("5"),
            json!(null),
            json!(true),
        ] {
            assert_eq!(whole_number(&v), None, "{v}");
        }
    }

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "opt_whole_i64")]
        version: Option<i64>,
        #[serde(default, deserialize_with = "whole_u32")]
        count: u32,
    }

    #[test]
    fn fields_take_whole_numbers_in_either_spelling() {
        let b: Body = serde_json::from_str(r#"{"version": 7.0, "count": 3.0}"#).unwrap();
        assert_eq!((b.version, b.count), (Some(7), 3));
        let b: Body = serde_json::from_str(r#"{"version": null}"#).unwrap();
        assert_eq!(b.version, None);
        for bad in [
            r#"{"version": 7.5}"#,
            r#"{"count": -1}"#,
            r#"{"count": "3"}"#,
        ] {
            assert!(serde_json::from_str::<Body>(bad).is_err(), "{bad}");
        }
    }
}
