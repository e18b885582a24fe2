"""``dangan watch``: files are taken once complete, in batches, one batch at a time, and stop cleanly.

The first tests drive the watcher in-process with a stand-in for the ingest
(fast); the last ones run the real ``dangan watch`` and ``dangan ingest``
commands on generated scans: a registration form filed under a unit folder
while it prints another unit, a scan written slowly into a watched folder,
and a folder that is only listed (network shares give no file events).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flows import watch as watch_module
from flows.context import RunControl
from flows.summary import FileOutcome, IngestSummary
from flows.watch import FolderState, Watcher, file_system_type
from schemas.documents import DocType
from schemas.errors import IngestBusy, StorageError
from schemas.settings import Settings
from storage.dropfolder import discover
from tests.e2e import DANGAN, ensure_master_key, run_dangan
from tests.synth.corpus import Plan, build_item
from tests.synth.fake import UnitRef as SynthUnit
from tests.synth.render import FontBook
from tests.synth.templates import make_document, make_household

# --------------------------------------------------------------------------- which files have settled


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _state(root: Path, settle: float = 5.0) -> tuple[FolderState, Clock]:
    clock = Clock()
    return FolderState([root], settle, clock=clock), clock


def test_a_file_is_taken_once_unchanged_for_the_settle_time(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1")
    state, clock = _state(tmp_path)
    state.scan()
    assert state.next_batch(30) == []
    clock.now += 4
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1 more")  # still being written: settles anew
    state.scan()
    clock.now += 4
    state.scan()
    assert state.next_batch(30) == []
    clock.now += 1.5
    state.scan()
    assert [i.path.name for i in state.next_batch(30)] == ["a.pdf"]


def test_files_arriving_together_go_in_one_batch(tmp_path: Path) -> None:
    state, clock = _state(tmp_path)
    (tmp_path / "a.pdf").write_bytes(b"a")
    state.scan()
    clock.now += 3
    (tmp_path / "b.pdf").write_bytes(b"b")
    state.scan()
    clock.now += 3  # a has settled, b has not: a waits for b
    assert state.next_batch(30) == []
    assert state.next_change(30) == pytest.approx(clock.now + 2)
    clock.now += 2
    assert state.next_batch(30) == [] and state.due_for_a_look()  # time alone is not enough: look again
    state.scan()
    assert not state.due_for_a_look()
    assert sorted(i.path.name for i in state.next_batch(30)) == ["a.pdf", "b.pdf"]


def test_a_stream_that_never_stops_still_gets_batches(tmp_path: Path) -> None:
    state, clock = _state(tmp_path)
    (tmp_path / "first.pdf").write_bytes(b"1")
    state.scan()
    for n in range(12):  # a new file every 4 s: some file is always settling
        clock.now += 4
        (tmp_path / f"f{n}.pdf").write_bytes(b"x")
        state.scan()
        if state.next_batch(30):
            break
    batch = [i.path.name for i in state.next_batch(30)]
    assert "first.pdf" in batch and f"f{n}.pdf" not in batch
    assert clock.now >= 1000.0 + 5 + 30  # the first settled file waited its 30 s, no longer than a listing more


def test_a_writer_that_pauses_is_waited_for_until_it_closes(tmp_path: Path) -> None:
    path = tmp_path / "slow.tif"
    path.write_bytes(b"II*\x00 half")
    state, clock = _state(tmp_path, settle=1.0)
    state.scan()
    state.note_event(str(path), writing=True)  # written to, not closed
    clock.now += 60  # the writer pauses far longer than the settle time
    state.scan()
    assert state.next_batch(0) == []
    state.note_event(str(path), writing=False)  # closed
    clock.now += 1
    assert [i.path for i in state.next_batch(0)] == [path]


def test_a_lost_closing_event_does_not_block_forever(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(b"%PDF")
    state, clock = _state(tmp_path, settle=1.0)
    state.scan()
    state.note_event(str(path), writing=True)
    clock.now += watch_module.WRITER_PAUSE_LIMIT + 1
    assert state.due_for_a_look()
    state.scan()
    assert [i.path for i in state.next_batch(0)] == [path]


def test_temporary_and_hidden_names_are_never_taken(tmp_path: Path) -> None:
    for name in (".a.pdf", "b.pdf.part", "c.crdownload", "~$d.docx", "Thumbs.db", "e.tmp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "f.pdf").write_bytes(b"x")
    state, _ = _state(tmp_path, settle=0.0)
    state.scan()
    assert state.files == {}


def test_a_file_left_in_place_waits_before_another_try(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    state, clock = _state(tmp_path, settle=0.0)
    state.scan()
    items = state.next_batch(0)
    state.hand_out(items)
    assert state.next_batch(0) == []  # never handed out twice
    assert state.batch_done(items, failed=True) == 1
    assert state.next_batch(0) == []
    clock.now += watch_module.RETRY_DELAYS[0]
    assert len(state.next_batch(0)) == 1


def test_network_shares_are_recognised(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /srv/scans rw,relatime shared:20 - nfs4 nas:/scans rw,vers=4.2\n"
        "41 22 0:36 / /srv/scan\\040share rw - cifs //nas/share rw\n", encoding="utf-8")
    assert file_system_type(Path("/srv/scans/inbox"), mountinfo=mountinfo) == "nfs4"
    assert file_system_type(Path("/srv/scan share/a"), mountinfo=mountinfo) == "cifs"
    assert file_system_type(Path("/srv/scansx"), mountinfo=mountinfo) == "ext4"
    assert file_system_type(Path("/"), mountinfo=tmp_path / "missing") is None


# --------------------------------------------------------------------------- the watcher, with a stand-in ingest


def _settings(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"home": tmp_path / "home", "settle_seconds": 0.2, "watch_interval": 0.2,
                                 "watch_batch_seconds": 0.5}
    return Settings(**{**values, **changes})


class FakeIngest:
    """Moves each file to done/ like a successful ingest, after refusing ``busy`` times; records what it saw."""

    def __init__(self, *, busy: int = 0, fail: int = 0) -> None:
        self.busy, self.fail = busy, fail
        self.calls: list[list[str]] = []
        self.roots: list[Path] = []

    def __call__(self, paths: list[str], settings: Settings, control: RunControl) -> IngestSummary:
        self.calls.append(paths)
        if self.busy:
            self.busy -= 1
            raise IngestBusy("another ingest is running (pid 1) on the archive; wait until it has finished")
        if self.fail:
            self.fail -= 1
            raise StorageError("the object store cannot be reached")
        outcomes = []
        for item in discover(paths):
            self.roots.append(item.root)
            target = item.root.parent / "done" / item.root.name / item.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item.path, target)
            outcomes.append(FileOutcome(path=str(item.path), name=item.path.name, outcome="stored"))
        return IngestSummary.of(outcomes)


def _watch_in_thread(watcher: Watcher) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(watcher.run()), daemon=True)
    thread.start()
    return thread, codes


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_once_takes_the_files_there_and_keeps_their_drop_folder(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "3-2-1201").mkdir(parents=True)
    (inbox / "3-2-1201" / "a.pdf").write_bytes(b"%PDF")
    (inbox / "b.pdf").write_bytes(b"%PDF")
    ingest, lines = FakeIngest(), []
    code = Watcher([inbox], _settings(tmp_path), once=True, ingest=ingest, out=lines.append).run()
    assert code == 0
    assert len(ingest.calls) == 1 and len(ingest.calls[0]) == 2  # one batch, both files
    assert ingest.roots == [inbox, inbox]  # handed over one by one, still below the watched folder
    assert (tmp_path / "done" / "inbox" / "3-2-1201" / "a.pdf").exists()
    assert any(line.startswith("batch 1: 2 file(s)") for line in lines), lines


def test_once_with_nothing_there(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    lines: list[str] = []
    assert Watcher([tmp_path / "inbox"], _settings(tmp_path), once=True, ingest=FakeIngest(),
                   out=lines.append).run() == 0
    assert lines[-1] == "nothing to ingest"


def test_a_busy_archive_is_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_module, "BUSY_DELAYS", (0.2,))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(b"%PDF")
    ingest, lines = FakeIngest(busy=2), []
    assert Watcher([inbox], _settings(tmp_path), once=True, ingest=ingest, out=lines.append).run() == 0
    assert len(ingest.calls) == 3 and not (inbox / "a.pdf").exists()
    assert sum("busy" in line for line in lines) == 1, lines  # said once, not at every try
    assert any(line.startswith("batch 1: 1 file(s)") for line in lines)


def test_a_failed_batch_leaves_its_files_for_a_later_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_module, "RETRY_DELAYS", (0.3,))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ingest, lines = FakeIngest(fail=1), []
    watcher = Watcher([inbox], _settings(tmp_path), ingest=ingest, out=lines.append)
    thread, codes = _watch_in_thread(watcher)
    _until(lambda: any(line.startswith("watching") for line in lines), 10, "the start")
    (inbox / "a.pdf").write_bytes(b"%PDF")
    _until(lambda: len(ingest.calls) == 2, 20, "the second try")
    _until(lambda: not (inbox / "a.pdf").exists(), 10, "the file to move")
    watcher.request_stop()
    thread.join(10)
    assert codes == [130]
    assert "not ingested: the object store cannot be reached" in lines[1], lines
    assert lines[-1].startswith("stopped")


def test_a_stop_during_a_batch_ends_it_the_way_ingest_stops(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(b"%PDF")
    (inbox / "b.pdf").write_bytes(b"%PDF")
    started = threading.Event()

    def ingest(paths: list[str], settings: Settings, control: RunControl) -> IngestSummary:
        started.set()
        assert control.wait_for_stop(20), "the stop never reached the batch"
        items = discover(paths)  # the first file was stored before the stop, the other was not begun
        os.replace(items[0].path, tmp_path / "stored.pdf")
        return IngestSummary.of([
            FileOutcome(path=str(items[0].path), name="a.pdf", outcome="stored"),
            FileOutcome(path=str(items[1].path), name="b.pdf", outcome="failed", reason="The run was stopped"),
        ])

    lines: list[str] = []
    watcher = Watcher([inbox], _settings(tmp_path), ingest=ingest, out=lines.append)
    thread, codes = _watch_in_thread(watcher)
    assert started.wait(20)
    assert watcher.request_stop() and not watcher.request_stop()
    thread.join(20)
    assert codes == [130]
    assert (inbox / "b.pdf").exists() and (tmp_path / "stored.pdf").exists()
    assert any("1 stored" in line and "1 left for a later try" in line for line in lines), lines
    assert lines[-1].startswith("stopped")


def test_without_events_the_folder_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import watchdog.observers

    class NoWatches(watchdog.observers.Observer):
        def schedule(self, *args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watchdog.observers, "Observer", NoWatches)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.pdf").write_bytes(b"%PDF")
    ingest, lines = FakeIngest(), []
    assert Watcher([inbox], _settings(tmp_path), once=True, ingest=ingest, out=lines.append).run() == 0
    assert "inotify watch limit" in lines[0] and "file events" not in lines[1], lines
    assert len(ingest.calls) == 1


def test_a_listed_folder_needs_no_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_module, "events_unreliable", lambda path: "nfs4")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ingest, lines = FakeIngest(), []
    watcher = Watcher([inbox], _settings(tmp_path), ingest=ingest, out=lines.append)
    thread, codes = _watch_in_thread(watcher)
    _until(lambda: any(line.startswith("watching") for line in lines), 10, "the start")
    assert "nfs4 share" in lines[0] and "file events" not in lines[1], lines
    (inbox / "sub").mkdir()
    (inbox / "sub" / "a.pdf").write_bytes(b"%PDF")
    _until(lambda: len(ingest.calls) == 1, 10, "the batch")
    watcher.request_stop()
    thread.join(10)
    assert codes == [130]


# --------------------------------------------------------------------------- end to end, the real commands


def registration_scan(folder: Path, unit: tuple[str, str, str], *, seed: int = 2) -> Path:
    """A clean one-page owner registration form (PNG) that prints ``unit``."""
    rng = random.Random(f"watch:{seed}")
    household = dataclasses.replace(make_household(rng), unit=SynthUnit(*unit))
    doc = make_document(DocType.OWNER_REGISTRATION, rng, household)
    folder.mkdir(parents=True, exist_ok=True)
    item = build_item(seed, doc, Plan("png", 200, "none", [], True, False, 90), folder, seed, FontBook(), 0)
    return item.path


@pytest.fixture(scope="module")
def form_5_1_802(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a registration form that prints building 5, unit 1, room 802."""
    return registration_scan(tmp_path_factory.mktemp("forms"), ("5", "1", "802")).read_bytes()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_SETTLE_SECONDS": "1", "DANGAN_WATCH_BATCH_SECONDS": "2",
           "DANGAN_WORKERS": "1", **extra}
    ensure_master_key(env)
    return env


def _export(env: dict[str, str], tmp_path: Path) -> list[dict]:
    out = tmp_path / "export.jsonl"
    result = run_dangan(["export", "--jsonl", str(out)], env)
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _assert_filed_by_path(doc: dict) -> None:
    assert doc["unit"] == {"building": "3", "unit": "2", "room": "1201"}
    assert doc["unit_source"] == "path"
    assert doc["status"] == "needs_review"
    for part, printed in (("building", "5"), ("unit", "1"), ("room", "802")):
        assert doc["fields"][part] == doc["unit"][part]
        assert part in doc["issues"] and printed in doc["issues"][part], doc["issues"]


class WatchProcess:
    """``dangan watch`` in a subprocess, its log lines collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        full_env = {**os.environ, **env}
        full_env.pop("PREFECT_API_URL", None)
        self.proc = subprocess.Popen([str(DANGAN), "watch", *args], env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                time.sleep(0.2)
                break
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in the watcher's output:\n" + "\n".join(self.lines))

    def stop(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.integration
def test_ingest_files_a_scan_under_the_unit_its_folder_names(tmp_path: Path, form_5_1_802: bytes) -> None:
    """(b) The path says 3-2-1201, the form prints 5-1-802: the path wins, the disagreement is listed."""
    folder = tmp_path / "inbox" / "锦绣花园" / "3栋" / "2单元" / "1201"
    folder.mkdir(parents=True)
    (folder / "scan0001.png").write_bytes(form_5_1_802)
    env = _env(tmp_path)
    result = run_dangan(["ingest", str(tmp_path / "inbox"), "--quiet"], env)
    assert result.code == 0, result.stderr
    (doc,) = _export(env, tmp_path)
    _assert_filed_by_path(doc)
    assert (tmp_path / "done" / "inbox" / "锦绣花园" / "3栋" / "2单元" / "1201" / "scan0001.png").exists()
    shown = run_dangan(["show", doc["id"]], env)
    assert "unit: 3-2-1201 (from the folder path)" in shown.stdout, shown.stdout


@pytest.mark.integration
def test_watch_takes_a_slowly_written_file_once_and_whole(tmp_path: Path, form_5_1_802: bytes) -> None:
    """(c) THE BAR: written in chunks over seconds, with a pause far longer than the settle time.

    A first file warms the watcher up (its Prefect server runs from then on), so
    that a batch starts within a second of a file settling: a file taken during
    the writer's pause would be stored cut short, or quarantined as truncated.
    """
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = _env(tmp_path)
    warmup = registration_scan(tmp_path / "warmup", ("7", "1", "101"), seed=5).read_bytes()
    watcher = WatchProcess([str(inbox)], env)
    try:
        assert "file events for 1" in watcher.wait_for("watching")
        (tmp_path / "warmup" / "first.png").write_bytes(warmup)
        os.replace(tmp_path / "warmup" / "first.png", inbox / "first.png")
        assert "1 stored" in watcher.wait_for("batch 1:")
        target = inbox / "锦绣花园" / "3栋" / "2单元" / "1201" / "scan0001.png"
        target.parent.mkdir(parents=True)
        chunks = [form_5_1_802[i:i + 8192] for i in range(0, len(form_5_1_802), 8192)]
        with open(target, "wb") as f:
            for n, chunk in enumerate(chunks):
                f.write(chunk)
                f.flush()
                # settle is 1 s: one pause of 4 s half-way (the file is open and incomplete), short ones else
                time.sleep(4.0 if n == len(chunks) // 2 else 0.25)
        line = watcher.wait_for("batch 2:")
        assert "1 stored (1 document(s)" in line, line
        time.sleep(3)  # another look at the folder must find nothing to do
        assert watcher.stop() == 130
    finally:
        watcher.kill()
    batches = [line for line in watcher.lines if " batch " in line]
    assert len(batches) == 2, watcher.lines
    assert not (tmp_path / "quarantine").exists()
    stored = tmp_path / "done" / "inbox" / "锦绣花园" / "3栋" / "2单元" / "1201" / "scan0001.png"
    assert stored.read_bytes() == form_5_1_802 and not target.exists()
    docs = _export(env, tmp_path)
    assert len(docs) == 2
    (doc,) = [d for d in docs if d["sha256"] == hashlib.sha256(form_5_1_802).hexdigest()]
    _assert_filed_by_path(doc)
    from storage.vault import Vault

    vault = Vault.open(Settings(home=tmp_path / "home"))
    try:
        assert vault.read_original(doc["id"]) == form_5_1_802
    finally:
        vault.close()


@pytest.mark.integration
def test_watch_by_listing_picks_up_a_file(tmp_path: Path, form_5_1_802: bytes) -> None:
    """(d) --poll: no file events, the folder is listed every second."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = _env(tmp_path)
    watcher = WatchProcess([str(inbox), "--poll", "--interval", "1"], env)
    try:
        start = watcher.wait_for("watching")
        assert "listing every 1 s" in start and "file events" not in start
        staging = tmp_path / "staging.png"
        staging.write_bytes(form_5_1_802)
        (inbox / "3-2-1201").mkdir()
        shutil.move(staging, inbox / "3-2-1201" / "scan.png")
        line = watcher.wait_for("batch 1:")
        assert "1 stored (1 document(s)" in line, line
        assert watcher.stop() == 130
    finally:
        watcher.kill()
    (doc,) = _export(env, tmp_path)
    assert doc["sha256"] == hashlib.sha256(form_5_1_802).hexdigest()
    _assert_filed_by_path(doc)
    assert not (tmp_path / "quarantine").exists()
