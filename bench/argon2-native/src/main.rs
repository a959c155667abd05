//! Times N argon2id hashes with Edgeward's parameters (see src/lib.rs). Prints one JSON line:
//! {"n","mean_ms","p50_ms","min_ms","max_ms","cpu_ms","check"}; cpu_ms is this thread's CPU time
//! per hash (Linux /proc/thread-self/schedstat), which a shared machine disturbs less than wall
//! time.
//! Usage: argon2-bench [N]   (default 20; one warm-up hash is not counted)
//!        argon2-bench ed25519 [N]   N Ed25519 verifications instead (default 2000):
//!        {"n","verify_us","cpu_us"}

use std::time::Instant;

fn main() {
    if std::env::args().nth(1).as_deref() == Some("ed25519") {
        return ed25519(
            std::env::args()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(2000),
        );
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    argon2_bench::hash_once(b"warm-up password");
    let mut times = Vec::with_capacity(n);
    let mut check = [0u8; 2];
    let cpu0 = thread_cpu_ns();
    for i in 0..n {
        let pw = format!("benchmark password {i}");
        let t = Instant::now();
        check = argon2_bench::hash_once(pw.as_bytes());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let cpu_ms = (thread_cpu_ns() - cpu0) as f64 / 1e6 / n as f64;
    let mean = times.iter().sum::<f64>() / n as f64;
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{{\"n\":{n},\"mean_ms\":{mean:.2},\"p50_ms\":{:.2},\"min_ms\":{:.2},\"max_ms\":{:.2},\"cpu_ms\":{cpu_ms:.2},\"check\":\"{:02x}{:02x}\"}}",
        sorted[n / 2],
        sorted[0],
        sorted[n - 1],
        check[0],
        check[1]
    );
}

/// CPU time of this thread in ns (0 where /proc is missing: cpu_ms is then 0).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn ed25519(n: u32) {
    let (public, message, signature) = argon2_bench::ed25519_fixture();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).expect("valid key");
    let (t, cpu0) = (Instant::now(), thread_cpu_ns());
    let ok = (0..n)
        .filter(|_| argon2_bench::ed25519_verify(&key, &message, &signature))
        .count();
    assert_eq!(ok, n as usize, "every verification must succeed");
    let cpu_us = (thread_cpu_ns() - cpu0) as f64 / 1e3 / f64::from(n);
    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{{\"n\":{n},\"verify_us\":{us:.1},\"cpu_us\":{cpu_us:.1}}}");
}
