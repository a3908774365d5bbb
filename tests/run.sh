#!/usr/bin/env bash
# Installs everything the test suite needs and runs it: the README's second command, and CI's.
#   bash tests/run.sh [pytest arguments]
# - Debian packages for the real directory servers the integration tests start, nginx, and
#   curl for the quick start's call (root only; a temporary policy-rc.d keeps the packaged
#   slapd/samba services from starting on 389/636);
# - a virtual environment in .venv (Debian 12 refuses system-wide pip installs, PEP 668);
# - the static checks: ruff check, ruff format --check, mypy --strict over gateway/ (the import
#   boundaries between the layers are a test: tests/unit/test_import_boundaries.py);
# - then pytest over the whole suite (tests start slapd, Samba AD and the gateway themselves).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(slapd ldap-utils samba-ad-dc samba-ad-provision ldb-tools openssl nginx python3-venv curl)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  # shellcheck source-path=SCRIPTDIR source=servers/packages.sh
  source tests/servers/packages.sh
  ensure_pkgs "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "static checks: ruff check, ruff format --check, mypy --strict"
.venv/bin/ruff check --quiet gateway tests
.venv/bin/ruff format --check --quiet gateway tests
.venv/bin/mypy --strict gateway --no-error-summary

exec .venv/bin/python -m pytest "$@"
