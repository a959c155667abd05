// Prints a fresh Ed25519 signing key as a .dev.vars / env-file line:
//   JWT_SIGNING_KEYS='{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"<prefix>-<date>","d":"…","x":"…"}]}'
// Usage: node scripts/gen-key.mjs [kid-prefix]   (for production, pipe the JSON to
// `wrangler secret put JWT_SIGNING_KEYS` instead: node scripts/gen-key.mjs prod --json)
import { generateKeyPairSync, randomBytes } from "node:crypto";

const prefix = process.argv[2] || "dev";
const { privateKey } = generateKeyPairSync("ed25519");
const jwk = privateKey.export({ format: "jwk" });
const kid = `${prefix}-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString("hex")}`;
const set = JSON.stringify({ keys: [{ kty: "OKP", crv: "Ed25519", kid, d: jwk.d, x: jwk.x }] });
if (process.argv.includes("--json")) {
  process.stdout.write(set + "\n");
} else {
  process.stdout.write(`JWT_SIGNING_KEYS='${set}'\n`);
}
