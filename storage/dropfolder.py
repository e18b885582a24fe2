"""Drop folders: find scanner output, and settle each source once it is handled.

A source is moved to ``done/`` only after its index commit, or to
``quarantine/`` with a one-line ``<name>.reason.txt``. Moves use
``os.replace`` (atomic on one file system) so a crash leaves a file either
in the drop folder or in its destination, never half-way; the original bytes
are never changed. Links are never followed: nothing outside a drop folder
is read, moved or written (see :func:`discover`).

The path of a file below its drop folder may name its unit
(``锦绣花园/3栋/2单元/1201/scan.pdf``): :attr:`DropItem.unit_hint`, read by
:mod:`storage.unitpath`.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.files import atomic_write, fsync_path
from storage.names import mask_name, one_line
from storage.unitpath import UnitHint, unit_from_path

#: Folder names the drop-folder walk never enters.
SETTLED_DIRS = frozenset({"done", "quarantine"})
#: Files that scanners and operating systems leave beside scans.
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
REASON_SUFFIX = ".reason.txt"
#: Endings of files still being written by a browser, a copy tool or an editor (compared in lower case).
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart", "~")


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

    @property
    def unit_hint(self) -> UnitHint | None:
        """The unit (or the parts of it) that the path below the drop folder names, if any."""
        return unit_from_path(self.relative)

    @property
    def argument(self) -> str:
        """The file as an argument of :func:`discover` that keeps its drop folder: ``ROOT/./PATH/BELOW``.

        ``dangan watch`` hands the ingest its settled files one by one, not
        their folders; written so, they still move to ``done/<drop
        folder>/<path below it>`` and their path below it names their unit, in
        whatever process the ingest runs.
        """
        return f"{self.root}{ROOT_MARK}{self.relative}"


#: Inside a file argument, the end of its drop folder (as rsync's ``--relative`` marks it).
ROOT_MARK = f"{os.sep}.{os.sep}"


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[DropItem]:
    """List input files under ``paths`` (files and folders, recursive), sorted, without repeats.

    A file's folder is its drop folder, unless a string argument marks where
    the drop folder ends with ``/./`` (``/srv/inbox/./3栋/2单元/1201/a.pdf``:
    drop folder ``/srv/inbox``, see :attr:`DropItem.argument`).

    Hidden files, partial downloads, reason files and the ``done/`` and
    ``quarantine/`` folders are skipped. Links are never followed: a link to
    a file or folder inside the same drop folder is skipped quietly (its target
    is taken from its own place), while a link that points outside the drop
    folder, loops or points to nothing is listed as it is, so that preflight
    refuses it with its reason and it is reported once, never read.
    """
    seen: set[str] = set()
    items: list[DropItem] = []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        root = _marked_root(raw, path)
        candidates = _walk(path) if _is_real_dir(path) else _argument_file(path, root)
        for item in candidates:
            key = str(item.path) if item.path.is_symlink() else os.path.realpath(item.path)
            if key not in seen:
                seen.add(key)
                items.append(item)
    return items


def _is_real_dir(path: Path) -> bool:
    """A folder named on the command line (a link to a folder counts: the operator named it)."""
    try:
        return path.is_dir()
    except OSError:  # a link loop given as an argument
        return False


def _marked_root(raw: str | os.PathLike[str], path: Path) -> Path | None:
    """The drop folder a ``/./`` in a string argument marks, when the file lies below it."""
    if not isinstance(raw, str) or ROOT_MARK not in raw:
        return None
    root = Path(raw.split(ROOT_MARK, 1)[0] or os.sep).expanduser().absolute()
    if root not in path.parents or ".." in path.relative_to(root).parts:
        return None
    return root


def _argument_file(path: Path, marked_root: Path | None = None) -> Iterator[DropItem]:
    """A file named on the command line; its folder is the drop folder (unless the argument marks another)."""
    root = marked_root or path.parent
    if path.is_symlink():
        target = _link_target(path)
        if target is not None and _inside(target, root):
            yield DropItem(Path(target), Path(target).parent)  # a link beside its own target: take the target
            return
    yield DropItem(path, root)


def _walk(root: Path) -> Iterator[DropItem]:
    """Files below ``root``, folder by folder in name order, files of a folder before its sub-folders."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # unreadable folder: nothing to list
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                if _is_input_name(entry.name) and entry.name not in SETTLED_DIRS and _refused_link(path, root):
                    yield DropItem(path, root)
            elif entry.is_dir(follow_symlinks=False):
                if entry.name not in SETTLED_DIRS and not entry.name.startswith("."):
                    subfolders.append(path)
            elif _is_input_name(entry.name):
                yield DropItem(path, root)
        stack.extend(reversed(subfolders))


def _refused_link(link: Path, root: Path) -> bool:
    """True for a link that loops, points to nothing, or points outside the drop folder ``root``."""
    target = _link_target(link)
    return target is None or not _inside(target, root)


def _link_target(link: Path) -> str | None:
    """Where a link finally points, or None when it loops or its target does not exist."""
    try:
        return os.path.realpath(link, strict=True)
    except (OSError, RuntimeError):
        return None


def _inside(target: str, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return target == real_root or target.startswith(real_root.rstrip(os.sep) + os.sep)


def _is_input_name(name: str) -> bool:
    lower = name.lower()
    return not (
        name.startswith(".")
        or name.startswith("~$")
        or name in IGNORED_NAMES
        or lower.endswith((REASON_SUFFIX, *PARTIAL_SUFFIXES))
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
    drop folder, where the next run will refuse it again. A link or other
    special file is moved as it is (its target is never read); with ``keep``
    only its reason file is written.
    """
    target = _free_name(dest.quarantine_path(item))
    target.parent.mkdir(parents=True, exist_ok=True)
    reason_file = target.with_name(target.name + REASON_SUFFIX)
    atomic_write(reason_file, (one_line(mask_name(reason)) + "\n").encode("utf-8"))
    if dest.keep:
        if _is_regular_file(item.path):
            shutil.copy2(item.path, target, follow_symlinks=False)
        return target
    return _move(item.path, target)


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _move(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as e:
        if e.errno != errno.EXDEV:  # another file system: copy then delete
            raise
        tmp = target.with_name(f".{target.name}.moving")
        shutil.copy2(source, tmp, follow_symlinks=False)  # a link is copied as a link, never its target
        if not tmp.is_symlink():
            fsync_path(tmp)
        os.replace(tmp, target)
        source.unlink()
    return target


def _free_name(target: Path) -> Path:
    """``target`` or, when taken (even by a dangling link), ``name (2).ext``, ``name (3).ext`` ..."""
    if not os.path.lexists(target):
        return target
    n = 2
    while True:
        candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1
