# Shared by scripts/dev, scripts/test and bench: set up whatever is missing, with pinned
# versions from the project's own files. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WORKER_BUILD_VERSION="0.8.7"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export CI="${CI:-true}"

# Each step line says how long the one before it took (bash's SECONDS: whole seconds since the
# script started), so a CI log shows where its time goes.
_STEP_STARTED=$SECONDS
step() {
  printf '\n==> %s  (previous step %ss, %ss in all)\n' "$*" "$((SECONDS - _STEP_STARTED))" "$SECONDS"
  _STEP_STARTED=$SECONDS
}
die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

setup_node() {
  if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/node ] || \
     [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "npm ci (wrangler, workerd, Node 22 from package-lock.json)"
    command -v npm >/dev/null || die "npm is missing: install Node.js 20+ and npm"
    npm ci --no-audit --no-fund || die "npm ci failed: check that the npm registry is reachable"
  fi
  [ -x node_modules/.bin/node ] || die "node_modules/.bin/node missing after npm ci (package 'node')"
  [ -x node_modules/@cloudflare/workerd-linux-64/bin/workerd ] || [ -x node_modules/.bin/workerd ] \
    || die "workerd binary missing after npm ci"
}

setup_rust() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  # `worker-build --version` prints the bare version ("0.8.7"); take its last field either way.
  if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
    step "cargo install worker-build $WORKER_BUILD_VERSION (about 4 minutes, once)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
  fi
  # The wasm-bindgen CLI must match the library in Cargo.lock exactly.
  local want
  want="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    step "cargo install wasm-bindgen-cli $want (about 4 minutes, once)"
    # --locked fails for this crate on crates.io (a locked dependency was yanked).
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# Headless Chromium for the browser tests (tests/e2e/test_browser_chromium.py): Debian's
# `chromium` package, driven by playwright-core from package-lock.json (which never downloads a
# browser of its own). EDGEWARD_CHROMIUM names another binary instead.
setup_chromium() {
  if [ -n "${EDGEWARD_CHROMIUM:-}" ]; then
    [ -x "$EDGEWARD_CHROMIUM" ] || die "EDGEWARD_CHROMIUM=$EDGEWARD_CHROMIUM is not an executable"
    return
  fi
  if ! command -v chromium >/dev/null; then
    step "apt-get install chromium (headless browser for the browser tests, once)"
    command -v apt-get >/dev/null || die "chromium is missing and there is no apt-get: install Chromium and set EDGEWARD_CHROMIUM"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq || die "apt-get update failed: check that the Debian mirror is reachable"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium \
      || die "apt-get install chromium failed"
  fi
  EDGEWARD_CHROMIUM="$(command -v chromium)"
  export EDGEWARD_CHROMIUM
}

# .dev.vars = config/development.vars (rewritten every time, so it follows the file) + the
# development signing key (generated once, then kept).
setup_dev_vars() {
  local key=""
  [ -f .dev.vars ] && key="$(grep '^JWT_SIGNING_KEYS=' .dev.vars || true)"
  if [ -z "$key" ]; then
    step "generating a development Ed25519 signing key into .dev.vars"
    key="$(node scripts/gen-key.mjs dev)"
  fi
  { cat config/development.vars; printf '%s\n' "$key"; } > .dev.vars.tmp && mv .dev.vars.tmp .dev.vars
}

build_worker() {
  step "building the Worker (release wasm)"
  EDGEWARD_SKIP_BUILD= ./scripts/build
}

apply_migrations() {
  local state="$1"
  step "applying migrations to the local D1 in $state"
  wrangler d1 migrations apply DB --local --persist-to "$state" >/dev/null \
    || die "migrations failed: see 'wrangler d1 migrations apply DB --local --persist-to $state'"
}
