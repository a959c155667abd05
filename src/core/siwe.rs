//! Sign in with Ethereum (EIP-4361): the message, parsed line by line and checked field by field
//! against this deployment's rules; its EIP-191 `personal_sign` signature, whose signer is
//! recovered with secp256k1 (`k256`) and compared to the message's EIP-55 address.
//!
//! Pure: the clock, the allowed domains and chain ids, and the nonce store are the caller's.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

/// How long an issued nonce can be used; also how old a message's `Issued At` may be.
pub const NONCE_TTL_S: i64 = 300;

/// A message longer than this is refused before it is parsed (a real one is a few hundred bytes;
/// resources make it longer, not kilobytes longer).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

const HEADER_SUFFIX: &str = " wants you to sign in with your Ethereum account:";

/// A nonce for a message: 128 random bits as 32 lower-case hex digits (EIP-4361 wants at least
/// 8 alphanumeric characters).
pub fn new_nonce(random: [u8; 16]) -> String {
    crate::core::crypto::hex(&random)
}

pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// An Ethereum address (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// `0x` and 40 hex digits, in any case (a path parameter, an admin's lookup). The EIP-55
    /// checksum is not checked here: see [`Address::parse_checksummed`].
    pub fn parse_any(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("0x")?;
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(out))
    }

    /// The address exactly as EIP-55 capitalises it: EIP-4361 requires the checksummed form,
    /// so an all-lower-case address (or one with a wrong capital) is refused.
    pub fn parse_checksummed(s: &str) -> Option<Self> {
        let a = Self::parse_any(s)?;
        (a.checksummed() == s).then_some(a)
    }

    /// The canonical stored form: `0x` + lower-case hex.
    pub fn lower(&self) -> String {
        format!("0x{}", crate::core::crypto::hex(&self.0))
    }

    /// EIP-55: each hex letter is capitalised where the matching nibble of keccak256 of the
    /// lower-case hex (without `0x`) is 8 or more.
    pub fn checksummed(&self) -> String {
        let lower = crate::core::crypto::hex(&self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }

    /// The address of an uncompressed secp256k1 public key: the last 20 bytes of keccak256 of
    /// its 64 coordinate bytes (without the 0x04 tag).
    pub fn of_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        let hash = keccak256(&point.as_bytes()[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Self(out)
    }
}

/// EIP-191 version 0x45 (`personal_sign`): keccak256 of the prefix, the message's length in
/// bytes as a decimal number, and the message.
pub fn personal_sign_digest(message: &str) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(message.len().to_string().as_bytes());
    h.update(message.as_bytes());
    h.finalize().into()
}

/// A wallet linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    pub address: Address,
    pub chain_id: u64,
    pub created_at: i64,
    pub last_used_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WalletView {
    /// EIP-55 checksummed.
    pub address: String,
    pub chain_id: u64,
    pub created_at: String,
    pub last_used_at: String,
}

impl Wallet {
    pub fn view(&self) -> WalletView {
        WalletView {
            address: self.address.checksummed(),
            chain_id: self.chain_id,
            created_at: crate::core::api::rfc3339(self.created_at),
            last_used_at: crate::core::api::rfc3339(self.last_used_at),
        }
    }
}

/// Why a signature was refused (for the log; the client sees one code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadSignature {
    /// Not `0x` + 130 hex digits.
    Encoding,
    /// `v` is not 27, 28, 0 or 1.
    RecoveryId,
    /// `s` in the upper half of the order: the malleable twin of a valid signature
    /// (EIP-2 refuses those; wallets never produce them).
    HighS,
    /// r or s out of range, or no key recovers from it.
    Unrecoverable,
}

/// The signer of `message` (EIP-191 personal_sign) from a 65-byte `r ‖ s ‖ v` signature in hex.
pub fn recover(message: &str, signature: &str) -> Result<Address, BadSignature> {
    let hex = signature.strip_prefix("0x").ok_or(BadSignature::Encoding)?;
    if hex.len() != 130 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadSignature::Encoding);
    }
    let mut bytes = [0u8; 65];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| BadSignature::Encoding)?;
    }
    let v = match bytes[64] {
        27 | 28 => bytes[64] - 27,
        0 | 1 => bytes[64],
        _ => return Err(BadSignature::RecoveryId),
    };
    let sig = Signature::from_slice(&bytes[..64]).map_err(|_| BadSignature::Unrecoverable)?;
    if sig.normalize_s().is_some() {
        return Err(BadSignature::HighS);
    }
    let id = RecoveryId::from_byte(v).ok_or(BadSignature::RecoveryId)?;
    let key = VerifyingKey::recover_from_prehash(&personal_sign_digest(message), &sig, id)
        .map_err(|_| BadSignature::Unrecoverable)?;
    Ok(Address::of_key(&key))
}

/// An EIP-4361 message, as parsed (nothing checked beyond its grammar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub scheme: Option<String>,
    pub domain: String,
    pub address: Address,
    pub statement: Option<String>,
    pub uri: String,
    pub chain_id: u64,
    pub nonce: String,
    pub issued_at: i64,
    pub expiration_time: Option<i64>,
    pub not_before: Option<i64>,
    pub request_id: Option<String>,
    pub resources: Vec<String>,
}

/// What is wrong with a message (for the log; the client sees one code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadMessage {
    TooLong,
    /// The named line or field does not follow the EIP-4361 grammar.
    Syntax(&'static str),
    /// The address is not in its EIP-55 checksummed form.
    Checksum,
    /// Neither `APP_BASE_URL`'s host nor one of `SIWE_DOMAINS`.
    Domain,
    /// A scheme other than http(s) on the first line.
    Scheme,
    /// The URI's authority is not the message's domain.
    Uri,
    Version,
    ChainId,
    IssuedInFuture,
    TooOld,
    Expired,
    NotYetValid,
}

impl BadMessage {
    pub fn why(self) -> String {
        match self {
            Self::Syntax(what) => format!("syntax: {what}"),
            other => format!("{other:?}"),
        }
    }
}

fn syntax(what: &'static str) -> BadMessage {
    BadMessage::Syntax(what)
}

/// An RFC 3986 authority, as far as a SIWE domain needs: non-empty, no whitespace or
/// delimiters of a path, query or fragment.
fn is_authority(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@[]".contains(&b))
}

/// `scheme "://" authority [path] [? query] [# fragment]`, every character a visible ASCII
/// one; the authority is returned.
fn uri_authority(uri: &str) -> Option<&str> {
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let (scheme, rest) = uri.split_once("://")?;
    let mut sb = scheme.bytes();
    if !sb.next()?.is_ascii_alphabetic()
        || !sb.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    is_authority(authority).then_some(authority)
}

fn timestamp(s: &str, what: &'static str) -> Result<i64, BadMessage> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| syntax(what))
}

/// `Label: value` from a line, or `None` when the line is another field.
fn field<'a>(line: Option<&&'a str>, label: &str) -> Option<&'a str> {
    line.and_then(|l| l.strip_prefix(label))
}

impl Message {
    /// Parses the message by the EIP-4361 ABNF, line by line (LF only; the statement's blank
    /// lines are part of the grammar: `address LF LF [statement LF] LF "URI: "`).
    pub fn parse(text: &str) -> Result<Self, BadMessage> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(BadMessage::TooLong);
        }
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.iter().any(|l| l.contains('\r')) {
            return Err(syntax("line ends must be LF"));
        }
        let header = lines[0]
            .strip_suffix(HEADER_SUFFIX)
            .ok_or(syntax("first line"))?;
        let (scheme, domain) = match header.split_once("://") {
            Some((s, d)) => (Some(s), d),
            None => (None, header),
        };
        if let Some(s) = scheme {
            let mut b = s.bytes();
            if !b.next().is_some_and(|c| c.is_ascii_alphabetic())
                || !b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
            {
                return Err(syntax("scheme"));
            }
        }
        if !is_authority(domain) {
            return Err(syntax("domain"));
        }
        let address_text = lines.get(1).ok_or(syntax("address"))?;
        Address::parse_any(address_text).ok_or(syntax("address"))?;
        let address = Address::parse_checksummed(address_text).ok_or(BadMessage::Checksum)?;
        if lines.get(2) != Some(&"") {
            return Err(syntax("blank line after the address"));
        }
        // Either `LF "URI: "` (no statement) or `statement LF LF "URI: "`.
        let (statement, mut at) = match lines.get(3) {
            Some(&"") => (None, 4),
            Some(s) if !s.starts_with("URI: ") => {
                if s.chars().any(char::is_control) {
                    return Err(syntax("statement"));
                }
                if lines.get(4) != Some(&"") {
                    return Err(syntax("blank line after the statement"));
                }
                (Some((*s).to_owned()), 5)
            }
            _ => return Err(syntax("blank line before the URI")),
        };
        let mut next = |label: &str| {
            let v = field(lines.get(at), label);
            if v.is_some() {
                at += 1;
            }
            v
        };
        let uri = next("URI: ").ok_or(syntax("URI"))?.to_owned();
        let version = next("Version: ").ok_or(syntax("Version"))?.to_owned();
        let chain = next("Chain ID: ").ok_or(syntax("Chain ID"))?;
        let chain_id = (!chain.is_empty() && chain.bytes().all(|b| b.is_ascii_digit()))
            .then(|| chain.parse::<u64>().ok())
            .flatten()
            .ok_or(syntax("Chain ID"))?;
        let nonce = next("Nonce: ").ok_or(syntax("Nonce"))?.to_owned();
        if nonce.len() < 8 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(syntax("Nonce"));
        }
        let issued_at = timestamp(next("Issued At: ").ok_or(syntax("Issued At"))?, "Issued At")?;
        let expiration_time = next("Expiration Time: ")
            .map(|t| timestamp(t, "Expiration Time"))
            .transpose()?;
        let not_before = next("Not Before: ")
            .map(|t| timestamp(t, "Not Before"))
            .transpose()?;
        let request_id = next("Request ID: ").map(str::to_owned);
        if request_id
            .as_deref()
            .is_some_and(|r| !r.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(syntax("Request ID"));
        }
        let mut resources = Vec::new();
        if lines.get(at) == Some(&"Resources:") {
            at += 1;
            while let Some(r) = lines.get(at).and_then(|l| l.strip_prefix("- ")) {
                if uri_authority(r).is_none() && !is_plain_uri(r) {
                    return Err(syntax("Resources"));
                }
                resources.push(r.to_owned());
                at += 1;
            }
        }
        if at != lines.len() {
            return Err(syntax("unexpected line after the fields"));
        }
        if version != "1" {
            return Err(BadMessage::Version);
        }
        Ok(Self {
            scheme: scheme.map(str::to_owned),
            domain: domain.to_owned(),
            address,
            statement,
            uri,
            chain_id,
            nonce,
            issued_at,
            expiration_time,
            not_before,
            request_id,
            resources,
        })
    }

    /// Checks every field against the deployment's rules as of `now` (seconds), with `leeway`
    /// seconds for clocks that differ. The nonce is the caller's to take.
    pub fn check(&self, rules: &Rules<'_>) -> Result<(), BadMessage> {
        let domain = self.domain.to_ascii_lowercase();
        if !rules.domains.contains(&domain) {
            return Err(BadMessage::Domain);
        }
        if self
            .scheme
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("https") && !s.eq_ignore_ascii_case("http"))
        {
            return Err(BadMessage::Scheme);
        }
        match uri_authority(&self.uri) {
            Some(a) if a.eq_ignore_ascii_case(&self.domain) => {}
            _ => return Err(BadMessage::Uri),
        }
        if !rules.chain_ids.contains(&self.chain_id) {
            return Err(BadMessage::ChainId);
        }
        if self.issued_at > rules.now + rules.leeway_s {
            return Err(BadMessage::IssuedInFuture);
        }
        // A nonce lives NONCE_TTL_S: a message issued before that cannot carry a live one.
        if self.issued_at < rules.now - NONCE_TTL_S - rules.leeway_s {
            return Err(BadMessage::TooOld);
        }
        if self
            .expiration_time
            .is_some_and(|t| t <= rules.now - rules.leeway_s)
        {
            return Err(BadMessage::Expired);
        }
        if self
            .not_before
            .is_some_and(|t| t > rules.now + rules.leeway_s)
        {
            return Err(BadMessage::NotYetValid);
        }
        Ok(())
    }
}

/// A resource may be any RFC 3986 URI (`urn:…`, `ipfs://…`): a scheme, `:`, visible ASCII.
fn is_plain_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut b = scheme.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        && !rest.is_empty()
        && rest.bytes().all(|c| c.is_ascii_graphic())
}

/// What a message must satisfy here.
pub struct Rules<'a> {
    /// Lower-cased `host[:port]` values.
    pub domains: &'a [String],
    pub chain_ids: &'a [u64],
    pub now: i64,
    pub leeway_s: i64,
}

/// The lower-cased `host[:port]` of an http(s) base URL (`APP_BASE_URL`).
pub fn domain_of(base_url: &str) -> Option<String> {
    let rest = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    is_authority(authority).then(|| authority.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors made with Python eth-account 0.13.7 (the e2e suite's signer):
    //   from eth_account import Account; from eth_account.messages import encode_defunct
    //   acct = Account.from_key("0x" + "11" * 32)   # address below
    //   "0x" + Account.sign_message(encode_defunct(text=MSG), acct.key).signature.hex()
    // and the EIP-55 addresses from the EIP's own test cases.
    const KEY_11_ADDRESS: &str = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A";

    fn msg(nonce: &str) -> String {
        format!(
            "example.com wants you to sign in with your Ethereum account:\n\
             {KEY_11_ADDRESS}\n\n\
             Sign in to Example.\n\n\
             URI: https://example.com/login\n\
             Version: 1\n\
             Chain ID: 1\n\
             Nonce: {nonce}\n\
             Issued At: 2026-01-01T00:00:00Z"
        )
    }

    #[test]
    fn eip55_checksums_match_the_eips_test_cases() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
            "0x52908400098527886E0F7030069857D2E4169EE7",
            "0xde709f2102306220921060314715629080e2fb77",
        ] {
            let parsed = Address::parse_checksummed(a).unwrap_or_else(|| panic!("{a}"));
            assert_eq!(parsed.checksummed(), a);
            assert_eq!(Address::parse_any(&a.to_lowercase()), Some(parsed));
        }
        // Lower-case (no checksum) and one wrong capital are both refused.
        assert!(Address::parse_checksummed("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").is_none());
        assert!(Address::parse_checksummed("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_none());
        for bad in [
            "",
            "0x",
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
            "0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        ] {
            assert!(Address::parse_any(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn keccak_and_the_personal_sign_digest_are_ethereums() {
        // keccak256("") and the digest of "hello" as eth_account's `_hash_eip191_message`
        // (encode_defunct(text="hello")) gives it.
        assert_eq!(
            crate::core::crypto::hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            crate::core::crypto::hex(&personal_sign_digest("hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
    }

    #[test]
    fn the_signer_is_recovered_from_a_real_signature() {
        let m = msg("abcdef0123456789");
        let sig = SIG_11;
        let signer = recover(&m, sig).unwrap();
        assert_eq!(signer.checksummed(), KEY_11_ADDRESS);
        // v as 0/1 instead of 27/28: the same signer.
        let v = u8::from_str_radix(&sig[130..], 16).unwrap() - 27;
        let raw = format!("{}{v:02x}", &sig[..130]);
        assert_eq!(recover(&m, &raw).unwrap(), signer);
        // Another message: another (or no) signer, never this one.
        assert_ne!(recover(&msg("abcdef0123456780"), sig).ok(), Some(signer));
    }

    #[test]
    fn malformed_or_malleable_signatures_are_refused() {
        let m = msg("abcdef0123456789");
        assert_eq!(recover(&m, &SIG_11[2..]), Err(BadSignature::Encoding));
        assert_eq!(recover(&m, &SIG_11[..130]), Err(BadSignature::Encoding));
        let v = format!("{}1d", &SIG_11[..130]);
        assert_eq!(recover(&m, &v), Err(BadSignature::RecoveryId));
        // The high-s twin of the same signature (s' = n - s, v flipped) recovers the same key
        // mathematically; it must be refused.
        let bytes: Vec<u8> = (0..65)
            .map(|i| u8::from_str_radix(&SIG_11[2 + 2 * i..4 + 2 * i], 16).unwrap())
            .collect();
        let sig = Signature::from_slice(&bytes[..64]).unwrap();
        let (r, s) = sig.split_scalars();
        let twin = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        let flipped = if bytes[64] == 27 { 28 } else { 27 };
        let high = format!(
            "0x{}{:02x}",
            crate::core::crypto::hex(&twin.to_bytes()),
            flipped
        );
        assert_eq!(recover(&m, &high), Err(BadSignature::HighS));
        let zeros = format!("0x{}1b", "00".repeat(64));
        assert_eq!(recover(&m, &zeros), Err(BadSignature::Unrecoverable));
    }

    // eth-account 0.13.7, key 0x11…11, over msg("abcdef0123456789").
    const SIG_11: &str = "0x24b0eec36baf1db399bd78f78a14a0d90a821e9030e0deef19ed2fe8214dbd5c5350cfe5a33511e50dd09fe3b6bef1babe7964e1a0adf711212fc390f2f34ce51c";

    fn rules(domains: &[String]) -> Rules<'_> {
        Rules {
            domains,
            chain_ids: &[1],
            now: 1_767_225_600, // 2026-01-01T00:00:00Z
            leeway_s: 60,
        }
    }

    #[test]
    fn a_full_message_parses_field_by_field() {
        let text = format!(
            "https://example.com:8443 wants you to sign in with your Ethereum account:\n\
             {KEY_11_ADDRESS}\n\n\
             I accept the Terms: https://example.com/tos\n\n\
             URI: https://example.com:8443/login?x=1\n\
             Version: 1\n\
             Chain ID: 10\n\
             Nonce: 32891757\n\
             Issued At: 2026-01-01T00:00:00.000Z\n\
             Expiration Time: 2026-01-01T00:05:00+00:00\n\
             Not Before: 2025-12-31T23:59:00Z\n\
             Request ID: req-1\n\
             Resources:\n\
             - ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n\
             - https://example.com/my-web2-claim.json"
        );
        let m = Message::parse(&text).unwrap();
        assert_eq!(m.scheme.as_deref(), Some("https"));
        assert_eq!(m.domain, "example.com:8443");
        assert_eq!(m.address.checksummed(), KEY_11_ADDRESS);
        assert_eq!(
            m.statement.as_deref(),
            Some("I accept the Terms: https://example.com/tos")
        );
        assert_eq!(m.uri, "https://example.com:8443/login?x=1");
        assert_eq!(m.chain_id, 10);
        assert_eq!(m.nonce, "32891757");
        assert_eq!(m.issued_at, 1_767_225_600);
        assert_eq!(m.expiration_time, Some(1_767_225_900));
        assert_eq!(m.not_before, Some(1_767_225_540));
        assert_eq!(m.request_id.as_deref(), Some("req-1"));
        assert_eq!(m.resources.len(), 2);
        let domains = ["example.com:8443".to_string()];
        let mut r = rules(&domains);
        r.chain_ids = &[1, 10];
        assert_eq!(m.check(&r), Ok(()));
    }

    #[test]
    fn the_statement_is_optional_but_its_blank_lines_are_not() {
        let without = format!(
            "example.com wants you to sign in with your Ethereum account:\n{KEY_11_ADDRESS}\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: abcdefgh\nIssued At: 2026-01-01T00:00:00Z"
        );
        let m = Message::parse(&without).unwrap();
        assert_eq!(m.statement, None);
        assert_eq!(m.scheme, None);
        // One blank line only (neither with nor without a statement).
        let short = without.replace("\n\n\nURI", "\n\nURI");
        assert_eq!(
            Message::parse(&short),
            Err(BadMessage::Syntax("blank line before the URI"))
        );
        let no_gap = msg("abcdefgh").replace("Example.\n\nURI", "Example.\nURI");
        assert!(Message::parse(&no_gap).is_err());
    }

    #[test]
    fn every_malformed_field_is_refused() {
        let good = msg("abcdef0123456789");
        assert!(Message::parse(&good).is_ok());
        let cases: Vec<(String, BadMessage)> = vec![
            (
                good.replace(" wants you", " want you"),
                syntax("first line"),
            ),
            (
                good.replace("example.com wants", "exa mple.com wants"),
                syntax("domain"),
            ),
            (
                good.replace(KEY_11_ADDRESS, &KEY_11_ADDRESS.to_lowercase()),
                BadMessage::Checksum,
            ),
            (good.replace(KEY_11_ADDRESS, "0x19E7"), syntax("address")),
            (
                good.replace("Version: 1", "Version: 2"),
                BadMessage::Version,
            ),
            (
                good.replace("Chain ID: 1", "Chain ID: one"),
                syntax("Chain ID"),
            ),
            (
                good.replace("Chain ID: 1", "Chain ID: "),
                syntax("Chain ID"),
            ),
            (
                good.replace("Nonce: abcdef0123456789", "Nonce: abc"),
                syntax("Nonce"),
            ),
            (
                good.replace("Nonce: abcdef0123456789", "Nonce: abcdef01-3456789"),
                syntax("Nonce"),
            ),
            (
                good.replace("2026-01-01T00:00:00Z", "yesterday"),
                syntax("Issued At"),
            ),
            (good.replace("URI: ", "Uri: "), syntax("URI")),
            (
                good.replace("\nVersion: 1\nChain ID: 1", "\nChain ID: 1\nVersion: 1"),
                syntax("Version"),
            ),
            (
                format!("{good}\nExpiration Time: soon"),
                syntax("Expiration Time"),
            ),
            (
                format!("{good}\nResources:\n- not a uri"),
                syntax("Resources"),
            ),
            (
                format!("{good}\nFoo: bar"),
                syntax("unexpected line after the fields"),
            ),
            (
                format!("{good}\n"),
                syntax("unexpected line after the fields"),
            ),
            (good.replace('\n', "\r\n"), syntax("line ends must be LF")),
            ("x".repeat(MAX_MESSAGE_BYTES + 1), BadMessage::TooLong),
        ];
        for (text, want) in cases {
            assert_eq!(Message::parse(&text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn domain_uri_chain_and_times_are_checked() {
        let domains = ["example.com".to_string()];
        let r = rules(&domains);
        let parse = |s: String| Message::parse(&s).unwrap();
        let good = msg("abcdef0123456789");
        assert_eq!(parse(good.clone()).check(&r), Ok(()));
        // The domain is compared without regard to case; the port is part of it.
        assert_eq!(
            parse(good.replacen("example.com", "EXAMPLE.com", 1)).check(&r),
            Ok(())
        );
        assert_eq!(
            parse(good.replacen("example.com", "example.com:444", 1)).check(&r),
            Err(BadMessage::Domain)
        );
        assert_eq!(
            parse(good.replacen("example.com", "evil.example", 1)).check(&r),
            Err(BadMessage::Domain)
        );
        assert_eq!(
            parse(good.replacen("example.com", "ftp://example.com", 1)).check(&r),
            Err(BadMessage::Scheme)
        );
        assert_eq!(
            parse(good.replace("https://example.com/login", "https://evil.example/login"))
                .check(&r),
            Err(BadMessage::Uri)
        );
        assert_eq!(
            parse(good.replace(
                "https://example.com/login",
                "https://example.com.evil.example/"
            ))
            .check(&r),
            Err(BadMessage::Uri)
        );
        assert_eq!(
            parse(good.replace("https://example.com/login", "urn:example")).check(&r),
            Err(BadMessage::Uri)
        );
        assert_eq!(
            parse(good.replace("Chain ID: 1", "Chain ID: 5")).check(&r),
            Err(BadMessage::ChainId)
        );
        let at = |t: &str| good.replace("2026-01-01T00:00:00Z", t);
        assert_eq!(
            parse(at("2026-01-01T00:01:00Z")).check(&r),
            Ok(()),
            "within the leeway"
        );
        assert_eq!(
            parse(at("2026-01-01T00:01:01Z")).check(&r),
            Err(BadMessage::IssuedInFuture)
        );
        assert_eq!(parse(at("2025-12-31T23:54:00Z")).check(&r), Ok(()));
        assert_eq!(
            parse(at("2025-12-31T23:53:59Z")).check(&r),
            Err(BadMessage::TooOld)
        );
        let with = |line: &str| parse(format!("{good}\n{line}"));
        assert_eq!(
            with("Expiration Time: 2025-12-31T23:59:00Z").check(&r),
            Err(BadMessage::Expired)
        );
        assert_eq!(
            with("Expiration Time: 2025-12-31T23:59:01Z").check(&r),
            Ok(())
        );
        assert_eq!(
            with("Not Before: 2026-01-01T00:01:01Z").check(&r),
            Err(BadMessage::NotYetValid)
        );
        assert_eq!(with("Not Before: 2026-01-01T00:01:00Z").check(&r), Ok(()));
    }

    #[test]
    fn the_domain_of_the_base_url_keeps_its_port() {
        assert_eq!(
            domain_of("http://127.0.0.1:8787").as_deref(),
            Some("127.0.0.1:8787")
        );
        assert_eq!(
            domain_of("https://App.Example.com/path").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(domain_of("ftp://x"), None);
    }

    #[test]
    fn nonces_are_128_bits_of_alphanumerics() {
        let n = new_nonce([0xab; 16]);
        assert_eq!(n.len(), 32);
        assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
