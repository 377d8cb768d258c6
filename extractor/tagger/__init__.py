"""The tagger engine: a fine-tuned encoder that tags attribute spans (BIO over tokens) instead of
generating. It reads each text once, so it suits large catalogs on a CPU; it writes the same
records (values are exact spans with offsets) behind the same schemas, normalizer and scorer.

    labels.py  labels per (schema, attribute): O, B-<key>, I-<key> (the bottom layer)
    tokens.py  a text's tokens with their offsets, windows with overlap
    data.py    locate gold values, BIO labels over the tokenizer's offsets, training files
    model.py   the encoder + head, the saved folder and its manifest
    train.py   the training loop with early stopping on validation F1
    engine.py  TaggerExtractor: windows -> encoder -> spans -> validated records

Importing this package is cheap: torch and transformers load only when a model does."""

from __future__ import annotations

from .data import LocateReport, TrainingSet, locate, read_training_file
from .engine import TaggerConfig, TaggerExtractor
from .model import PACKAGED_ENCODER, LabelSet, Manifest, Tagger, resolve_encoder
from .train import TrainConfig, TrainResult, train_tagger

__all__ = ["LabelSet", "LocateReport", "Manifest", "PACKAGED_ENCODER", "Tagger", "TaggerConfig", "TaggerExtractor",
           "TrainConfig", "TrainResult", "TrainingSet", "locate", "read_training_file", "resolve_encoder",
           "train_tagger"]
