//! The key set in force: the configured keys (secret JWT_SIGNING_KEYS) plus the keys the
//! rotation step made (D1 `signing_keys`, private parts sealed under KEY_ENCRYPTION_KEY),
//! minus those retired longer than the longest access-token lifetime. Cached per isolate for
//! a few seconds; a token with an unknown kid forces one reload (at most once a second), so a
//! key another isolate just started using verifies here too.

use crate::core::config::Config;
use crate::core::crypto::b64url;
use crate::core::error::{AppError, Faulty};
use crate::core::keyseal;
use crate::core::rotation::{in_key_set, plan, plan_on_demand, Plan, StoredKey};
use crate::core::token::{KeyEntry, KeySet};
use crate::edge::d1::signing_keys::{self, Changes, KeyRow, NewKey};
use crate::edge::rand;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::cell::RefCell;
use std::rc::Rc;
use worker::{D1Database, Date, Env};

const CACHE_MS: u64 = 10_000;
const RELOAD_MIN_MS: u64 = 1_000;

thread_local! {
    static CACHE: RefCell<Option<(u64, Rc<KeySet>)>> = const { RefCell::new(None) };
}

fn kek(cfg: &Config) -> Result<Option<[u8; 32]>, AppError> {
    match &cfg.key_encryption_key {
        None => Ok(None),
        Some(s) => keyseal::parse_kek(s.expose()).map(Some).ok_or_else(|| {
            AppError::fault("keys.kek", "KEY_ENCRYPTION_KEY is not 32 base64url bytes")
        }),
    }
}

fn assemble(cfg: &Config, rows: &[KeyRow], now: i64) -> Result<KeySet, AppError> {
    let keep = |kid: &str| {
        rows.iter()
            .find(|r| r.kid == kid)
            .is_none_or(|r| in_key_set(r.retired_at, now, cfg.max_token_lifetime_s))
    };
    let mut entries: Vec<KeyEntry> = cfg
        .keys
        .entries()
        .iter()
        .filter(|k| keep(&k.kid))
        .cloned()
        .collect();
    let mut active = cfg.keys.active().kid.clone();
    let mut active_since = i64::MIN;
    if let Some(kek) = kek(cfg)? {
        for r in rows.iter().filter(|r| r.sealed_d.is_some() && keep(&r.kid)) {
            let Some(d) = keyseal::open(&kek, &r.kid, r.sealed_d.as_deref().unwrap_or_default())
            else {
                worker::console_error!(
                    "signing key {} does not open with KEY_ENCRYPTION_KEY",
                    r.kid
                );
                continue;
            };
            let signing = SigningKey::from_bytes(&d);
            let verifying: VerifyingKey = signing.verifying_key();
            if let (Some(from), None) = (r.active_from, r.retired_at) {
                if from <= now && from > active_since {
                    active = r.kid.clone();
                    active_since = from;
                }
            }
            entries.push(KeyEntry {
                kid: r.kid.clone(),
                signing: Some(signing),
                verifying,
            });
        }
    }
    KeySet::from_parts(entries, &active).fault("keys.assemble")
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}

/// The key set in force. Without rotation configured, exactly the configured keys.
pub async fn current(env: &Env, cfg: &Config) -> Result<Rc<KeySet>, AppError> {
    if cfg.key_rotation_interval_s.is_none() && cfg.key_encryption_key.is_none() {
        return Ok(Rc::new(cfg.keys.clone()));
    }
    if let Some((at, ks)) = CACHE.with(|c| c.borrow().clone()) {
        if now_ms().saturating_sub(at) < CACHE_MS {
            return Ok(ks);
        }
    }
    reload(env, cfg).await
}

async fn reload(env: &Env, cfg: &Config) -> Result<Rc<KeySet>, AppError> {
    let db = env.d1(crate::core::bindings::DB).fault("keys.reload")?;
    let ks = Rc::new(assemble(
        cfg,
        &signing_keys::all_keys(&db).await?,
        (now_ms() / 1000) as i64,
    )?);
    CACHE.with(|c| *c.borrow_mut() = Some((now_ms(), ks.clone())));
    Ok(ks)
}

/// For a kid this isolate does not know: reload once, if the cache is not brand new.
pub async fn refreshed_for(
    env: &Env,
    cfg: &Config,
    kid: &str,
) -> Result<Option<Rc<KeySet>>, AppError> {
    if cfg.key_rotation_interval_s.is_none() && cfg.key_encryption_key.is_none() {
        return Ok(None);
    }
    let fresh = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|(at, _)| now_ms().saturating_sub(*at) < RELOAD_MIN_MS)
    });
    if fresh {
        return Ok(None);
    }
    let ks = reload(env, cfg).await?;
    Ok(ks.get(kid).is_some().then_some(ks))
}

/// The cron step: carry out the rotation plan. Returns how many changes it made.
pub async fn rotate(env: &Env, db: &D1Database, now: i64) -> Result<usize, AppError> {
    let cfg = crate::edge::ctx::config(env)?;
    let stored = stored(db).await?;
    let p = plan(
        &stored,
        &cfg.keys.active().kid,
        now,
        cfg.key_rotation_interval_s,
    );
    Ok(apply(&cfg, db, &p, now).await?.0)
}

/// What an on-demand rotation did.
pub struct Rotated {
    /// The key that started signing.
    pub activated: Option<String>,
    /// The key published now, to start signing at the next run.
    pub published: Option<String>,
    pub retired: Vec<String>,
}

/// `POST /v1/admin/keys/rotate`: `core::rotation::plan_on_demand`, carried out.
pub async fn rotate_now(env: &Env, db: &D1Database, now: i64) -> Result<Rotated, AppError> {
    let cfg = crate::edge::ctx::config(env)?;
    let p = plan_on_demand(&stored(db).await?, &cfg.keys.active().kid, now);
    let (_, published) = apply(&cfg, db, &p, now).await?;
    let mut retired = p.retire.clone();
    retired.extend(p.retire_configured.clone());
    Ok(Rotated {
        activated: p.activate,
        published,
        retired,
    })
}

async fn stored(db: &D1Database) -> Result<Vec<StoredKey>, AppError> {
    Ok(signing_keys::all_keys(db)
        .await?
        .iter()
        .map(KeyRow::stored)
        .collect())
}

/// Carries out a plan: the number of changes, and the kid of the key it published.
async fn apply(
    cfg: &Config,
    db: &D1Database,
    p: &Plan,
    now: i64,
) -> Result<(usize, Option<String>), AppError> {
    if p.is_empty() {
        return Ok((0, None));
    }
    let insert = if p.generate {
        let kek = kek(cfg)?
            .ok_or_else(|| AppError::fault("keys.rotate", "rotation needs KEY_ENCRYPTION_KEY"))?;
        let secret: [u8; 32] = rand::bytes()?;
        let signing = SigningKey::from_bytes(&secret);
        let kid = format!("rot-{}", &rand::uuid()?[..8]);
        let sealed_d = keyseal::seal(&kek, &kid, &secret, rand::bytes()?);
        Some(NewKey {
            public_x: b64url(signing.verifying_key().as_bytes()),
            kid,
            sealed_d,
        })
    } else {
        None
    };
    let changes = Changes {
        activate: p.activate.as_deref(),
        retire: &p.retire,
        retire_configured: p.retire_configured.as_deref(),
        insert,
    };
    let published = changes.insert.as_ref().map(|k| k.kid.clone());
    let n = signing_keys::apply(db, &changes, now).await?;
    CACHE.with(|c| *c.borrow_mut() = None);
    Ok((n, published))
}
