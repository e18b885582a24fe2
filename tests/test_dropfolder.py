from pathlib import Path

from storage.dropfolder import Destinations, discover, quarantine, settle_done


def _tree(root: Path) -> None:
    (root / "inbox" / "cab1").mkdir(parents=True)
    (root / "inbox" / "a.pdf").write_bytes(b"%PDF-a")
    (root / "inbox" / "cab1" / "b.png").write_bytes(b"png")
    (root / "inbox" / ".hidden.pdf").write_bytes(b"x")
    (root / "inbox" / "c.pdf.part").write_bytes(b"x")
    (root / "inbox" / "done").mkdir()
    (root / "inbox" / "done" / "old.pdf").write_bytes(b"x")


def test_discover_recurses_skips_partial_and_settled(tmp_path: Path) -> None:
    _tree(tmp_path)
    items = discover([tmp_path / "inbox", tmp_path / "inbox" / "a.pdf"])
    assert [i.relative.as_posix() for i in items] == ["a.pdf", "cab1/b.png"]


def test_done_and_quarantine_beside_drop_folder(tmp_path: Path) -> None:
    _tree(tmp_path)
    a, b = discover([tmp_path / "inbox"])
    dest = Destinations()
    assert settle_done(a, dest) == tmp_path / "done" / "inbox" / "a.pdf"
    target = quarantine(b, "unsupported_type: plain text\nsecond line", dest)
    assert target == tmp_path / "quarantine" / "inbox" / "cab1" / "b.png"
    assert target.read_bytes() == b"png"
    reason = target.with_name("b.png.reason.txt").read_text(encoding="utf-8")
    assert reason == "unsupported_type: plain text second line\n"
    assert not (tmp_path / "inbox" / "a.pdf").exists()


def test_keep_leaves_sources_and_copies_quarantined(tmp_path: Path) -> None:
    _tree(tmp_path)
    a, b = discover([tmp_path / "inbox"])
    dest = Destinations(keep=True)
    assert settle_done(a, dest) is None
    quarantine(b, "bad", dest)
    assert a.path.exists() and b.path.exists()
    assert (tmp_path / "quarantine" / "inbox" / "cab1" / "b.png").read_bytes() == b"png"


def test_name_collision_never_overwrites(tmp_path: Path) -> None:
    _tree(tmp_path)
    (a, _) = discover([tmp_path / "inbox"])
    (tmp_path / "done" / "inbox").mkdir(parents=True)
    (tmp_path / "done" / "inbox" / "a.pdf").write_bytes(b"earlier")
    moved = settle_done(a, Destinations())
    assert moved is not None and moved.name == "a (2).pdf"
    assert (tmp_path / "done" / "inbox" / "a.pdf").read_bytes() == b"earlier"
