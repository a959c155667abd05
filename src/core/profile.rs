//! Profile fields and the optimistic-locking precondition of `PATCH /v1/me`.

use crate::core::domain::{DisplayName, ValidationError};
use serde::{Deserialize, Deserializer};

/// A BCP 47 language tag of the common shape: `en`, `pt-BR`, `zh-Hant-TW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = ValidationError::Invalid {
            field: "locale",
            why: "must be a language tag such as en or pt-BR",
        };
        let parts: Vec<&str> = raw.split('-').collect();
        let lang = parts[0];
        if raw.len() > 35
            || !(2..=3).contains(&lang.len())
            || !lang.chars().all(|c| c.is_ascii_alphabetic())
            || parts[1..].iter().any(|p| {
                p.is_empty() || p.len() > 8 || !p.chars().all(|c| c.is_ascii_alphanumeric())
            })
        {
            return Err(bad);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The zone names of the IANA time zone database (sorted; `timezones.txt`, 9 KB).
const IANA_ZONES: &str = include_str!("timezones.txt");

/// An IANA time zone name (`UTC`, `Europe/Paris`, `America/Argentina/Buenos_Aires`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone(String);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let known = raw.len() <= 64 && IANA_ZONES.lines().any(|z| z == raw);
        if !known {
            return Err(ValidationError::Invalid {
                field: "timezone",
                why: "must be an IANA time zone such as Europe/Paris",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An https URL of an image, at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let rest = raw.strip_prefix("https://");
        let ok = raw.len() <= 2048
            && rest.is_some_and(|r| {
                let host = r.split(['/', '?', '#']).next().unwrap_or("");
                !host.is_empty() && host.contains('.') && !host.contains('@')
            })
            && !raw
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
        if !ok {
            return Err(ValidationError::Invalid {
                field: "avatar_url",
                why: "must be an https URL of at most 2048 characters",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `Some(None)` for an explicit null, `None` when the field is absent.
fn tri<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "tri")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri")]
    pub locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri")]
    pub timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri")]
    pub avatar_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::core::domain::opt_whole_i64")]
    pub version: Option<i64>,
}

/// A change to one field: keep it, or set it (to a value or to null).
pub type Change = Option<Option<String>>;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    pub name: Change,
    pub locale: Change,
    pub timezone: Change,
    pub avatar_url: Change,
}

fn field<T>(
    c: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, ValidationError>,
    text: impl Fn(T) -> Option<String>,
) -> Result<Change, ValidationError> {
    match c {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(v)) => Ok(Some(text(parse(&v)?))),
    }
}

impl ProfilePatch {
    pub fn parse(body: PatchBody) -> Result<Self, ValidationError> {
        Ok(Self {
            name: field(body.name, DisplayName::parse, |n| {
                n.map(|n| n.as_str().to_owned())
            })?,
            locale: field(body.locale, Locale::parse, |l| Some(l.as_str().to_owned()))?,
            timezone: field(body.timezone, TimeZone::parse, |t| {
                Some(t.as_str().to_owned())
            })?,
            avatar_url: field(body.avatar_url, AvatarUrl::parse, |a| {
                Some(a.as_str().to_owned())
            })?,
        })
    }
}

/// The expected version from `If-Match` (`3`, `"3"`, `W/"3"`) or the body.
pub fn expected_version(
    if_match: Option<&str>,
    body: Option<i64>,
) -> Result<Option<i64>, ValidationError> {
    match if_match.map(str::trim).filter(|s| !s.is_empty()) {
        Some(h) => {
            let v = h.trim_start_matches("W/").trim_matches('"');
            v.parse::<i64>()
                .map(Some)
                .map_err(|_| ValidationError::Invalid {
                    field: "If-Match",
                    why: "must be the user's version number",
                })
        }
        None => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_language_tags() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "gsw"] {
            assert!(Locale::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "en--US", "12"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        for ok in [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+3",
        ] {
            assert!(TimeZone::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Europe/",
            "/Paris",
            "../etc",
            "Europe Paris",
            "Mars/Olympus",
            "Europe/Atlantis",
        ] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_zone_list_is_sorted_for_binary_search() {
        let zones: Vec<&str> = IANA_ZONES.lines().collect();
        assert!(zones.len() > 500);
        assert!(zones.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn avatars_are_https_urls() {
        assert!(AvatarUrl::parse("https://cdn.example.test/a.png").is_ok());
        for bad in [
            "http://cdn.example.test/a.png",
            "https://",
            "javascript:alert(1)",
            "https://x/a b",
        ] {
            assert!(AvatarUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(AvatarUrl::parse(&format!("https://x.test/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let body: PatchBody = serde_json::from_str(r#"{"name": null, "locale": "en"}"#).unwrap();
        let p = ProfilePatch::parse(body).unwrap();
        assert_eq!(p.name, Some(None));
        assert_eq!(p.locale, Some(Some("en".into())));
        assert_eq!(p.timezone, None);
    }

    #[test]
    fn the_openapi_document_lists_exactly_the_known_time_zones() {
        // The document's enum is what lets a client (and schemathesis) know which names pass.
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        let zone = &doc["components"]["schemas"]["UpdateMeRequest"]["properties"]["timezone"];
        let listed: Vec<&str> = zone["enum"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|z| z.as_str())
            .collect();
        let known: Vec<&str> = IANA_ZONES.lines().filter(|z| !z.is_empty()).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn if_match_accepts_quoted_and_weak_forms() {
        assert_eq!(expected_version(Some("3"), None), Ok(Some(3)));
        assert_eq!(expected_version(Some("\"3\""), None), Ok(Some(3)));
        assert_eq!(expected_version(Some("W/\"4\""), Some(9)), Ok(Some(4)));
        assert_eq!(expected_version(None, Some(9)), Ok(Some(9)));
        assert_eq!(expected_version(None, None), Ok(None));
        assert!(expected_version(Some("abc"), None).is_err());
    }
}
