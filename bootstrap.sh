#!/usr/bin/env bash
# Install everything dangan needs (Debian/Ubuntu packages, .venv, Python packages), then:
#   bash bootstrap.sh demo   generate sample scans, ingest them with the embedded defaults, search
#   bash bootstrap.sh test   run the test suite (extra arguments go to pytest)
#   bash bootstrap.sh        install only
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  python3 python3-venv python3-dev
  tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng tesseract-ocr-osd
  poppler-utils qpdf ghostscript
  fonts-noto-cjk fonts-wqy-zenhei fonts-wqy-microhei
  libgl1 libglib2.0-0
)

install_system() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python() {
  local py=${PYTHON:-python3}
  "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
    echo "dangan needs Python 3.11 (found: $("$py" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,bench]"
}

run_demo() {
  export DANGAN_HOME="${DANGAN_HOME:-$PWD/demo/home}"
  rm -rf demo/inbox demo/done demo/quarantine
  .venv/bin/python -m tests.synth demo/inbox --count 12 --seed 7
  .venv/bin/dangan ingest demo/inbox
  local name
  name=$(.venv/bin/python -c 'import json; print(next(json.loads(l)["fields"].get("owner_name") for l in open("demo/inbox.truth.jsonl") if "owner_name" in json.loads(l)["fields"]))' 2>/dev/null || echo "")
  echo
  echo "\$ dangan search ${name:-业主}"
  .venv/bin/dangan search "${name:-业主}"
  echo
  echo "Archive state is in $DANGAN_HOME; try: .venv/bin/dangan search --help"
}

run_tests() {
  exec .venv/bin/python -m pytest "$@"
}

install_system
install_python
case "${1:-}" in
  demo) run_demo ;;
  test) shift; run_tests "$@" ;;
  "") echo "installed: .venv/bin/dangan" ;;
  *) echo "usage: bash bootstrap.sh [demo|test [pytest args]]" >&2; exit 2 ;;
esac
