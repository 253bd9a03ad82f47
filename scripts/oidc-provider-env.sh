#!/usr/bin/env bash
# Installs npm's oidc-provider (the real identity provider of the sign-in tests,
# tests/web/oidc_provider/) with `npm ci` from its package-lock.json, cached outside the
# repository so it is installed once per lock file:
#   ${ONCALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oncall}/oidc-provider-<lock hash>
# Idempotent and safe to run in parallel (a lock; the install goes to a temporary
# directory renamed into place, so an interrupted one never leaves half a tree).
# Progress goes to stderr; the last line on stdout is the directory holding node_modules.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)/tests/web/oidc_provider
cache=${ONCALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oncall}

fail() {
  echo "oidc-provider-env: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node not found (scripts/system-deps.sh installs nodejs)"
command -v npm >/dev/null || fail "npm not found (scripts/system-deps.sh installs npm)"
hash=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-12)
dir=$cache/oidc-provider-$hash

works() { # the tree at $1 has the provider
  [ -f "$1/node_modules/oidc-provider/package.json" ]
}

if works "$dir"; then
  echo "$dir"
  exit 0
fi

mkdir -p "$cache" || fail "cannot create the cache directory $cache (set ONCALL_CACHE_DIR)"
exec 9>"$cache/.oidc-provider-$hash.lock"
flock 9
if works "$dir"; then
  echo "$dir"
  exit 0
fi
rm -rf "$cache/.oidc-provider-$hash".?????? # left by a killed install

tmp=$(mktemp -d "$cache/.oidc-provider-$hash.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
echo "oidc-provider-env: npm ci into $dir (once)" >&2
(cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >install.log 2>&1) || {
  tail -n 20 "$tmp/install.log" >&2
  fail "npm ci failed (no network or no npm registry? see above)"
}
works "$tmp" || fail "npm ci finished but oidc-provider is missing"
rm -rf "$dir"
mv -T "$tmp" "$dir"
echo "$dir"
