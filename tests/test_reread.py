"""Re-reading doubtful fields: page images kept in memory, crops cut again, votes."""

from __future__ import annotations

import numpy as np

from ocr.reread import PageStore, enlarge, needs_reread, reread_fields, vote
from schemas.models import Extraction, FieldValue, OcrWord, PageImage


def value(v: str, *, ocr: float = 0.5, valid: bool = True) -> FieldValue:
    return FieldValue(name="move_in_date", value=v, confidence=0.5, valid=valid, page=0, box=(10, 10, 60, 30),
                      read_as="date", evidence={"ocr": ocr, "how": 1.0, "line_height": 20.0})


def test_votes_confirm_replace_or_doubt() -> None:
    assert (vote(value("2020-08-06"), ["2020-08-06", "2020-08-06"]).evidence or {})["reread"] == 1.0
    replaced = vote(value("2020-08-05"), ["2020-08-06", "2020-08-06"])
    assert replaced.value == "2020-08-06" and (replaced.evidence or {})["replaced"] == 1.0
    assert (vote(value("2020-08-05"), ["2020-08-06", None]).evidence or {})["reread"] == -1.0


def test_only_doubtful_fields_with_a_place_are_reread() -> None:
    assert needs_reread(value("2020-08-06", ocr=0.6))
    assert not needs_reread(value("2020-08-06", ocr=0.999))
    assert needs_reread(value("2020-08-06", ocr=0.999, valid=False))
    assert not needs_reread(value("2020-08-06").model_copy(update={"box": None}))


def test_reread_cuts_the_field_out_of_the_kept_page() -> None:
    image = np.full((100, 200), 255, np.uint8)
    image[12:28, 12:58] = 0
    store = PageStore()
    store.put(PageImage(index=0, image=image, dpi=200))
    assert len(store) == 1 and store.crop(3, (0, 0, 10, 10)) is None
    seen: list[np.ndarray] = []

    def reader(crops: list[np.ndarray]) -> list[OcrWord]:
        seen.extend(crops)
        return [OcrWord(text="2020年8月6日", box=(0, 0, 1, 1), confidence=0.99) for _ in crops]

    from ocr.extract import PARSERS

    ex = Extraction(doc_type="owner_registration", doc_type_confidence=0.9,
                    fields={"move_in_date": value("2020-08-05")})
    out = reread_fields(ex, store, [reader, reader], PARSERS)
    assert out.fields["move_in_date"].value == "2020-08-06"
    assert seen and seen[0].shape[0] >= 64 and seen[0].min() == 0, "the crop holds the field, enlarged"
    assert enlarge(np.zeros((100, 10), np.uint8)).shape == (100, 10), "never shrunk"
