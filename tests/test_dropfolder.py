import os
from pathlib import Path

import pytest

from storage.dropfolder import Destinations, discover, quarantine, settle_done
from storage.names import safe_name


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


# --- links, special files, partial names ----------------------------------------------


def _linked_tree(root: Path) -> Path:
    """A drop folder holding every kind of link, beside a folder that must never be touched."""
    inbox, outside = root / "inbox", root / "outside"
    (inbox / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.pdf").write_bytes(b"%PDF-outside")
    (inbox / "a.pdf").write_bytes(b"%PDF-a")
    (inbox / "loop.pdf").symlink_to("loop.pdf")
    (inbox / "ping.pdf").symlink_to("pong.pdf")
    (inbox / "pong.pdf").symlink_to("ping.pdf")
    (inbox / "gone.pdf").symlink_to(root / "nowhere.pdf")
    (inbox / "out.pdf").symlink_to("../outside/secret.pdf")
    (inbox / "outdir").symlink_to(outside, target_is_directory=True)
    (inbox / "same.pdf").symlink_to("a.pdf")  # inside: the target is taken from its own place
    (inbox / "sub" / "up").symlink_to("..", target_is_directory=True)  # inside, and a loop for a follower
    return inbox


def test_links_are_listed_never_followed(tmp_path: Path) -> None:
    inbox = _linked_tree(tmp_path)
    items = discover([inbox])
    assert [i.relative.as_posix() for i in items] == [
        "a.pdf", "gone.pdf", "loop.pdf", "out.pdf", "outdir", "ping.pdf", "pong.pdf"]
    assert all(i.path.is_symlink() for i in items[1:])


def test_a_link_loop_given_as_argument_is_listed(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    assert [i.path.name for i in discover([tmp_path / "loop"])] == ["loop"]


def test_quarantine_moves_a_link_never_its_target(tmp_path: Path) -> None:
    inbox = _linked_tree(tmp_path)
    before = (tmp_path / "outside" / "secret.pdf").stat()
    for item in discover([inbox])[1:]:
        target = quarantine(item, "link_outside: not followed", Destinations())
        assert target.is_symlink() and not os.path.lexists(item.path)
    secret = tmp_path / "outside" / "secret.pdf"
    assert secret.read_bytes() == b"%PDF-outside" and secret.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["secret.pdf"]


def test_quarantine_with_keep_never_copies_what_a_link_points_to(tmp_path: Path) -> None:
    inbox = _linked_tree(tmp_path)
    out = next(i for i in discover([inbox]) if i.path.name == "out.pdf")
    target = quarantine(out, "link_outside: not followed", Destinations(keep=True))
    assert not os.path.lexists(target) and out.path.is_symlink()
    assert target.with_name("out.pdf.reason.txt").read_text(encoding="utf-8") == "link_outside: not followed\n"


def test_a_dangling_link_in_quarantine_is_never_overwritten(tmp_path: Path) -> None:
    inbox = _linked_tree(tmp_path)
    gone = next(i for i in discover([inbox]) if i.path.name == "gone.pdf")
    first = quarantine(gone, "dangling_link: gone", Destinations())
    (inbox / "gone.pdf").write_bytes(b"%PDF-new")
    (second,) = [i for i in discover([inbox]) if i.path.name == "gone.pdf"]
    assert quarantine(second, "corrupt: bad", Destinations()).name == "gone (2).pdf"
    assert first.is_symlink()


def test_pipes_are_listed_for_preflight_to_refuse(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    os.mkfifo(tmp_path / "inbox" / "pipe.pdf")
    (item,) = discover([tmp_path / "inbox"])
    assert item.path.name == "pipe.pdf"


def test_partial_and_temporary_names_are_skipped(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = ["scan.PDF.part", "scan.pdf.crdownload", "~$合同.docx", ".~lock.x#", "scan.tmp", "a.pdf.TMP",
             "copy.pdf.filepart", "backup.pdf~", ".hidden.png", "x.pdf.reason.txt", "keep.pdf"]
    for name in names:
        (inbox / name).write_bytes(b"x")
    assert [i.path.name for i in discover([inbox])] == ["keep.pdf"]


# --- names: masked and printable -------------------------------------------------------


@pytest.mark.parametrize(("name", "shown"), [
    ("王伟_110105199003071234_13800138000.png", "王伟_110105********1234_138****8000.png"),
    ("李娜11010519900307123X.pdf", "李娜110105********123X.pdf"),
    ("old 110105900307123.tif", "old 110105*****7123.tif"),
    ("110105 19900307 1234 合同.pdf", "110105********1234 合同.pdf"),
    ("+8613800138000.jpg", "+86138****8000.jpg"),
    ("138-0013-8000.jpg", "138****8000.jpg"),
    ("物业 010-12345678.pdf", "物业 010-****5678.pdf"),
    ("１３８００１３８０００.png", "１３８****８０００.png"),
    ("SCAN_20240301143055.pdf", "SCAN_20240301143055.pdf"),  # a scanner's time stamp is no ID number
    ("scan_0001.pdf", "scan_0001.pdf"),
    ("two\nlines\r.pdf", "two\\nlines\\r.pdf"),
    ("\x1b[31mred.pdf", "\\x1b[31mred.pdf"),
    ("cod\u202egnp.pdf", "cod\\u202egnp.pdf"),
    ("bad\udcff.pdf", "bad\\xff.pdf"),
])
def test_safe_name_masks_numbers_and_escapes_controls(name: str, shown: str) -> None:
    assert safe_name(name) == shown


def test_reason_files_stay_one_line_and_masked(tmp_path: Path) -> None:
    _tree(tmp_path)
    a, _ = discover([tmp_path / "inbox"])
    target = quarantine(a, "corrupt: bad\x00 data\u2028more for 13800138000", Destinations())
    reason = target.with_name("a.pdf.reason.txt").read_text(encoding="utf-8")
    assert reason == "corrupt: bad\\x00 data more for 138****8000\n"
