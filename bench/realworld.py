"""Put every file of ../shared/realworld through one ``dangan ingest`` batch and list the outcomes.

    .venv/bin/python -m bench.realworld [--engine rapidocr]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--src", type=Path, default=REALWORLD)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "inbox"
        inbox.mkdir()
        files = sorted(p for p in args.src.iterdir() if p.is_file() and p.name != "SOURCES.md")
        for f in files:
            shutil.copy2(f, inbox / f.name)
        env = {**os.environ, "DANGAN_HOME": str(Path(tmp) / "home"), "DANGAN_OCR_ENGINE": args.engine}
        report = Path(tmp) / "report.json"
        start = time.perf_counter()
        proc = subprocess.run([str(Path(sys.executable).parent / "dangan"), "ingest", str(inbox), "--quiet",
                               "--report", str(report)], env=env, capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - start
        summary = json.loads(report.read_text(encoding="utf-8"))
    print(f"{len(files)} files in {seconds:.0f} s, exit code {proc.returncode}\n")
    print("| file | outcome | doc_type / reason | pages |")
    print("| --- | --- | --- | ---: |")
    for f in sorted(summary["files"], key=lambda f: f["name"]):
        detail = f["doc_type"] if f["outcome"] == "stored" else f"{f['reason_code']}: {f['reason']}"
        print(f"| {f['name']} | {f['outcome']} | {detail} | {f['pages'] or ''} |")


if __name__ == "__main__":
    main()
