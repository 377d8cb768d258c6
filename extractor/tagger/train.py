"""Fine-tune an encoder into a tagger: a plain torch loop (AdamW, linear warm-up and decay), a few
epochs, early stopping on the validation texts' micro F1 computed by the benchmark scorer, and the
best epoch's weights saved with the manifest."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluate.scorer import score
from .augment import augmented, check_augmentations
from .data import LocateReport, TaggedText, TrainingSet, Window, bio_labels, tag_offers, tokenize, windows
from .engine import TaggerConfig, TaggerExtractor, check_span_threshold
from .endings import describe, learn_endings
from .model import IGNORE, LabelSet, Tagger
from .markers import learn_markers
from .wordforms import learn_word_forms

LEARNED: dict[str, Callable[[Sequence[TaggedText], LabelSet], Any]] = {
    "word_forms": learn_word_forms, "markers": learn_markers,
    "endings": lambda tagged, labels: learn_endings(tagged)}
"""The manifest's tables that the located training values teach, by field, with their learners
(training fills them; :func:`relearn_tables` learns them again for a trained tagger)."""
LEARNED_TABLES: tuple[str, ...] = tuple(LEARNED)
"""The names (manifest fields) of the tables training learns from the located values."""


@dataclass
class TrainConfig:
    """How the tagger is trained."""

    epochs: int = 10
    """Most passes over the training texts (early stopping may end sooner)."""
    learning_rate: float = 1e-4
    """AdamW peak learning rate of the encoder (small encoders such as MiniLM like it higher than
    BERT-base's 5e-5)."""
    head_learning_rate: float | None = None
    """Peak learning rate of the new classification head (None: ``learning_rate``). The head starts
    random, so at the encoder's rate it spends the first epochs predicting O everywhere."""
    batch_size: int = 16
    """Windows per optimizer step."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm weights)."""
    warmup: float = 0.1
    """Share of the steps over which the learning rate rises linearly from 0; it then falls to 0."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this norm."""
    window: int = 256
    """Model positions per window, special tokens included; longer texts get several windows."""
    overlap: int = 64
    """Tokens consecutive windows share, so a value near an edge is whole in one of them."""
    patience: int = 3
    """Stop after this many epochs without a better validation F1."""
    validation_share: float = 0.1
    """Share of the training texts held out for early stopping when no validation texts are given
    (0 = none: train all epochs and keep the last)."""
    seed: int = 0
    """Seed for the held-out split, the head's initialisation and the shuffling."""
    device: str = "auto"
    """`auto` = CUDA when available, else CPU; or a torch device string."""
    span_threshold: float | None = None
    """The span threshold to record in the manifest, which extraction and averaging then use by
    default; None: calibrate one on the held-out texts (with none held out, the labels alone).
    For a tagger trained on all of train, give the one its held-out sibling chose."""
    augment: list[str] = field(default_factory=list)
    """Synthetic variants added to the training texts (never the held-out ones): `swap` (another
    offer's value of the same attribute in the title), `drop` (a title segment without gold values
    removed), `shuffle` (title segments reordered). Empty: none (``extractor.tagger.augment``)."""
    augment_copies: int = 1
    """Variants tried per training text and augmentation."""

    def __post_init__(self) -> None:
        check_span_threshold(self.span_threshold)
        self.augment = list(self.augment)
        check_augmentations(self.augment, self.augment_copies)
        if self.epochs < 1:
            raise ConfigError("epochs must be >= 1")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be > 0")
        if self.head_learning_rate is not None and self.head_learning_rate <= 0:
            raise ConfigError("head_learning_rate must be > 0")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if not 0 <= self.warmup < 1:
            raise ConfigError("warmup must be in [0, 1)")
        if self.window < 8:
            raise ConfigError("window must be >= 8")
        if not 0 <= self.overlap < self.window // 2:
            raise ConfigError("overlap must be in [0, window/2)")
        if self.patience < 1:
            raise ConfigError("patience must be >= 1")
        if not 0 <= self.validation_share < 1:
            raise ConfigError("validation_share must be in [0, 1)")


@dataclass
class TrainResult:
    """What a training run did."""

    folder: Path
    tagger: Tagger
    """The trained tagger, in memory (the best epoch's weights, as saved)."""
    report: LocateReport
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per epoch: ``epoch``, mean ``loss``, validation ``f1`` (None without validation), ``seconds``."""
    best_epoch: int = 0
    validation_f1: float | None = None
    windows: int = 0
    """Training windows per epoch."""


def training_windows(tagger: Tagger, data: TrainingSet, report: LocateReport) -> list[Window]:
    """Every training text located, labelled and cut into windows. The word forms and markers the
    located values teach go into the tagger's manifest (``Manifest.word_forms``, ``.markers``), as
    does how the gold treats a full stop, a possessive or a joined word at a value's edge (``.endings``)."""
    tagged = tag_offers(data.documents, data.gold, tagger.labels, report)
    for key, learn in LEARNED.items():
        setattr(tagger.manifest, key, learn(tagged, tagger.labels))
    out = []
    for text in tagged:
        tokens = tokenize(tagger.tokenizer, text.text)
        labels = bio_labels(tokens, text, tagger.labels, report)
        allowed = tagger.labels.allowed(text.schema)
        for window in windows(tokens, tagger.frame, tagger.manifest.window, tagger.manifest.overlap,
                              labels, tagger.labels):
            window.allowed = allowed
            out.append(window)
    return out


def relearn_tables(train: TrainingSet, manifest: Mapping[str, Any],
                   only: Iterable[str] | None = None) -> dict[str, Any]:
    """The learned tables (:data:`LEARNED_TABLES`; ``only`` some of them) of a trained tagger,
    learned again with the current learners from ``train``, the texts it was trained on (before
    augmentation; ``manifest``, the tagger's manifest as JSON, names its labels and the augmentation
    training added, rebuilt here as training made it). The model's labels do not depend on these
    tables, so a change to how they are learned can be measured without training again. Returns
    manifest field -> table, in :data:`LEARNED_TABLES`' order; the caller checks that ``train`` is
    the tagger's training split (``TrainingSet.digest()`` against the manifest's ``training_data``)."""
    wanted = set(LEARNED_TABLES if only is None else only)
    if unknown := wanted - set(LEARNED_TABLES):
        raise ConfigError(f"no learned table {sorted(unknown)}; the tables are {', '.join(LEARNED_TABLES)}")
    settings = manifest["settings"]
    train = augmented(train, settings.get("augment", []), settings.get("augment_copies", 1), settings["seed"])
    labels = LabelSet([tuple(key) for key in manifest["keys"]])
    tagged = tag_offers(train.documents, train.gold, labels, LocateReport())
    return {key: learn(tagged, labels) for key, learn in LEARNED.items() if key in wanted}


SPAN_THRESHOLDS: tuple[float | None, ...] = (None, 0.4, 0.3, 0.2, 0.1, 0.05)
"""Tried after training, on the validation texts (None: each token's most probable label)."""


def validation_f1(tagger: Tagger, data: TrainingSet, batch_size: int = 32,
                  span_threshold: float | None = None) -> float:
    """Micro F1 (exact, percent) of the tagger's best span per attribute, by the benchmark scorer."""
    by_category: dict[str, list[int]] = {}
    for i, offer in enumerate(data.gold):
        by_category.setdefault(offer.category, []).append(i)
    rows: dict[int, dict[str, Any]] = {}
    for category, indices in by_category.items():
        engine = TaggerExtractor(tagger, data.schemas[category],
                                 TaggerConfig(batch_size=batch_size, span_threshold=span_threshold))
        found = engine.predict([data.documents[i].text for i in indices])
        for i, spans in zip(indices, found):
            rows[i] = {"id": data.gold[i].id,
                       "attributes": {a: (f[0].text if f else None) for a, f in spans.items()}}
    return score(data.gold, [rows[i] for i in range(len(data.gold))]).exact.micro.f1


def calibrate(tagger: Tagger, data: TrainingSet,
              thresholds: Sequence[float | None] = SPAN_THRESHOLDS) -> tuple[float | None, dict[str, float]]:
    """The span threshold with the best validation F1 (the earlier of equals, so the most probable
    labels alone win a tie), and the F1 of each one tried (``argmax`` for None). Clears the
    manifest's threshold; the caller records the one chosen."""
    tagger.manifest.span_threshold = None  # else "None" would mean the threshold of an earlier calibration
    table: dict[str, float] = {}
    best: tuple[float, float | None] = (-1.0, None)
    for threshold in thresholds:
        f1 = validation_f1(tagger, data, span_threshold=threshold)
        table["argmax" if threshold is None else f"{threshold:g}"] = f1
        if f1 > best[0]:
            best = (f1, threshold)
    return best[1], table


def _batches(items: Sequence[Window], size: int, rng: random.Random, pad: int,
             num_labels: int) -> list[dict[str, Any]]:
    """Shuffled, padded batches; ``allowed`` is a (rows, labels) mask of each row's schema labels."""
    import torch

    order = list(range(len(items)))
    rng.shuffle(order)
    out = []
    for at in range(0, len(order), size):
        chunk = [items[i] for i in order[at:at + size]]
        width = max(len(w.input_ids) for w in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        allowed = torch.ones((len(chunk), num_labels), dtype=torch.bool)
        for row, w in enumerate(chunk):
            n = len(w.input_ids)
            ids[row, :n] = torch.tensor(w.input_ids)
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(w.labels)
            if w.allowed is not None:
                allowed[row] = False
                allowed[row, w.allowed] = True
        out.append({"input_ids": ids, "attention_mask": mask, "labels": labels, "allowed": allowed})
    return out


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy over each row's own schema labels. Extraction only ever compares those, so
    training them against every other schema's labels too would spend the head's capacity (and,
    early on, most of the loss) on choices that never arise."""
    import torch

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits.float().masked_fill(~batch["allowed"][:, None, :], torch.finfo(torch.float32).min)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)


def _parameter_groups(model: Any, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: encoder and head (everything outside ``model.base_model``) at their own
    learning rates, each split into decayed weights and undecayed biases and norms."""
    encoder = {id(p) for p in model.base_model.parameters()}
    head_lr = config.head_learning_rate or config.learning_rate
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for name, param in model.named_parameters():
        plain = name.endswith("bias") or "norm" in name.lower()
        groups.setdefault((id(param) in encoder, plain), []).append(param)
    return [{"params": params, "lr": config.learning_rate if in_encoder else head_lr,
             "weight_decay": 0.0 if plain else config.weight_decay}
            for (in_encoder, plain), params in groups.items()]


def fit(tagger: Tagger, train: list[Window], config: TrainConfig, validate: Callable[[], float] | None = None,
        log: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Train ``tagger.model`` in place; return the per-epoch history and the best epoch (whose
    weights the model holds at the end: the best validation F1, or the last epoch without validation)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    if not train:
        raise ConfigError("no training windows: no gold value could be located in the training texts")
    model = tagger.model
    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(_parameter_groups(model, config))
    steps = config.epochs * -(-len(train) // config.batch_size)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup * steps), steps)
    pad = tagger.tokenizer.pad_token_id or 0
    history: list[dict[str, Any]] = []
    best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for batch in _batches(train, config.batch_size, rng, pad, len(tagger.labels)):
            batch = {k: v.to(tagger.device) for k, v in batch.items()}
            loss = _loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            total += loss.item()
            count += 1
        f1 = validate() if validate is not None else None
        history.append({"epoch": epoch, "loss": round(total / count, 5), "f1": f1,
                        "seconds": round(time.perf_counter() - start, 1)})
        if log:
            log(f"epoch {epoch}: loss {total / count:.4f}" + (f", validation F1 {f1:.2f}" if f1 is not None else ""))
        if f1 is None:
            best_epoch = epoch
            continue
        if f1 > best_f1:
            best_f1, best_epoch, stale = f1, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history, best_epoch


def train_tagger(data: TrainingSet, output: str | Path, base_model: str = "minilm-l6",
                 config: TrainConfig | None = None, validation: TrainingSet | None = None,
                 log: Callable[[str], None] | None = None) -> TrainResult:
    """Fine-tune ``base_model`` on ``data`` and save the tagger folder to ``output``.

    Without ``validation``, ``config.validation_share`` of ``data`` is held out for early stopping."""
    import torch

    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    train = data
    if validation is None:
        train, validation = data.split(config.validation_share, config.seed)
    real = train
    train = augmented(train, config.augment, config.augment_copies, config.seed)
    tagger = Tagger.from_encoder(base_model, list(data.schemas.values()), config.window, config.overlap, config.device)
    report = LocateReport()
    train_windows = training_windows(tagger, train, report)
    if log:
        for line in report.lines():
            log(line)
        forms = tagger.manifest.word_forms.values()
        if forms:
            counts = {kind: sum(len(f.get(kind, [])) for f in forms) for kind in ("words", "affixes", "tails")}
            log("word forms (values that are part of a word): "
                + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f", over {len(forms)} attributes")
        for kind, counts in tagger.manifest.endings.items():
            log(describe(kind, counts))
        extra = len(train.documents) - len(real.documents)
        log(f"{len(real.documents)} training texts" + (f" + {extra} augmented" if config.augment else "")
            + f" -> {len(train_windows)} windows; "
            f"{len(validation.documents) if validation else 0} validation texts")
    held = validation if validation is not None and validation.documents else None
    validate = (lambda: validation_f1(tagger, held)) if held is not None else None
    history, best_epoch = fit(tagger, train_windows, config, validate, log)
    best_f1 = history[best_epoch - 1]["f1"]
    manifest = tagger.manifest
    if config.span_threshold is not None:
        manifest.span_threshold = config.span_threshold
    elif held is not None:
        manifest.span_threshold, manifest.calibration = calibrate(tagger, held)
        if log:
            log("span threshold " + ", ".join(f"{k}: {v:.2f}" for k, v in manifest.calibration.items())
                + f"; kept {manifest.span_threshold or 'argmax'}")
    manifest.training_data = real.digest()
    manifest.settings = asdict(config)
    manifest.validation_f1 = best_f1
    manifest.locate = report.to_dict()
    manifest.history = history
    folder = tagger.save(output)
    tagger.name = str(folder)  # records made with the returned tagger name the folder, as a loaded one's do
    return TrainResult(folder=folder, tagger=tagger, report=report, history=history, best_epoch=best_epoch,
                       validation_f1=best_f1, windows=len(train_windows))
