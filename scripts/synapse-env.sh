#!/usr/bin/env bash
# Installs the Matrix homeserver Synapse (the real peer of the Matrix tests) into its own
# virtual environment, cached outside the repository so it is built once per version:
#   ${ONCALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oncall}/synapse-<version>
# Synapse pins its own dependencies, so it never goes into the project's .venv.
# Idempotent: does nothing when that environment exists and imports Synapse. Installs into a
# temporary directory next to it and renames it into place, so an interrupted install never
# leaves a half environment. Progress goes to stderr; the last line on stdout is the path.
set -euo pipefail

SYNAPSE_VERSION=1.163.2
PYTHON=${PYTHON:-python3}

cache=${ONCALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oncall}
venv=$cache/synapse-$SYNAPSE_VERSION

fail() {
  echo "synapse-env: $*" >&2
  exit 1
}

works() { # the environment at $1 imports the homeserver
  [ -x "$1/bin/python" ] && PYTHONDONTWRITEBYTECODE=1 "$1/bin/python" -c 'import synapse.app.homeserver' 2>/dev/null
}

if works "$venv"; then
  echo "$venv"
  exit 0
fi

mkdir -p "$cache" || fail "cannot create the cache directory $cache (set ONCALL_CACHE_DIR)"
# One installer at a time (parallel test runs); the others wait, then find it installed.
exec 9>"$cache/.synapse-$SYNAPSE_VERSION.lock"
if flock 9 2>/dev/null; then
  if works "$venv"; then
    echo "$venv"
    exit 0
  fi
  rm -rf "$cache/.synapse-$SYNAPSE_VERSION".?????? # left by a killed install
fi

command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; Synapse needs Python 3.10 or newer"
tmp=$(mktemp -d "$cache/.synapse-$SYNAPSE_VERSION.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM # exit through the EXIT trap, which removes the half install
log=$tmp/install.log

echo "synapse-env: installing matrix-synapse==$SYNAPSE_VERSION into $venv (once)" >&2
"$PYTHON" -m venv "$tmp/venv" >"$log" 2>&1 || {
  tail -n 5 "$log" >&2
  fail "cannot create a virtual environment with $PYTHON -m venv;" \
    "install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
}
# --no-compile: byte-code would record the temporary path; it is compiled after the rename.
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
  "matrix-synapse==$SYNAPSE_VERSION" >>"$log" 2>&1 || {
  tail -n 20 "$log" >&2
  fail "could not install matrix-synapse==$SYNAPSE_VERSION with pip (no network or no" \
    "package index? see the pip output above)"
}
works "$tmp/venv" || fail "matrix-synapse==$SYNAPSE_VERSION installed but does not import"

# Scripts in bin/ (register_new_matrix_user, activate, ...) name the path they were made in.
grep -rlI -- "$tmp/venv" "$tmp/venv/bin" | while IFS= read -r file; do
  sed -i "s|$tmp/venv|$venv|g" "$file"
done
rm -rf "$venv" # a broken leftover (it failed the check above)
mv -T "$tmp/venv" "$venv"
"$venv/bin/python" -m compileall -q "$venv/lib" >/dev/null 2>&1 || true
works "$venv" || fail "the environment at $venv does not import Synapse after the install"
echo "synapse-env: installed $venv" >&2
echo "$venv"
