// A real OpenID Provider for the end-to-end tests: panva's oidc-provider (pinned in
// package.json), on a loopback port, with two confidential clients of Edgeward (RS256 and
// ES256 ID tokens). The test drives who signs in, and can make the token endpoint hand out a
// tampered, expired or wrongly bound ID token, through a small control endpoint:
//   POST /__test/next {"sub", "email", "email_verified", "name", "tamper": null|"signature"|"expired"|"nonce"}
// Usage: node oidc_provider.mjs <port> <callback URL>...   (prints "ready <issuer>" when listening)
import Provider from 'oidc-provider';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';

const port = Number(process.argv[2]);
const callbacks = process.argv.slice(3);
const issuer = `http://127.0.0.1:${port}`;

const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const rsaJwk = { ...rsaKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig', alg: 'RS256' };
const ecJwk = { ...ecKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' };

const accounts = new Map();
let next = { sub: 'user-1', email: 'user-1@example.test', email_verified: true, name: 'User One', tamper: null };

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'edgeward', client_secret: 'edgeward-secret', redirect_uris: callbacks,
      grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'RS256' },
    { client_id: 'edgeward-es', client_secret: 'edgeward-es-secret', redirect_uris: callbacks,
      grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' },
  ],
  jwks: { keys: [rsaJwk, ecJwk] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The ID token carries the scope's claims (what Google does), not only the userinfo endpoint.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  cookies: { keys: ['edgeward-e2e-cookie-key'] },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, async claims() { return { sub, ...claims }; } };
  },
});

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// Re-signs (or breaks) the ID token the token endpoint just issued, as the test asked.
function tamper(idToken, how) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  if (how === 'signature') {
    payload.sub = 'someone-else';
    return `${h}.${b64url(JSON.stringify(payload))}.${s}`;
  }
  const now = Math.floor(Date.now() / 1000);
  if (how === 'expired') { payload.iat = now - 7200; payload.exp = now - 3600; }
  if (how === 'nonce') { payload.nonce = 'not-the-nonce-edgeward-sent'; }
  const input = `${h}.${b64url(JSON.stringify(payload))}`;
  const key = header.alg === 'ES256' ? { key: ecKey, dsaEncoding: 'ieee-p1363' } : rsaKey;
  return `${input}.${b64url(cryptoSign('sha256', Buffer.from(input), key))}`;
}

provider.use(async (ctx, nextMw) => {
  if (ctx.path === '/__test/next' && ctx.method === 'POST') {
    const chunks = [];
    for await (const c of ctx.req) chunks.push(c);
    next = { tamper: null, ...JSON.parse(Buffer.concat(chunks).toString()) };
    ctx.status = 204;
    return;
  }
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === 'login') {
      const { sub, tamper: _t, ...claims } = next;
      accounts.set(sub, claims);
      result = { login: { accountId: sub } };
    } else {
      const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      result = { consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(to);
    return;
  }
  await nextMw();
  if (ctx.path === '/token' && next.tamper && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: tamper(ctx.body.id_token, next.tamper) };
  }
});

provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
