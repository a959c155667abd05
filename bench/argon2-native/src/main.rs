//! Times N argon2id hashes with Edgeward's parameters (src/core/password.rs): m=19456 KiB,
//! t=2, p=1, 32-byte output. Prints one JSON line: {"n","mean_ms","p50_ms","min_ms","max_ms"}.
//! Usage: argon2-bench [N]   (default 20; one warm-up hash is not counted)

use argon2::{Algorithm, Argon2, Params, Version};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let params = Params::new(19_456, 2, 1, None).expect("valid parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = *b"edgeward-bench-s"; // 16 bytes, like the Worker's salts
    let mut out = [0u8; 32];
    // One block buffer reused across hashes would be faster; the Worker allocates per hash,
    // so this does too (hash_password_into allocates its own memory).
    argon2
        .hash_password_into(b"warm-up password", &salt, &mut out)
        .expect("hash");
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let pw = format!("benchmark password {i}");
        let t = Instant::now();
        argon2
            .hash_password_into(pw.as_bytes(), &salt, &mut out)
            .expect("hash");
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mean = times.iter().sum::<f64>() / n as f64;
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{{\"n\":{n},\"mean_ms\":{mean:.2},\"p50_ms\":{:.2},\"min_ms\":{:.2},\"max_ms\":{:.2},\"check\":\"{:02x}{:02x}\"}}",
        sorted[n / 2],
        sorted[0],
        sorted[n - 1],
        out[0],
        out[1]
    );
}
