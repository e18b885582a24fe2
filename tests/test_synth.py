"""The synthetic scan generator: valid ground truth, printed values, files, determinism."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from schemas import validators as V
from schemas.documents import (
    DATE_FIELDS,
    DECIMAL_FIELDS,
    DOC_FIELDS,
    ID_NUMBER_FIELDS,
    PHONE_FIELDS,
    UNIT_FIELDS,
    DocType,
)
from tests.synth import degrade, fake
from tests.synth.corpus import TRUTH_FILE, generate_corpus
from tests.synth.items import PAGE_H, PAGE_W, Text
from tests.synth.templates import SynthDoc, make_document

SEEDS = range(25)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_digit(first17: str) -> str:
    """Independent MOD 11-2 implementation (GB 11643)."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def all_docs() -> list[SynthDoc]:
    return [make_document(t, random.Random(f"t:{seed}")) for seed in SEEDS for t in DocType]


@pytest.fixture(scope="module")
def docs() -> list[SynthDoc]:
    return all_docs()


def texts(doc: SynthDoc) -> list[str]:
    return [it.text for p in doc.pages for it in p.items if isinstance(it, Text)]


def test_truth_keys_match_doc_fields(docs):
    for doc in docs:
        keys = set(doc.truth)
        assert keys <= set(DOC_FIELDS[doc.doc_type]), doc.doc_type
        if doc.doc_type == DocType.ID_CARD:
            front = {"name", "sex", "ethnicity", "birth_date", "address", "id_number"}
            assert front <= keys
        else:
            assert keys == set(DOC_FIELDS[doc.doc_type]), doc.doc_type
        assert all(isinstance(v, str) and v for v in doc.truth.values())


def test_truth_value_formats(docs):
    for doc in docs:
        for k, v in doc.truth.items():
            _check_value(k, v)
            if k in ID_NUMBER_FIELDS:
                assert date(int(v[6:10]), int(v[10:12]), int(v[12:14]))


def test_id_card_consistent_with_number(docs):
    for doc in (d for d in docs if d.doc_type == DocType.ID_CARD):
        t = doc.truth
        num = t["id_number"]
        assert t["birth_date"] == f"{num[6:10]}-{num[10:12]}-{num[12:14]}"
        assert t["sex"] == ("男" if int(num[16]) % 2 else "女")
        assert V.check_id_number(num, birth_date=t["birth_date"], sex=t["sex"]) == []
        if "valid_to" in t:
            start, end = date.fromisoformat(t["valid_from"]), date.fromisoformat(t["valid_to"])
            assert end.year - start.year in {10, 20} and (end.month, end.day) == (start.month, start.day)
            assert start > date.fromisoformat(t["birth_date"])


def _printed(doc: SynthDoc, key: str, value: str) -> bool:
    lines = texts(doc)
    joined = "".join(lines)
    if key in DATE_FIELDS:
        return any(value in V.find_dates(t) for t in lines)
    if key in PHONE_FIELDS:
        return any(value in re.sub(r"[\s-]", "", t) for t in lines)
    if key in DECIMAL_FIELDS:
        return any(re.search(rf"(?<![\d.]){re.escape(value)}(?![\d])", t.replace(",", "")) for t in lines)
    if key in UNIT_FIELDS:
        ref = doc.truth
        whole = any(
            (p := V.parse_unit_ref(t)) and (p.building, p.unit, p.room) == (ref["building"], ref["unit"], ref["room"])
            for t in lines
        )
        return whole or value in lines
    if key == "address":
        return value in joined
    return any(value in t for t in lines)


def test_every_truth_value_is_printed(docs):
    for doc in docs:
        for k, v in doc.truth.items():
            assert _printed(doc, k, v), (doc.doc_type, doc.title, k, v)


def test_items_stay_on_the_page(docs):
    for doc in docs:
        for page in doc.pages:
            for it in page.items:
                if isinstance(it, Text):
                    assert 5 < it.y < PAGE_H - 8 and 0 < it.x < PAGE_W, (doc.doc_type, it)


def test_contract_page_counts(docs):
    for doc in docs:
        if doc.doc_type == DocType.PURCHASE_CONTRACT:
            assert len(doc.pages) in {2, 3}
        elif doc.doc_type == DocType.LEASE_CONTRACT:
            assert len(doc.pages) in {1, 2}
        else:
            assert len(doc.pages) == 1


def test_printed_formats_parse_back():
    r = random.Random(3)
    for _ in range(300):
        u = fake.make_unit(r)
        for s in (fake.fmt_unit(r, u), fake.fmt_unit_prose(r, u)):
            p = V.parse_unit_ref(s)
            assert p is not None and (p.building, p.unit, p.room) == (u.building, u.unit, u.room), s
        d = fake.rand_date(r, date(2000, 1, 1), date(2030, 1, 1))
        assert V.normalize_date(fake.fmt_date(r, d)) == d.isoformat()
        n = r.randrange(1000, 10**8)
        assert V.normalize_decimal(fake.fmt_money(r, n)) == str(n)
        ph = fake.phone_number(r)
        assert V.normalize_phone(fake.fmt_phone(r, ph)) == ph


def test_upper_rmb():
    assert fake.upper_rmb(6832000) == "陆佰捌拾叁万贰仟元整"
    assert fake.upper_rmb(10010) == "壹万零壹拾元整"
    assert fake.upper_rmb(3500) == "叁仟伍佰元整"


@pytest.mark.parametrize("name", sorted(degrade.DEGRADATIONS))
def test_degradations_keep_uint8_pages(name):
    img = np.full((300, 200, 3), 255, np.uint8)
    img[100:120, 40:160] = 20
    for sev in (0.0, 1.0):
        out, note = degrade.DEGRADATIONS[name](degrade.Scan(img, 300), sev, np.random.default_rng(0))
        assert out.image.dtype == np.uint8 and note
        if name in {"rotate90", "rotate270"}:
            assert out.image.shape[:2] == (200, 300)
        elif name != "phone_photo":
            assert out.image.shape[:2] == (300, 200)
        dark = out.image < 128
        assert dark.any() and not dark.all()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    items = generate_corpus(out, 30, seed=5)
    return out, items


def _page_count(path: Path) -> int:
    if path.suffix == ".pdf":
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=30, check=True)
        return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    with Image.open(path) as im:
        im.load()
        return getattr(im, "n_frames", 1)


def test_corpus_files_and_truth(corpus):
    out, items = corpus
    lines = [json.loads(x) for x in (out / TRUTH_FILE).read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(items) == 30
    assert {x["doc_type"] for x in lines} == {t.value for t in DocType}
    assert sorted(p.name for p in out.iterdir()) == sorted([TRUTH_FILE, *(x["file"] for x in lines)])
    for x in lines:
        assert set(x) >= {"file", "doc_type", "pages", "fields", "degradations"}
        assert _page_count(out / x["file"]) == x["pages"], x["file"]
    formats = {x["format"] for x in lines}
    assert {"pdf", "tiff", "png", "jpeg"} <= formats
    assert any(x["pages"] > 1 for x in lines)


def test_corpus_images_have_dpi_and_a4_shape(corpus):
    _, items = corpus
    for item in items:
        if item.format in {"png", "jpeg", "tiff", "bmp"}:
            with Image.open(item.path) as im:
                w, h = im.size
                if item.format != "bmp":
                    assert round(im.info["dpi"][0]) == item.dpi
            ratio = max(w, h) / min(w, h)
            assert 1.3 < ratio < 1.5, (item.file, im.size)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_corpus(tmp_path):
    a = generate_corpus(tmp_path / "a", 5, seed=9)
    b = generate_corpus(tmp_path / "b", 5, seed=9)
    assert [i.truth_line() for i in a] == [i.truth_line() for i in b]
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    c = generate_corpus(tmp_path / "c", 5, seed=10)
    assert [i.fields for i in a] != [i.fields for i in c]


def test_regenerating_replaces_previous_corpus(tmp_path):
    generate_corpus(tmp_path, 4, seed=1, degrade=False)
    items = generate_corpus(tmp_path, 2, seed=2, degrade=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([TRUTH_FILE, *(i.file for i in items)])
    assert all(i.degradations == [] and i.profile == "none" for i in items)


def test_cli_prints_one_line_summary(tmp_path, capsys):
    from tests.synth.__main__ import main

    assert main([str(tmp_path / "out"), "--count", "2", "--seed", "4", "--clean"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and out.startswith("wrote 2 documents")
    assert (tmp_path / "out" / TRUTH_FILE).is_file()


#: sha256 of every file of ``generate_corpus(tmp, 6, seed=3)``, PDF time stamps blanked (the
#: single-document corpus must not drift; Pillow writes the wall-clock time into each PDF).
PINNED_SEED3 = {
    "IMG_0006.jpg": "e66e62b49b442da7fee9d046dd18d4d02820447036436874e86d74cb0799fa43",
    "doc0002.pdf": "8dc0e5178da770fa4639a9c9fbc4c87721729f1afca9b48f31ecf73db697d98c",
    "doc0005.png": "ff80c169fc58b10689f88f0ac17d2c2e30b126dd89d5feb8a8fe1b77094e90d6",
    "scan_0003.png": "4110090bb6884901ad883edc4c66877afe70496077e7bbba59e30c497b352dc5",
    "truth.jsonl": "53c35f0609aa441d855ea5d7b6ac8c5b8eb325f08caade5411f53a4ac486725f",
    "扫描件0001.png": "b343817b9b5bb72c67af003d07fd3882107d73cd5984337c76e26e0a22029864",
    "扫描件0004.pdf": "877ae5845390225d086dfd1e06d40e8813788c74972b1219c752b4e3fc1e75bd",
}
_PDF_STAMP = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}Z\)")


def _stable_digest(folder: Path) -> dict[str, str]:
    """sha256 per file with PDF creation and modification times blanked."""
    out = {}
    for p in sorted(folder.iterdir()):
        data = _PDF_STAMP.sub(rb"/\1 (D:20000101000000Z)", p.read_bytes())
        out[p.name] = hashlib.sha256(data).hexdigest()
    return out


def test_single_document_corpus_is_pinned(tmp_path):
    generate_corpus(tmp_path, 6, seed=3)
    assert _stable_digest(tmp_path) == PINNED_SEED3


# ---------------------------------------------------------------- handwriting


def test_handwriting_is_deterministic_ink_on_white():
    from tests.synth.handwriting import PEN_BLUE, render_handwriting

    a = render_handwriting("张伟 2020年8月6日 44030519870512341X", height_px=40, seed=11)
    b = render_handwriting("张伟 2020年8月6日 44030519870512341X", height_px=40, seed=11)
    c = render_handwriting("张伟 2020年8月6日 44030519870512341X", height_px=40, seed=12)
    assert a.mode == "RGB" and np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c)) or a.size != c.size
    px = np.asarray(a).reshape(-1, 3).astype(int)
    inked = px[px.sum(axis=1) < 500]
    assert len(inked) > 500 and (inked[:, 2] > inked[:, 0]).mean() > 0.9  # blue ballpoint
    assert 30 < a.height < 140 and a.width > 20 * 25
    assert PEN_BLUE[2] > PEN_BLUE[0]


def test_every_hand_has_its_fonts_and_holdout_hands_are_separate():
    from tests.synth.handwriting import CJK_FONTS, HANDS, HOLDOUT_FONTS, LATIN_FONTS, hand_names, render_handwriting

    ordinary, held = hand_names(), hand_names(holdout=True)
    assert ordinary and held and not set(ordinary) & set(held)
    for name in ordinary:
        assert HANDS[name].cjk not in HOLDOUT_FONTS and HANDS[name].latin not in HOLDOUT_FONTS
    assert {HANDS[n].cjk for n in held} <= HOLDOUT_FONTS and {HANDS[n].latin for n in held} <= HOLDOUT_FONTS
    assert set(CJK_FONTS) - HOLDOUT_FONTS and set(LATIN_FONTS) - HOLDOUT_FONTS
    for name in HANDS:
        img = render_handwriting("李2", height_px=32, seed=1, font=name)
        assert (np.asarray(img.convert("L")) < 128).sum() > 30, name
    for seed in range(20):
        img = render_handwriting("8", height_px=30, seed=seed, holdout=True)
        assert img.size == render_handwriting("8", height_px=30, seed=seed, font=held[0]).size


# ---------------------------------------------------------------- hard corpus

HARD_SEED = 11
EXTRA_FIELDS = {"seal_text", "copy_purpose"}


def _hard_layout_docs(holdout: bool) -> list:
    from tests.synth.hard.common import make_hard_household
    from tests.synth.hard.layouts import LAYOUTS, make_hard_document

    docs = []
    for seed in range(6):
        for doc_type, ls in LAYOUTS.items():
            for fn in (ls.holdout,) if holdout else ls.ordinary:
                rng = random.Random(f"layout:{seed}:{fn.__name__}")
                hhh = make_hard_household(rng, lease=True, agent=True)
                subject = hhh.co_owner if seed % 2 and doc_type == DocType.ID_CARD else None
                docs.append(make_hard_document(doc_type, rng, hhh, holdout=holdout, subject=subject, layout=fn))
    return docs


@pytest.fixture(scope="module")
def hard_docs():
    return _hard_layout_docs(False)


def _check_value(k: str, v: str) -> None:
    """A truth value in DESIGN.md export format."""
    assert isinstance(v, str) and v == v.strip() and v, (k, v)
    if k in DATE_FIELDS:
        assert date.fromisoformat(v).isoformat() == v
    elif k in ID_NUMBER_FIELDS:
        assert re.fullmatch(r"\d{17}[\dX]", v) and check_digit(v[:17]) == v[17], (k, v)
    elif k in PHONE_FIELDS:
        assert re.fullmatch(r"1[3-9]\d{9}", v), (k, v)
    elif k in DECIMAL_FIELDS:
        assert re.fullmatch(r"\d+(\.\d*[1-9])?", v), (k, v)
    elif k in UNIT_FIELDS:
        assert re.fullmatch(r"[0-9A-Z]+", v), (k, v)
    elif k == "sex":
        assert v in {"男", "女"}


def test_hard_layouts_place_every_field(hard_docs):
    from tests.synth.hard.marks import Seal

    for doc in hard_docs:
        assert set(doc.fields) <= set(DOC_FIELDS[doc.doc_type]) | EXTRA_FIELDS, doc.layout
        assert doc.layout.startswith(doc.doc_type.value + "/") and not doc.holdout
        for k, v in doc.fields.items():
            _check_value(k, v)
        placed = {f for p in doc.pages for sp in p.spots for f in sp.fields}
        assert set(doc.fields) - {"seal_text"} <= placed, (doc.layout, set(doc.fields) - placed)
        seals = {it.text for p in doc.pages for it in p.items if isinstance(it, Seal)}
        assert len(seals) <= 1, doc.layout  # at most one organisation's seals
        assert seals == ({doc.fields["seal_text"]} if "seal_text" in doc.fields else set()), doc.layout
        assert set(doc.flags) <= set(doc.fields)


def test_hard_layout_variety(hard_docs):
    by_type: dict[DocType, set[str]] = {}
    for doc in hard_docs:
        by_type.setdefault(doc.doc_type, set()).add(doc.layout)
    assert all(len(v) >= 3 for v in by_type.values()), by_type
    ids = [d for d in hard_docs if d.doc_type == DocType.ID_CARD]
    assert all("copy_purpose" in d.fields for d in ids)
    purchase = [d for d in hard_docs if d.doc_type == DocType.PURCHASE_CONTRACT]
    assert all(6 <= len(d.pages) <= 12 for d in purchase), [len(d.pages) for d in purchase]
    leases = [d for d in hard_docs if d.layout in {"lease_contract/typed", "lease_contract/handfilled"}]
    assert all(3 <= len(d.pages) <= 6 for d in leases), [len(d.pages) for d in leases]


def test_hard_holdout_uses_only_held_out_layouts_and_hands(hard_docs):
    from tests.synth.handwriting import Handwriting, hand_names

    held = set(hand_names(holdout=True))
    for holdout, docs in ((True, _hard_layout_docs(True)), (False, hard_docs)):
        for doc in docs:
            assert ("holdout" in doc.layout) == holdout == doc.holdout, doc.layout
            hands = {it.hand for p in doc.pages for it in p.items if isinstance(it, Handwriting)}
            assert (hands <= held) if holdout else not (hands & held), (doc.layout, hands)


def test_hard_contract_flags_match_the_paper():
    from tests.synth.hard.common import make_ctx, make_hard_household
    from tests.synth.hard.contracts import FLAG_PRODUCT, FLAG_WORDS, purchase_summary

    flagged = 0
    for seed in range(60):
        rng = random.Random(f"flags:{seed}")
        doc = purchase_summary(make_ctx(rng, make_hard_household(rng), False))
        p_texts = [it.text for p in doc.pages for it in p.items if isinstance(it, Text)]
        words = [t for t in p_texts if t.startswith("人民币") and t.endswith("元整")]
        total = int(doc.fields["total_price"])
        printed_words_ok = words == [f"人民币{fake.upper_rmb(total)}"]
        area = float(doc.fields["floor_area"])
        unit_price = next(float(t.replace(",", "")) for t in p_texts if re.fullmatch(r"\d{4,5}", t))
        product_ok = abs(area * unit_price - total) <= 1
        flag = doc.flags.get("total_price")
        assert printed_words_ok == (flag != FLAG_WORDS), seed
        assert product_ok == (flag != FLAG_PRODUCT), seed
        flagged += bool(flag)
    assert 1 <= flagged <= 15


@pytest.fixture(scope="module")
def hard_corpus(tmp_path_factory):
    from tests.synth.hard import generate_hard_corpus

    out = tmp_path_factory.mktemp("hard")
    start = time.monotonic()
    items = generate_hard_corpus(out, 16, seed=HARD_SEED, folders=2)
    return out, items, time.monotonic() - start


def test_hard_corpus_is_quick_and_complete(hard_corpus):
    from tests.synth.hard import FILES_FILE, TRUTH_FILE

    out, items, elapsed = hard_corpus
    assert elapsed < 60
    truth = [json.loads(x) for x in (out / TRUTH_FILE).read_text(encoding="utf-8").splitlines()]
    files = [json.loads(x) for x in (out / FILES_FILE).read_text(encoding="utf-8").splitlines()]
    assert truth == [i.truth_line() for i in items] and len(truth) >= 12
    assert sorted(p.name for p in out.iterdir()) == sorted([TRUTH_FILE, FILES_FILE, *(f["file"] for f in files)])
    assert sum(f["documents"] for f in files) == len(truth)
    assert sum("folder" in f["conditions"] for f in files) == 2


def test_hard_truth_is_consistent(hard_corpus):
    from tests.synth.hard import CONDITIONS, FILES_FILE

    out, items, _ = hard_corpus
    files = {f["file"]: f for f in map(json.loads, (out / FILES_FILE).read_text(encoding="utf-8").splitlines())}
    by_file: dict[str, list] = {}
    for it in items:
        t = it.truth_line()
        by_file.setdefault(t["file"], []).append(t)
        assert t["first_page"] == t["page_indices"][0] and t["pages"] == len(t["page_indices"])
        assert t["page_indices"] == sorted(t["page_indices"])
        assert set(t["conditions"]) <= set(CONDITIONS)
        assert set(t["field_conditions"]) == set(t["fields"])
        assert all(set(c) <= set(t["conditions"]) for c in t["field_conditions"].values())
        assert set(t["fields"]) <= set(DOC_FIELDS[DocType(t["doc_type"])]) | EXTRA_FIELDS
        for k, v in t["fields"].items():
            _check_value(k, v)
        if t["doc_type"] == "id_card":
            num = t["fields"]["id_number"]
            assert t["fields"]["birth_date"] == f"{num[6:10]}-{num[10:12]}-{num[12:14]}"
    for name, docs in by_file.items():
        f = files[name]
        assert _page_count(out / name) == f["pages"], name
        pages = [p for d in docs for p in d["page_indices"]]
        assert len(pages) == len(set(pages)), name  # no page in two documents
        assert sorted(pages + f["blank_pages"]) == list(range(f["pages"])), name
        assert f["documents"] == len(docs) and set(f["conditions"]) <= set(CONDITIONS)


def test_hard_folder_file_same_seed_same_bytes(hard_corpus, tmp_path):
    from tests.synth.hard.corpus import plan_folder, render_file

    out, items, _ = hard_corpus
    first = next(i for i in items if "folder" in i.conditions)
    plan = plan_folder(1, HARD_SEED, 0, False)
    assert plan.name == first.file
    render_file(plan, tmp_path, HARD_SEED)
    assert (tmp_path / plan.name).read_bytes() == (out / plan.name).read_bytes()


@pytest.mark.parametrize("mode", ["fine", "standard", "stretched"])
def test_fax_pages_save_as_pdf_and_tiff(tmp_path, mode):
    from tests.synth.hard.scan import fax, save_file

    page = np.full((1169, 827, 3), 255, np.uint8)  # A4 at 100 dpi
    page[300:340, 100:700] = 30
    out = fax(page, 100, mode, np.random.default_rng(1))
    rows = {"fine": 2291, "standard": 1146, "stretched": 2292}[mode]  # 297 mm at 196 or 98 lines per inch
    assert out.shape == (rows, 1687) and set(np.unique(out)) <= {0, 255}
    img = Image.fromarray(out).convert("1")
    ydpi = 98 if mode == "standard" else 196
    for fmt in ("pdf", "tiff"):
        save_file([img, img], tmp_path / f"f.{fmt}", fmt, (204, ydpi), 70)
        assert _page_count(tmp_path / f"f.{fmt}") == 2
    with Image.open(tmp_path / "f.tiff") as im:
        assert tuple(round(v) for v in im.info["dpi"]) == (204, ydpi)
