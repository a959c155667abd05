//! Edgeward: the pure `core` (domain rules, host-tested) and the wasm-only `edge` (the Worker).
//! `core` is private to the crate so the compiler reports what nothing uses; on the host, where
//! `edge` is not compiled, only the wasm32 build can tell, so dead code is checked there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, unused_imports))]
mod core;
#[cfg(target_arch = "wasm32")]
mod edge;
