//! External identity providers as configured: the `AUTH_PROVIDERS` JSON object keyed by
//! provider id, with each OAuth client secret in its own secret `AUTH_PROVIDER_<ID>_SECRET`.
//! Unknown keys are refused, so a typo is a configuration error, not a silently ignored field.

use crate::core::config::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Google's issuer (its discovery document lives under it).
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GITHUB_WEB: &str = "https://github.com";
const GITHUB_API: &str = "https://api.github.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// OpenID Connect with discovery under `issuer` (Google is this with a fixed issuer).
    Oidc { issuer: String, google: bool },
    /// GitHub's OAuth 2.0 (no ID token): the user comes from `{api}/user` and `/user/emails`.
    Github { web: String, api: String },
    /// Token exchange: JWTs of an external issuer, checked against its JWKS.
    Jwt {
        issuer: String,
        jwks_uri: String,
        audience: String,
        algorithms: Vec<String>,
    },
}

impl Kind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Oidc { google: true, .. } => "google",
            Self::Oidc { .. } => "oidc",
            Self::Github { .. } => "github",
            Self::Jwt { .. } => "jwt",
        }
    }

    /// Signs in through the browser redirect flow (everything but token exchange).
    pub fn is_oauth(&self) -> bool {
        !matches!(self, Self::Jwt { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// The app URLs the flow may end at, compared exactly.
    pub redirect_uris: Vec<String>,
}

impl Provider {
    /// Is `uri` one of the configured app URLs? Exact string comparison: no prefix, no
    /// normalisation, so no open redirect through a look-alike path or query.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    scopes: Option<Vec<String>>,
    redirect_uris: Option<Vec<String>>,
    /// GitHub only: the REST API base (a stand-in in tests; api.github.com by default).
    api_url: Option<String>,
    /// `jwt` only: where the issuer's keys are, the `aud` its tokens must carry, and the
    /// algorithms accepted (RS256 and ES256 by default; nothing else is supported).
    jwks_uri: Option<String>,
    audience: Option<String>,
    algorithms: Option<Vec<String>>,
}

/// The secret holding provider `id`'s client secret: `AUTH_PROVIDER_<ID>_SECRET`, the id
/// upper-cased with `-` as `_`.
pub fn secret_name(id: &str) -> String {
    format!(
        "AUTH_PROVIDER_{}_SECRET",
        id.to_ascii_uppercase().replace('-', "_")
    )
}

fn http_url(v: &str, production: bool) -> bool {
    let rest = if let Some(r) = v.strip_prefix("https://") {
        r
    } else if let Some(r) = v.strip_prefix("http://") {
        if production {
            return false;
        }
        r
    } else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && !v.contains('#')
        && !v.contains(char::is_whitespace)
}

/// Parses `AUTH_PROVIDERS` (absent: no providers). `secret` looks up a secret by name.
pub fn parse(
    json: Option<&str>,
    secret: impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<Vec<Provider>, String> {
    let Some(json) = json else {
        return Ok(vec![]);
    };
    let entries: BTreeMap<String, Entry> =
        serde_json::from_str(json).map_err(|e| format!("not a valid provider object: {e}"))?;
    let mut out = Vec::with_capacity(entries.len());
    for (id, e) in entries {
        if id.is_empty()
            || id.len() > 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("provider id {id:?}: use 1-32 of a-z, 0-9 and -"));
        }
        let why = |w: &str| format!("provider {id:?}: {w}");
        let url = |v: &str| -> Result<String, String> {
            if http_url(v, production) {
                Ok(v.trim_end_matches('/').to_owned())
            } else {
                Err(why(&format!(
                    "{v:?} is not an {}URL",
                    if production { "https " } else { "http(s) " }
                )))
            }
        };
        let kind = match e.kind.as_str() {
            "oidc" => Kind::Oidc {
                issuer: url(e
                    .issuer
                    .as_deref()
                    .ok_or_else(|| why("oidc needs issuer"))?)?,
                google: false,
            },
            "google" => {
                if e.issuer.is_some() {
                    return Err(why("google has a fixed issuer"));
                }
                Kind::Oidc {
                    issuer: GOOGLE_ISSUER.into(),
                    google: true,
                }
            }
            "github" => Kind::Github {
                web: url(e.issuer.as_deref().unwrap_or(GITHUB_WEB))?,
                api: url(e.api_url.as_deref().unwrap_or(GITHUB_API))?,
            },
            "jwt" => {
                let algorithms = e
                    .algorithms
                    .clone()
                    .unwrap_or_else(|| vec!["RS256".into(), "ES256".into()]);
                if algorithms.is_empty() || algorithms.iter().any(|a| a != "RS256" && a != "ES256")
                {
                    return Err(why("algorithms may list RS256 and ES256 only"));
                }
                Kind::Jwt {
                    // The `iss` of the tokens, compared exactly: not necessarily a URL.
                    issuer: e
                        .issuer
                        .clone()
                        .filter(|i| !i.is_empty())
                        .ok_or_else(|| why("jwt needs issuer"))?,
                    jwks_uri: url(e
                        .jwks_uri
                        .as_deref()
                        .ok_or_else(|| why("jwt needs jwks_uri"))?)?,
                    audience: e
                        .audience
                        .clone()
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| why("jwt needs audience"))?,
                    algorithms,
                }
            }
            other => return Err(why(&format!("unknown type {other:?}"))),
        };
        let jwt_only = e.jwks_uri.is_some() || e.audience.is_some() || e.algorithms.is_some();
        if jwt_only && !matches!(kind, Kind::Jwt { .. }) {
            return Err(why("jwks_uri, audience and algorithms are for jwt only"));
        }
        if let Kind::Jwt { .. } = kind {
            if e.client_id.is_some() || e.redirect_uris.is_some() || e.scopes.is_some() {
                return Err(why(
                    "a jwt provider has no client_id, scopes or redirect_uris",
                ));
            }
            out.push(Provider {
                name: e.name.unwrap_or_else(|| id.clone()),
                id,
                kind,
                client_id: String::new(),
                client_secret: None,
                scopes: vec![],
                redirect_uris: vec![],
            });
            continue;
        }
        if e.api_url.is_some() && !matches!(kind, Kind::Github { .. }) {
            return Err(why("api_url is for github only"));
        }
        let client_id = e
            .client_id
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| why("client_id is required"))?;
        let client_secret = secret(&secret_name(&id))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(Secret::new);
        // A public OIDC client may rely on PKCE alone; Google and GitHub always need the secret.
        if client_secret.is_none() && !matches!(kind, Kind::Oidc { google: false, .. }) {
            return Err(why(&format!("the secret {} is not set", secret_name(&id))));
        }
        let redirect_uris = e.redirect_uris.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err(why("redirect_uris lists no app URL"));
        }
        for u in &redirect_uris {
            if !http_url(u, production) {
                return Err(why(&format!("redirect URI {u:?} is not an absolute URL")));
            }
        }
        let scopes = match (e.scopes, &kind) {
            (Some(s), _) => s,
            (None, Kind::Oidc { .. }) => vec!["openid".into(), "email".into(), "profile".into()],
            (None, Kind::Github { .. }) => vec!["read:user".into(), "user:email".into()],
            (None, Kind::Jwt { .. }) => vec![],
        };
        if matches!(kind, Kind::Oidc { .. }) && !scopes.iter().any(|s| s == "openid") {
            return Err(why(
                "an OpenID Connect provider's scopes must include openid",
            ));
        }
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(why("a scope is empty or holds a space"));
        }
        let name = e.name.unwrap_or_else(|| match &kind {
            Kind::Oidc { google: true, .. } => "Google".into(),
            Kind::Github { .. } => "GitHub".into(),
            Kind::Oidc { .. } | Kind::Jwt { .. } => id.clone(),
        });
        out.push(Provider {
            id,
            kind,
            name,
            client_id,
            client_secret,
            scopes,
            redirect_uris,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(name: &str) -> Option<String> {
        match name {
            "AUTH_PROVIDER_GOOGLE_SECRET" | "AUTH_PROVIDER_GH_WORK_SECRET" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn providers_parse_with_presets_defaults_and_their_secrets() {
        let json = r#"{
            "google": {"type": "google", "client_id": "g-id", "redirect_uris": ["https://app.example/cb"]},
            "gh-work": {"type": "github", "client_id": "gh-id", "redirect_uris": ["https://app.example/cb"]},
            "corp": {"type": "oidc", "issuer": "https://id.corp.example/", "client_id": "c", "name": "Corp SSO",
                     "scopes": ["openid", "email"], "redirect_uris": ["https://app.example/cb"]}
        }"#;
        let p = parse(Some(json), secrets, true).unwrap();
        let ids: Vec<_> = p
            .iter()
            .map(|p| (p.id.as_str(), p.kind.type_name()))
            .collect();
        assert_eq!(
            ids,
            [
                ("corp", "oidc"),
                ("gh-work", "github"),
                ("google", "google")
            ]
        );
        assert_eq!(
            p[0].kind,
            Kind::Oidc {
                issuer: "https://id.corp.example".into(),
                google: false
            }
        );
        assert!(p[0].client_secret.is_none());
        assert_eq!(p[1].client_secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(p[1].name, "GitHub");
        assert_eq!(p[2].scopes, ["openid", "email", "profile"]);
        assert_eq!(secret_name("gh-work"), "AUTH_PROVIDER_GH_WORK_SECRET");
        assert!(parse(None, secrets, true).unwrap().is_empty());
    }

    #[test]
    fn a_jwt_provider_names_its_issuer_keys_audience_and_algorithms() {
        let json = r#"{"privy": {"type": "jwt", "issuer": "privy.io", "jwks_uri": "https://auth.privy.io/jwks.json",
                        "audience": "app-1", "algorithms": ["ES256"]}}"#;
        let p = &parse(Some(json), secrets, true).unwrap()[0];
        assert_eq!(
            p.kind,
            Kind::Jwt {
                issuer: "privy.io".into(),
                jwks_uri: "https://auth.privy.io/jwks.json".into(),
                audience: "app-1".into(),
                algorithms: vec!["ES256".into()],
            }
        );
        assert_eq!((p.kind.type_name(), p.kind.is_oauth()), ("jwt", false));
        assert!(!p.allows_redirect(""));
    }

    #[test]
    fn redirect_uris_match_exactly_never_by_prefix() {
        let json = r#"{"corp": {"type": "oidc", "issuer": "https://id.example", "client_id": "c",
                       "redirect_uris": ["https://app.example/cb"]}}"#;
        let p = &parse(Some(json), secrets, true).unwrap()[0];
        assert!(p.allows_redirect("https://app.example/cb"));
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/cbx",
            "https://app.example.evil/cb",
            "HTTPS://app.example/cb",
        ] {
            assert!(!p.allows_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn bad_provider_configurations_are_refused_with_the_reason() {
        let cases = [
            (
                r#"{"x": {"type": "saml", "client_id": "c", "redirect_uris": ["https://a/"]}}"#,
                "unknown type",
            ),
            (
                r#"{"x": {"type": "oidc", "client_id": "c", "redirect_uris": ["https://a/"]}}"#,
                "needs issuer",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "http://id", "client_id": "c", "redirect_uris": ["https://a/"]}}"#,
                "https",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "https://id", "redirect_uris": ["https://a/"]}}"#,
                "client_id",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "https://id", "client_id": "c"}}"#,
                "redirect_uris",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "https://id", "client_id": "c", "redirect_uris": ["/cb"]}}"#,
                "absolute",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "https://id", "client_id": "c", "scopes": ["email"], "redirect_uris": ["https://a/"]}}"#,
                "openid",
            ),
            (
                r#"{"x": {"type": "google", "client_id": "c", "redirect_uris": ["https://a/"]}}"#,
                "AUTH_PROVIDER_X_SECRET",
            ),
            (
                r#"{"X": {"type": "oidc", "issuer": "https://id", "client_id": "c", "redirect_uris": ["https://a/"]}}"#,
                "provider id",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "https://id", "client_id": "c", "redirect_uris": ["https://a/"], "secret": "no"}}"#,
                "unknown field",
            ),
        ];
        for (json, want) in cases {
            let err = parse(Some(json), secrets, true).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
        for (json, want) in [
            (
                r#"{"x": {"type": "jwt", "jwks_uri": "https://k/jwks", "audience": "a"}}"#,
                "needs issuer",
            ),
            (
                r#"{"x": {"type": "jwt", "issuer": "i", "audience": "a"}}"#,
                "needs jwks_uri",
            ),
            (
                r#"{"x": {"type": "jwt", "issuer": "i", "jwks_uri": "https://k/jwks"}}"#,
                "needs audience",
            ),
            (
                r#"{"x": {"type": "jwt", "issuer": "i", "jwks_uri": "https://k", "audience": "a", "algorithms": ["HS256"]}}"#,
                "RS256 and ES256 only",
            ),
            (
                r#"{"x": {"type": "jwt", "issuer": "i", "jwks_uri": "https://k", "audience": "a", "algorithms": ["none"]}}"#,
                "RS256 and ES256 only",
            ),
            (
                r#"{"x": {"type": "jwt", "issuer": "i", "jwks_uri": "https://k", "audience": "a", "client_id": "c"}}"#,
                "no client_id",
            ),
            (
                r#"{"x": {"type": "oidc", "issuer": "https://id", "client_id": "c", "redirect_uris": ["https://a/"], "audience": "a"}}"#,
                "jwt only",
            ),
        ] {
            let err = parse(Some(json), secrets, true).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
        // Development may use plain http (local providers and apps).
        let dev = r#"{"x": {"type": "oidc", "issuer": "http://127.0.0.1:9000", "client_id": "c", "redirect_uris": ["http://127.0.0.1:3000/cb"]}}"#;
        assert!(parse(Some(dev), secrets, false).is_ok());
    }
}
