"""Drop folders: find scanner output, and settle each source once it is handled.

A source is moved to ``done/`` only after its index commit, or to
``quarantine/`` with a one-line ``<name>.reason.txt``. Moves use
``os.replace`` (atomic on one file system) so a crash leaves a file either
in the drop folder or in its destination, never half-way; the original bytes
are never changed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.files import atomic_write, fsync_path

#: Folder names the drop-folder walk never enters.
SETTLED_DIRS = frozenset({"done", "quarantine"})
#: Files that scanners and operating systems leave beside scans.
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
REASON_SUFFIX = ".reason.txt"


@dataclass(frozen=True)
class DropItem:
    """One input file and the drop folder it was found in."""

    path: Path
    #: The drop folder given on the command line (the file's parent for a file argument).
    root: Path

    @property
    def relative(self) -> Path:
        """Path below the drop folder, kept under done/ and quarantine/."""
        return self.path.relative_to(self.root)


def discover(paths: Iterable[Path]) -> list[DropItem]:
    """List input files under ``paths`` (files and folders, recursive), sorted, without repeats.

    Hidden files, partial downloads, reason files and the ``done/`` and
    ``quarantine/`` folders are skipped.
    """
    seen: set[Path] = set()
    items: list[DropItem] = []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        candidates = _walk(path) if path.is_dir() else iter([DropItem(path, path.parent)])
        for item in candidates:
            real = item.path.resolve()
            if real not in seen:
                seen.add(real)
                items.append(item)
    return items


def _walk(root: Path) -> Iterator[DropItem]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SETTLED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if _is_input_name(name):
                yield DropItem(Path(dirpath) / name, root)


def _is_input_name(name: str) -> bool:
    return not (
        name.startswith(".")
        or name.startswith("~$")
        or name in IGNORED_NAMES
        or name.endswith((REASON_SUFFIX, ".part", ".tmp", ".crdownload"))
    )


@dataclass(frozen=True)
class Destinations:
    """Where handled sources go. ``None`` keeps the default: beside the drop folder."""

    done_dir: Path | None = None
    quarantine_dir: Path | None = None
    #: Leave sources where they are (quarantined ones are copied, not moved).
    keep: bool = False

    def done_path(self, item: DropItem) -> Path:
        """Target of a stored source."""
        base = self.done_dir or item.root.parent / "done"
        return base / item.root.name / item.relative

    def quarantine_path(self, item: DropItem) -> Path:
        """Target of a refused source."""
        base = self.quarantine_dir or item.root.parent / "quarantine"
        return base / item.root.name / item.relative


def settle_done(item: DropItem, dest: Destinations) -> Path | None:
    """Move a stored source to done/ (nothing with ``keep``). Returns where it went."""
    if dest.keep:
        return None
    return _move(item.path, _free_name(dest.done_path(item)))


def quarantine(item: DropItem, reason: str, dest: Destinations) -> Path:
    """Set a refused source aside with a one-line reason file beside it.

    The reason is written first, so a crash in between leaves the source in the
    drop folder, where the next run will refuse it again.
    """
    target = _free_name(dest.quarantine_path(item))
    target.parent.mkdir(parents=True, exist_ok=True)
    reason_file = target.with_name(target.name + REASON_SUFFIX)
    atomic_write(reason_file, (" ".join(reason.split()) + "\n").encode("utf-8"))
    if dest.keep:
        shutil.copy2(item.path, target)
        return target
    return _move(item.path, target)


def _move(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as e:
        if e.errno != 18:  # EXDEV: another file system, copy then delete
            raise
        tmp = target.with_name(f".{target.name}.moving")
        shutil.copy2(source, tmp)
        fsync_path(tmp)
        os.replace(tmp, target)
        source.unlink()
    return target


def _free_name(target: Path) -> Path:
    """``target`` or, when taken, ``name (2).ext``, ``name (3).ext`` ..."""
    if not target.exists():
        return target
    n = 2
    while True:
        candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
        if not candidate.exists():
            return candidate
        n += 1
