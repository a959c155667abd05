// Runs the wasm32-wasip1 build of argon2-bench under Node's WASI (V8), forwarding argv.
// Usage: node wasi-run.mjs target/wasm32-wasip1/release/argon2-bench.wasm [N]
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: "preview1", args: ["argon2-bench", ...args], env: {} });
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
