// Runs the known-answer table of src/lib.rs, built for wasm32-unknown-unknown (simd128, the
// Worker's profile), in V8 twice: in this Node process and inside workerd (the Worker's runtime,
// through Miniflare as bench/argon2-native/workerd-run.mjs does). Exits non-zero if any check
// fails in either, or if the build lacks simd128 (then the vendored SIMD block function would
// not be what ran).
//   node tests/argon2-wasm/run.mjs target/argon2-wasm/wasm32-unknown-unknown/release/argon2_wasm_kat.wasm
import { readFileSync } from "node:fs";
import * as miniflare from "miniflare";

const file = process.argv[2];
if (!file) {
  console.error("usage: node run.mjs KAT.wasm");
  process.exit(2);
}
const bytes = readFileSync(file);

// Every check of one instance: [{name, ok}], and whether it was built with simd128.
function runAll(exports) {
  const names = (i) => {
    const ptr = exports.kat_name(i);
    return new TextDecoder().decode(new Uint8Array(exports.memory.buffer, ptr, exports.kat_name_len()));
  };
  const results = [];
  for (let i = 0; i < exports.kat_count(); i++) results.push({ name: names(i), ok: exports.kat_check(i) === 1 });
  return { simd128: exports.kat_simd128() === 1, results };
}

function report(where, { simd128, results }) {
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) console.error(`  FAIL (${where}): ${r.name}`);
  if (!simd128) console.error(`  FAIL (${where}): the build has no simd128 (.cargo/config.toml)`);
  console.log(`argon2 known answers in ${where}: ${results.length - failed.length} of ${results.length} pass${simd128 ? " (simd128)" : ""}`);
  return failed.length === 0 && simd128 && results.length > 0;
}

const { instance } = await WebAssembly.instantiate(bytes, {});
let ok = report(`Node ${process.version}`, runAll(instance.exports));

const v4 = {
  name: "argon2-kat",
  modules: [
    {
      type: "ESModule",
      path: "/kat/worker.mjs",
      contents: `import wasm from "./kat.wasm";
const instance = new WebAssembly.Instance(wasm, {});
${runAll.toString()}
export default { fetch() { return Response.json(runAll(instance.exports)); } };`,
    },
    { type: "CompiledWasm", path: "/kat/kat.wasm", contents: bytes },
  ],
  modulesRoot: "/kat",
  compatibilityDate: "2026-11-01",
};
const mf = new miniflare.Miniflare({
  ...(miniflare.convertV4MiniflareOptions ? miniflare.convertV4MiniflareOptions(v4) : v4),
  log: new miniflare.Log(miniflare.LogLevel.ERROR),
});
try {
  const res = await mf.dispatchFetch("http://kat/");
  if (res.status !== 200) throw new Error(`workerd answered ${res.status}: ${await res.text()}`);
  ok = report("workerd", await res.json()) && ok;
} finally {
  await mf.dispose();
}
process.exitCode = ok ? 0 : 1;
