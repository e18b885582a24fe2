"""Running text over several pages: paragraphs with field values inline, typed or handwritten into blanks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.synth.handwriting import text_extent
from tests.synth.hard.common import Ctx
from tests.synth.hard.sheet import HardPage, Sheet, Writer
from tests.synth.items import PT_MM, Line, Text, is_wide, text_width

_NO_LINE_START = set("，。、；：！？）》”’,.;:!?)")


@dataclass(frozen=True)
class Run:
    """A value inside running text: printed (optionally underlined) or handwritten on a blank."""

    text: str
    fields: tuple[str, ...] = ()
    writer: Writer | None = None
    underline: bool = False
    conds: frozenset[str] = frozenset()
    min_w: float = 0.0


def run(text: str, fields: str | Sequence[str] = (), **kw: object) -> Run:
    """Shorthand for a Run."""
    names = (fields,) if isinstance(fields, str) else tuple(fields)
    return Run(text, names, **kw)  # type: ignore[arg-type]


Part = str | Run


def _tokens(parts: Sequence[Part], size: float) -> list[tuple[str | Run, float]]:
    """Unbreakable pieces with their widths in mm (CJK characters, ASCII runs, whole Runs)."""
    out: list[tuple[str | Run, float]] = []
    for part in parts:
        if isinstance(part, Run):
            if part.writer is not None:
                w = max(part.min_w, text_extent(part.text, part.writer.size, part.writer.hand) + 5)
            else:
                w = text_width(part.text, size) + (2.0 if part.underline else 0.6)
            out.append((part, w))
            continue
        buf = ""
        for ch in part:
            if is_wide(ch):
                if buf:
                    out.append((buf, text_width(buf, size)))
                    buf = ""
                out.append((ch, text_width(ch, size)))
            else:
                buf += ch
        if buf:
            out.append((buf, text_width(buf, size)))
    return out


class Flow:
    """Paragraphs and blocks poured onto as many pages as they need."""

    def __init__(self, ctx: Ctx, *, top: float = 24.0, bottom: float = 270.0, left: float = 22.0, right: float = 188.0):
        self.ctx = ctx
        self.top, self.bottom, self.left, self.right = top, bottom, left, right
        self.sheets: list[Sheet] = []
        self.new_page()

    @property
    def s(self) -> Sheet:
        """The page being filled."""
        return self.sheets[-1]

    def new_page(self) -> None:
        """Start a page."""
        self.sheets.append(self.ctx.sheet(left=self.left, right=self.right, y=self.top))

    def ensure(self, mm: float) -> None:
        """Start a new page unless ``mm`` still fits."""
        if self.s.y + mm > self.bottom:
            self.new_page()

    def room(self) -> float:
        """Millimetres left on the current page."""
        return self.bottom - self.s.y

    def block(self, height: float, draw: Callable[[Sheet], None]) -> None:
        """A fixed block (table, signature area) that must not be split."""
        self.ensure(height)
        draw(self.s)

    def heading(self, text: str, size: float | None = None, *, center: bool = False, before: float = 2.0) -> None:
        """A bold heading line (chapter title)."""
        size = size or self.s.size + 0.5
        self.ensure(size * PT_MM * 2 + before + 12)
        self.s.gap(before + size * PT_MM)
        x = (self.left + self.right) / 2 if center else self.left
        self.s.text(x, self.s.y, text, size, bold=True, align="center" if center else "left")
        self.s.gap(size * PT_MM + 2)

    def para(self, parts: Sequence[Part], *, indent: float = 2.0, size: float | None = None, gap: float = 1.2) -> None:
        """A wrapped paragraph whose Runs become field spots (handwritten Runs on underlined blanks)."""
        size = size or self.s.size
        em = size * PT_MM
        lines: list[list[tuple[str | Run, float]]] = [[]]
        avail = self.right - self.left - indent * em
        used = 0.0
        for tok, w in _tokens(parts, size):
            starts_bad = isinstance(tok, str) and tok[:1] in _NO_LINE_START
            if used + w > avail and lines[-1] and not starts_bad:
                lines.append([])
                used = 0.0
                avail = self.right - self.left
                if isinstance(tok, str):
                    tok = tok.lstrip()
            lines[-1].append((tok, w))
            used += w
        pitch = self.s.pitch(size)
        for i, line in enumerate(lines):
            has_hand = any(isinstance(t, Run) and t.writer for t, _ in line)
            h = pitch * (1.25 if has_hand else 1.0)
            self.ensure(h)
            self.s.gap(h / 2)
            self._line(line, self.left + (indent * em if i == 0 else 0.0), size)
            self.s.gap(h / 2)
        self.s.gap(gap)

    def _line(self, line: list[tuple[str | Run, float]], x: float, size: float) -> None:
        """Draw one wrapped line; consecutive plain text is one Text item."""
        s = self.s
        buf, bx = "", x
        em = size * PT_MM
        for tok, w in line:
            if isinstance(tok, str):
                if not buf:
                    bx = x
                buf += tok
                x += w
                continue
            if buf:
                s.add(Text(bx, s.y, buf, size, family=s.family))
                buf = ""
            if tok.writer is not None:
                s.add(Line(x + 0.5, s.y + em * 0.75, x + w - 0.5, s.y + em * 0.75, 0.25))
                jitter = self.ctx.rng.uniform(-0.6, 0.3)
                box = s.write(tok.writer, x + 2.5, s.y + jitter + em * 0.08, tok.text)
                s.spot(tok.fields, box, {*tok.conds, "handwritten"})
            else:
                box = s.text(x + (1.0 if tok.underline else 0.3), s.y, tok.text, size)
                if tok.underline:
                    s.add(Line(x, s.y + em * 0.75, x + w, s.y + em * 0.75, 0.25))
                s.spot(tok.fields, box, tok.conds)
            x += w
        if buf:
            s.add(Text(bx, s.y, buf, size, family=s.family))

    def blank_lines(self, n: int, *, label: str = "") -> None:
        """Ruled lines left empty for additions; a clerk sometimes writes 无 on the first or strikes them out."""
        s = self.s
        pitch = s.pitch() * 1.3
        for i in range(n):
            self.ensure(pitch)
            s = self.s
            s.gap(pitch * 0.7)
            x0 = self.left
            if i == 0 and label:
                s.text(x0, s.y, label)
                x0 += text_width(label, s.size)
            s.add(Line(x0, s.y + s.size * PT_MM * 0.75, self.right, s.y + s.size * PT_MM * 0.75, 0.25))
            if i == 0 and self.ctx.rng.random() < 0.3:
                s.write(self.ctx.staff_hand, x0 + 20, s.y, self.ctx.rng.choice(("无", "/", "以下空白")))
            s.gap(pitch * 0.3)

    def pages(self) -> list[HardPage]:
        """Freeze every page."""
        return [sh.page() for sh in self.sheets if sh.items]
