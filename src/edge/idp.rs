//! Talking to identity providers with `worker::Fetch`: OpenID discovery and JWKS (cached per
//! isolate, the JWKS refetched once when a token names a key we do not hold), the code
//! exchange, and GitHub's user API. Every call has a timeout; a failure is an `Upstream`
//! reason, which the callback turns into an `error=` on the app's redirect URI.

use crate::core::idp::id_token::{
    self, Alg, Expect, IdClaims, IdTokenError, Jwks, Key, ID_TOKEN_ALGORITHMS,
};
use crate::core::idp::link::External;
use crate::core::idp::oauth::{encode, query};
use crate::core::idp::providers::{Kind, Provider, GOOGLE_ISSUER};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::future::{select, Either};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// How long discovery documents and key sets are reused.
const CACHE_TTL_S: i64 = 3_600;
/// A token with an unknown `kid` refetches the key set at most this often, so random kids
/// cannot make us hammer the provider.
const REFETCH_MIN_INTERVAL_S: i64 = 2;
const TIMEOUT_MS: u64 = 8_000;
const USER_AGENT: &str = "Edgeward";

/// Why a sign-in failed at or with the provider (logged; the app gets `code()`).
#[derive(Debug)]
pub enum Upstream {
    /// The provider could not be reached or answered nonsense.
    Provider(String),
    /// The provider's ID token was refused.
    IdToken(IdTokenError),
}

impl Upstream {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Provider(_) => "provider_error",
            Self::IdToken(_) => "invalid_id_token",
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Provider(why) => write!(f, "provider: {why}"),
            Self::IdToken(e) => write!(f, "id token: {e}"),
        }
    }
}

fn provider_err(why: impl std::fmt::Display) -> Upstream {
    Upstream::Provider(why.to_string())
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

struct Cached<T> {
    at: i64,
    value: Rc<T>,
}

thread_local! {
    static METADATA: RefCell<HashMap<String, Cached<Metadata>>> = RefCell::new(HashMap::new());
    static KEYS: RefCell<HashMap<String, Cached<Jwks>>> = RefCell::new(HashMap::new());
}

/// One HTTP exchange with a timeout: (status, body).
async fn send(
    url: &str,
    method: Method,
    headers: Headers,
    body: Option<String>,
) -> Result<(u16, String), Upstream> {
    let _ = headers.set("user-agent", USER_AGENT);
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(url, &init).map_err(provider_err)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Box::pin(async move {
        let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
        Ok::<_, worker::Error>((resp.status_code(), resp.text().await?))
    });
    let timeout = Box::pin(Delay::from(Duration::from_millis(TIMEOUT_MS)));
    match select(fetch, timeout).await {
        Either::Left((Ok(r), _)) => Ok(r),
        Either::Left((Err(e), _)) => Err(provider_err(format!("{url}: {e}"))),
        Either::Right(_) => {
            controller.abort();
            Err(provider_err(format!(
                "{url}: timeout after {TIMEOUT_MS} ms"
            )))
        }
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
    headers: Headers,
) -> Result<T, Upstream> {
    let _ = headers.set("accept", "application/json");
    match send(url, Method::Get, headers, None).await? {
        (200, body) => serde_json::from_str(&body).map_err(|e| provider_err(format!("{url}: {e}"))),
        (status, _) => Err(provider_err(format!("{url}: status {status}"))),
    }
}

/// The provider's discovery document (OpenID Connect Discovery 1.0), whose `issuer` must be
/// the configured one exactly (section 4.3).
pub async fn metadata(issuer: &str, now: i64) -> Result<Rc<Metadata>, Upstream> {
    let hit = METADATA.with(|m| {
        m.borrow()
            .get(issuer)
            .filter(|c| now - c.at < CACHE_TTL_S)
            .map(|c| c.value.clone())
    });
    if let Some(m) = hit {
        return Ok(m);
    }
    let url = format!("{issuer}/.well-known/openid-configuration");
    let doc: Metadata = get_json(&url, Headers::new()).await?;
    if doc.issuer.trim_end_matches('/') != issuer {
        return Err(provider_err(format!(
            "discovery issuer {:?} is not {issuer:?}",
            doc.issuer
        )));
    }
    let doc = Rc::new(doc);
    METADATA.with(|m| {
        m.borrow_mut().insert(
            issuer.to_owned(),
            Cached {
                at: now,
                value: doc.clone(),
            },
        )
    });
    Ok(doc)
}

/// The key set at `uri`, from the cache unless `refetch` (and the last fetch is not too recent).
async fn jwks(uri: &str, now: i64, refetch: bool) -> Result<Rc<Jwks>, Upstream> {
    let hit = KEYS.with(|k| {
        k.borrow().get(uri).and_then(|c| {
            let fresh = now - c.at < CACHE_TTL_S;
            let too_soon = now - c.at < REFETCH_MIN_INTERVAL_S;
            (fresh && (!refetch || too_soon)).then(|| c.value.clone())
        })
    });
    if let Some(k) = hit {
        return Ok(k);
    }
    let (status, body) = send(uri, Method::Get, Headers::new(), None).await?;
    if status != 200 {
        return Err(provider_err(format!("{uri}: status {status}")));
    }
    let keys = Rc::new(Jwks::parse(&body).map_err(provider_err)?);
    KEYS.with(|k| {
        k.borrow_mut().insert(
            uri.to_owned(),
            Cached {
                at: now,
                value: keys.clone(),
            },
        )
    });
    Ok(keys)
}

/// Verifies an ID token (or an exchanged JWT) against the issuer's keys, fetching them again
/// once when the token names a key the cached set lacks (the issuer rotated).
pub async fn verify_id_token(
    jwks_uri: &str,
    token: &str,
    expect: &Expect<'_>,
) -> Result<IdClaims, Upstream> {
    let keys = jwks(jwks_uri, expect.now, false).await?;
    let signed = match id_token::prepare(token, &keys, expect) {
        Err(IdTokenError::UnknownKey) => {
            let fresh = jwks(jwks_uri, expect.now, true).await?;
            id_token::prepare(token, &fresh, expect)
        }
        other => other,
    }
    .map_err(Upstream::IdToken)?;
    let mut valid = false;
    for key in &signed.keys {
        if webcrypto_verify(key, signed.input.as_bytes(), &signed.signature)
            .await
            .map_err(provider_err)?
        {
            valid = true;
            break;
        }
    }
    if !valid {
        return Err(Upstream::IdToken(IdTokenError::BadSignature));
    }
    id_token::claims(token, expect).map_err(Upstream::IdToken)
}

fn js_object(pairs: &[(&str, &str)]) -> Result<js_sys::Object, JsValue> {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        js_sys::Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v))?;
    }
    Ok(o)
}

/// Calls `crypto.subtle.<method>(...args)` and awaits its promise.
async fn subtle(method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = js_sys::Reflect::get(&crypto, &JsValue::from_str("subtle"))?;
    let f: js_sys::Function =
        js_sys::Reflect::get(&subtle, &JsValue::from_str(method))?.dyn_into()?;
    let array = js_sys::Array::new();
    for a in args {
        array.push(a);
    }
    let promise: js_sys::Promise = f.apply(&subtle, &array)?.dyn_into()?;
    worker::wasm_bindgen_futures::JsFuture::from(promise).await
}

/// RS256 (RSASSA-PKCS1-v1_5, SHA-256) or ES256 (ECDSA P-256, SHA-256, r || s) verification by
/// the runtime's WebCrypto: no RSA or elliptic-curve code in the Worker. A key WebCrypto will
/// not import (a point off the curve, say) verifies nothing.
async fn webcrypto_verify(key: &Key, message: &[u8], signature: &[u8]) -> Result<bool, String> {
    verify_jwk(key.alg, &key.jwk, message, signature).await
}

/// `webcrypto_verify` for any public JWK of `alg` (passkeys' ES256 and RS256 keys too).
pub async fn verify_jwk(
    alg: Alg,
    jwk: &serde_json::Value,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, String> {
    let js = |e: JsValue| format!("webcrypto: {e:?}");
    let (import_alg, verify_alg) = match alg {
        Alg::Rs256 => (
            js_object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")]).map_err(js)?,
            js_object(&[("name", "RSASSA-PKCS1-v1_5")]).map_err(js)?,
        ),
        Alg::Es256 => (
            js_object(&[("name", "ECDSA"), ("namedCurve", "P-256")]).map_err(js)?,
            js_object(&[("name", "ECDSA"), ("hash", "SHA-256")]).map_err(js)?,
        ),
    };
    let jwk = js_sys::JSON::parse(&jwk.to_string()).map_err(js)?;
    let usages = js_sys::Array::of1(&JsValue::from_str("verify"));
    let imported = match subtle(
        "importKey",
        &[
            JsValue::from_str("jwk"),
            jwk,
            import_alg.into(),
            JsValue::FALSE,
            usages.into(),
        ],
    )
    .await
    {
        Ok(k) => k,
        Err(_) => return Ok(false),
    };
    let ok = subtle(
        "verify",
        &[
            verify_alg.into(),
            imported,
            js_sys::Uint8Array::from(signature).into(),
            js_sys::Uint8Array::from(message).into(),
        ],
    )
    .await
    .map_err(js)?;
    Ok(ok.as_bool() == Some(true))
}

/// Where the provider's authorization page is.
pub async fn authorization_endpoint(p: &Provider, now: i64) -> Result<String, Upstream> {
    match &p.kind {
        Kind::Oidc { issuer, .. } => {
            Ok(metadata(issuer, now).await?.authorization_endpoint.clone())
        }
        Kind::Github { web, .. } => Ok(format!("{web}/login/oauth/authorize")),
        Kind::Jwt { .. } => Err(provider_err("a jwt provider has no authorization endpoint")),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
}

/// Redeems the provider's code at its token endpoint (with our PKCE verifier).
async fn exchange(
    p: &Provider,
    token_endpoint: &str,
    code: &str,
    callback_uri: &str,
    code_verifier: &str,
) -> Result<TokenAnswer, Upstream> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", callback_uri),
        ("code_verifier", code_verifier),
    ];
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/x-www-form-urlencoded");
    let _ = headers.set("accept", "application/json");
    let secret = p.client_secret.as_ref().map(|s| s.expose());
    match (&p.kind, secret) {
        // OIDC's default client authentication (client_secret_basic, RFC 6749 section 2.3.1:
        // both parts form-encoded first).
        (Kind::Oidc { .. }, Some(secret)) => {
            let basic = B64.encode(format!("{}:{}", encode(&p.client_id), encode(secret)));
            let _ = headers.set("authorization", &format!("Basic {basic}"));
        }
        // GitHub takes the credentials in the body.
        (Kind::Github { .. }, Some(secret)) => {
            form.push(("client_id", &p.client_id));
            form.push(("client_secret", secret));
        }
        // A public client (and a `jwt` provider, which never gets here: it has no secret).
        (_, _) => form.push(("client_id", &p.client_id)),
    }
    let (status, body) = send(token_endpoint, Method::Post, headers, Some(query(&form))).await?;
    let answer: TokenAnswer = serde_json::from_str(&body)
        .map_err(|_| provider_err(format!("token endpoint: status {status}, not JSON")))?;
    if let Some(e) = &answer.error {
        return Err(provider_err(format!("token endpoint: {e}")));
    }
    if status != 200 {
        return Err(provider_err(format!("token endpoint: status {status}")));
    }
    Ok(answer)
}

/// The sign-in at the provider, completed: the code redeemed and the identity checked.
pub async fn complete(
    p: &Provider,
    code: &str,
    callback_uri: &str,
    code_verifier: &str,
    nonce: &str,
    now: i64,
    leeway_s: i64,
) -> Result<External, Upstream> {
    match &p.kind {
        Kind::Oidc { issuer, google } => {
            let meta = metadata(issuer, now).await?;
            let answer =
                exchange(p, &meta.token_endpoint, code, callback_uri, code_verifier).await?;
            let token = answer
                .id_token
                .ok_or_else(|| provider_err("no id_token in the token response"))?;
            // Google documents both forms of its issuer.
            let issuers: Vec<&str> = if *google {
                vec![GOOGLE_ISSUER, "accounts.google.com"]
            } else {
                vec![issuer.as_str()]
            };
            let claims = verify_id_token(
                &meta.jwks_uri,
                &token,
                &Expect {
                    issuers: &issuers,
                    audience: &p.client_id,
                    nonce: Some(nonce),
                    algorithms: ID_TOKEN_ALGORITHMS,
                    now,
                    leeway_s,
                },
            )
            .await?;
            Ok(External {
                provider: p.id.clone(),
                subject: claims.sub,
                email: claims.email.map(|e| e.to_lowercase()),
                email_verified: claims.email_verified,
                name: claims.name,
            })
        }
        Kind::Github { web, api } => {
            let answer = exchange(
                p,
                &format!("{web}/login/oauth/access_token"),
                code,
                callback_uri,
                code_verifier,
            )
            .await?;
            let token = answer
                .access_token
                .ok_or_else(|| provider_err("no access_token in the token response"))?;
            github_user(api, &token, &p.id).await
        }
        Kind::Jwt { .. } => Err(provider_err("a jwt provider has no code flow")),
    }
}

/// Token exchange: a JWT of a `jwt` provider, checked against its JWKS, `iss`, `aud`, the
/// configured algorithms and `exp`/`iat`. An address in it counts only when `email_verified`.
pub async fn verify_exchange(
    p: &Provider,
    token: &str,
    now: i64,
    leeway_s: i64,
) -> Result<External, Upstream> {
    let Kind::Jwt {
        issuer,
        jwks_uri,
        audience,
        algorithms,
    } = &p.kind
    else {
        return Err(provider_err("not a jwt provider"));
    };
    let algorithms: Vec<&str> = algorithms.iter().map(String::as_str).collect();
    let claims = verify_id_token(
        jwks_uri,
        token,
        &Expect {
            issuers: &[issuer.as_str()],
            audience,
            nonce: None,
            algorithms: &algorithms,
            now,
            leeway_s,
        },
    )
    .await?;
    Ok(External {
        provider: p.id.clone(),
        subject: claims.sub,
        email: claims
            .email
            .filter(|_| claims.email_verified)
            .map(|e| e.to_lowercase()),
        email_verified: claims.email_verified,
        name: claims.name,
    })
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

fn github_headers(token: &str) -> Headers {
    let h = Headers::new();
    let _ = h.set("authorization", &format!("Bearer {token}"));
    let _ = h.set("x-github-api-version", "2022-11-28");
    h
}

/// GitHub's user (`GET /user`; the numeric id is the stable subject, the login can change)
/// and its verified address (`GET /user/emails`: the primary one if verified, else another
/// verified one). The profile's public e-mail is never used: GitHub does not vouch for it.
async fn github_user(api: &str, token: &str, provider: &str) -> Result<External, Upstream> {
    let user: GithubUser = get_json(&format!("{api}/user"), github_headers(token)).await?;
    let emails: Vec<GithubEmail> =
        get_json(&format!("{api}/user/emails"), github_headers(token)).await?;
    let verified = emails
        .iter()
        .filter(|e| e.verified)
        .max_by_key(|e| e.primary)
        .map(|e| e.email.to_lowercase());
    Ok(External {
        provider: provider.to_owned(),
        subject: user.id.to_string(),
        email_verified: verified.is_some(),
        email: verified,
        name: user.name.or(Some(user.login)),
    })
}
