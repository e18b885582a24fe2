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
  fonts-lxgw-wenkai fonts-arphic-ukai fonts-arphic-gkai00mp fonts-seto fonts-dkg-handwriting fonts-bwht fonts-humor-sans
  libgl1 libglib2.0-0
  chromium chromium-driver
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
  rm -rf demo/samples demo/inbox demo/done demo/quarantine demo/home
  .venv/bin/python -m tests.synth demo/samples --count 12 --seed 7
  mkdir -p demo/inbox
  find demo/samples -maxdepth 1 -type f ! -name truth.jsonl -exec cp {} demo/inbox/ \;
  .venv/bin/dangan keys init   # first-time setup: the archive's master key (no other command makes one)
  .venv/bin/dangan ingest demo/inbox
  local name
  name=$(.venv/bin/python - <<'PY'
import json
for line in open("demo/samples/truth.jsonl", encoding="utf-8"):
    fields = json.loads(line)["fields"]
    if "owner_name" in fields:
        print(fields["owner_name"])
        break
PY
)
  echo
  echo "\$ dangan search ${name}"
  .venv/bin/dangan search "${name}"
  echo
  echo "The archive is in $DANGAN_HOME; sources moved to demo/done. More: .venv/bin/dangan --help"
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
