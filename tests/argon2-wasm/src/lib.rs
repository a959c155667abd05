//! Known answers for argon2: RFC 9106's test vectors, and cases whose expected output was
//! computed by the unmodified crates.io `argon2` 0.5.3 natively (x86-64), chosen to reach every
//! path of the block function's callers (Argon2d/i/id, versions 0x10 and 0x13, one and several
//! lanes and passes, the minimum memory and the Worker's 19 MiB, outputs of 16 to 100 bytes,
//! secret and associated data), plus PHC strings the Worker stores (D1 `password_hash`).
//!
//! The vendored crate (vendor/argon2) has its own block function for wasm32 with simd128: this
//! table is how that path is held to the upstream output. `run.mjs` runs it in V8 (Node and
//! workerd) through the exports below; `cargo test` runs the same table natively.
//!
//! To recompute the expected values with another argon2 (e.g. upstream, to extend the table):
//! `cargo test -- --ignored --nocapture print_outputs`.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder, Version};

pub struct Case {
    pub name: &'static str,
    algorithm: Algorithm,
    version: Version,
    m_kib: u32,
    t: u32,
    p: u32,
    password: &'static [u8],
    salt: &'static [u8],
    secret: &'static [u8],
    ad: &'static [u8],
    out_len: usize,
    /// Lowercase hex of the output.
    expected: &'static str,
}

const LONG_PASSWORD: &[u8; 200] = &[0xa5; 200];
const LONG_SALT: &[u8; 64] = &[0x5a; 64];

pub const CASES: &[Case] = &[
    // RFC 9106 section 5 (secret and associated data, 4 lanes, 3 passes, 32 KiB).
    Case {
        name: "rfc9106 argon2d",
        algorithm: Algorithm::Argon2d,
        version: Version::V0x13,
        m_kib: 32,
        t: 3,
        p: 4,
        password: &[0x01; 32],
        salt: &[0x02; 16],
        secret: &[0x03; 8],
        ad: &[0x04; 12],
        out_len: 32,
        expected: "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb",
    },
    Case {
        name: "rfc9106 argon2i",
        algorithm: Algorithm::Argon2i,
        version: Version::V0x13,
        m_kib: 32,
        t: 3,
        p: 4,
        password: &[0x01; 32],
        salt: &[0x02; 16],
        secret: &[0x03; 8],
        ad: &[0x04; 12],
        out_len: 32,
        expected: "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8",
    },
    Case {
        name: "rfc9106 argon2id",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 32,
        t: 3,
        p: 4,
        password: &[0x01; 32],
        salt: &[0x02; 16],
        secret: &[0x03; 8],
        ad: &[0x04; 12],
        out_len: 32,
        expected: "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
    },
    // The Worker's parameters (src/core/password.rs).
    Case {
        name: "argon2id m=19456 t=2 p=1 (the Worker's)",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 19_456,
        t: 2,
        p: 1,
        password: b"correct horse battery staple",
        salt: b"edgeward-kat-slt",
        secret: &[],
        ad: &[],
        out_len: 32,
        expected: "456f69ffce868ce64f54b85da61c1171dc38e7704bb59aa9152509aa4b2deb04",
    },
    Case {
        name: "argon2id m=19456 t=1 p=4",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 19_456,
        t: 1,
        p: 4,
        password: b"four lanes",
        salt: b"edgeward-kat-slt",
        secret: &[],
        ad: &[],
        out_len: 32,
        expected: "6a1578d30aada8b902e1cd74396fe8639d021bd5b073a1d1fb56142d5e57a18e",
    },
    Case {
        name: "argon2id m=8 t=1 p=1, empty password",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 8,
        t: 1,
        p: 1,
        password: b"",
        salt: b"saltsalt",
        secret: &[],
        ad: &[],
        out_len: 32,
        expected: "3701b5ccd9211d3d025397f7a17fc780a7a25138d0125853fafc74d4d0c6063a",
    },
    Case {
        name: "argon2id m=64 t=1 p=2",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 64,
        t: 1,
        p: 2,
        password: b"password",
        salt: b"somesalt",
        secret: &[],
        ad: &[],
        out_len: 32,
        expected: "7ee97262358926f30e4431533d4ab811ab69977948b628b123dc4cf41e9e6f5d",
    },
    Case {
        name: "argon2id m=256 t=4 p=3, 64-byte output",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 256,
        t: 4,
        p: 3,
        password: b"password",
        salt: b"somesalt",
        secret: &[],
        ad: &[],
        out_len: 64,
        expected: "c189c7eac6893a0443cbb2db04e59d9d6db90e8a489116195e894ab5a00a59a20761e1987d60789b8b8b6ecface9b2ac330a402ef7d6e6dd0e5fabde8c883a44",
    },
    Case {
        name: "argon2id version 0x10 m=64 t=2 p=1",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x10,
        m_kib: 64,
        t: 2,
        p: 1,
        password: b"password",
        salt: b"somesalt",
        secret: &[],
        ad: &[],
        out_len: 32,
        expected: "e270c282aaa2fcc62f3d4ad4abc65f554ac5b68e37897616eebcb271ab54ce82",
    },
    Case {
        name: "argon2d m=1024 t=2 p=2, 100-byte output",
        algorithm: Algorithm::Argon2d,
        version: Version::V0x13,
        m_kib: 1024,
        t: 2,
        p: 2,
        password: b"password",
        salt: b"somesalt",
        secret: &[],
        ad: &[],
        out_len: 100,
        expected: "b7ad3068efe8661e3745db4e277b7668171edb8ba38a3670437838b6c1b21a3e92f9f72de22cdd9154fc5f7baa8e966cd550782754f955b3acddb7b14df6359269bae1ac299b86803411914fcfa09d668a78f788fd9586ca384f97f8cb5ac9562654281f",
    },
    Case {
        name: "argon2i m=4096 t=3 p=1, 200-byte password, 64-byte salt, 16-byte output",
        algorithm: Algorithm::Argon2i,
        version: Version::V0x13,
        m_kib: 4096,
        t: 3,
        p: 1,
        password: LONG_PASSWORD,
        salt: LONG_SALT,
        secret: &[],
        ad: &[],
        out_len: 16,
        expected: "981c6b4b1b7e24fa466ea056eeb9554a",
    },
    Case {
        name: "argon2id m=2048 t=2 p=1, secret and associated data",
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_kib: 2048,
        t: 2,
        p: 1,
        password: b"pepper me",
        salt: b"edgeward-kat-slt",
        secret: b"a server-side pepper",
        ad: b"edgeward",
        out_len: 32,
        expected: "c6f479805337159a6f2324ec2aeefa0fa237b7324b75b327012b773ad5542553",
    },
];

/// PHC strings as the Worker stores them (src/core/password.rs: argon2id, m=19456, t=2, p=1,
/// 16-byte random salt), made by the crates.io crate, with the password that must verify.
pub const PHC: &[(&str, &str)] = &[
    (
        "$argon2id$v=19$m=19456,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$62QdG5Ru3xTGLX3KBXjk3JI2y0qvK/4QPpdRvIrGYkI",
        "correct horse battery staple",
    ),
    (
        "$argon2id$v=19$m=19456,t=2,p=1$AgICAgICAgICAgICAgICAg$ax5J/pwoKNjHiVUCzrPVhN4h9SRfWhLcSe+5nkMWB3E",
        "pässwörd ✓ 123",
    ),
];

impl Case {
    pub fn output(&self) -> Vec<u8> {
        let mut params = ParamsBuilder::new();
        params
            .m_cost(self.m_kib)
            .t_cost(self.t)
            .p_cost(self.p)
            .output_len(self.out_len);
        if !self.ad.is_empty() {
            params.data(AssociatedData::new(self.ad).expect("short associated data"));
        }
        let params = params.build().expect("valid parameters");
        let argon2 = if self.secret.is_empty() {
            Argon2::new(self.algorithm, self.version, params)
        } else {
            Argon2::new_with_secret(self.secret, self.algorithm, self.version, params)
                .expect("short secret")
        };
        let mut out = vec![0u8; self.out_len];
        argon2
            .hash_password_into(self.password, self.salt, &mut out)
            .expect("hash");
        out
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every check in order: the cases, then each PHC string with its password (must verify) and
/// with a wrong one (must not).
pub fn check_count() -> usize {
    CASES.len() + 2 * PHC.len()
}

pub fn check_name(i: usize) -> String {
    match i.checked_sub(CASES.len()) {
        None => CASES[i].name.to_string(),
        Some(k) if k % 2 == 0 => format!("PHC string {} verifies", k / 2),
        Some(k) => format!("PHC string {} refuses a wrong password", k / 2),
    }
}

pub fn check(i: usize) -> bool {
    match i.checked_sub(CASES.len()) {
        None => hex(&CASES[i].output()) == CASES[i].expected,
        Some(k) => {
            let (phc, password) = PHC[k / 2];
            let parsed = PasswordHash::new(phc).expect("valid PHC string");
            let password = if k % 2 == 0 {
                password.to_string()
            } else {
                format!("{password}!")
            };
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            ok == (k % 2 == 0)
        }
    }
}

/// The exports run.mjs calls. Names are returned through a static buffer (one at a time).
#[cfg(target_arch = "wasm32")]
mod exports {
    use std::cell::RefCell;

    thread_local! {
        static NAME: RefCell<String> = const { RefCell::new(String::new()) };
    }

    /// 1 if this build has the simd128 target feature, i.e. runs the vendored SIMD block
    /// function (the runner refuses to pass a build without it).
    #[no_mangle]
    pub extern "C" fn kat_simd128() -> u32 {
        u32::from(cfg!(target_feature = "simd128"))
    }

    #[no_mangle]
    pub extern "C" fn kat_count() -> u32 {
        super::check_count() as u32
    }

    /// 1 if check `i` passes, 0 if not.
    #[no_mangle]
    pub extern "C" fn kat_check(i: u32) -> u32 {
        u32::from(super::check(i as usize))
    }

    /// Pointer to check `i`'s name (UTF-8); its length from kat_name_len.
    #[no_mangle]
    pub extern "C" fn kat_name(i: u32) -> *const u8 {
        NAME.with(|n| {
            *n.borrow_mut() = super::check_name(i as usize);
            n.borrow().as_ptr()
        })
    }

    #[no_mangle]
    pub extern "C" fn kat_name_len() -> u32 {
        NAME.with(|n| n.borrow().len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_and_phc_string_gives_the_known_answer_natively() {
        let failed: Vec<String> = (0..check_count())
            .filter(|&i| !check(i))
            .map(check_name)
            .collect();
        assert!(failed.is_empty(), "failed: {failed:?}");
    }

    #[test]
    fn the_table_has_an_expected_value_for_every_case() {
        for case in CASES {
            assert_eq!(case.expected.len(), 2 * case.out_len, "{}", case.name);
        }
        assert!(!PHC.is_empty());
    }

    /// Prints each case's output with the linked argon2 (how the table was filled).
    #[test]
    #[ignore]
    fn print_outputs() {
        for case in CASES {
            println!("{}: {}", case.name, hex(&case.output()));
        }
        use argon2::password_hash::{PasswordHasher, SaltString};
        let params = argon2::Params::new(19_456, 2, 1, None).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        for (i, password) in ["correct horse battery staple", "pässwörd ✓ 123"]
            .iter()
            .enumerate()
        {
            let salt = SaltString::encode_b64(&[i as u8 + 1; 16]).unwrap();
            let phc = argon2.hash_password(password.as_bytes(), &salt).unwrap();
            println!("PHC {password}: {phc}");
        }
    }
}
