"""extractor: product text in, clean schema-valid attribute records out.

>>> from extractor import Extractor
>>> ex = Extractor.from_pretrained("smollm2-135m", schema="apparel")
>>> ex.extract(["Nike Air Zoom Pegasus 39 men's running shoe, black/white, size 10"])

The public API is ``__all__``: what a user of the library (and ``benchmarks/``) imports. Core types
and errors load with the package; everything else loads on first use (the module ``__getattr__``),
so ``import extractor`` stays light (no torch, no model code).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import (ConfigError, EvaluationError, ExtractorError, InputError, ModelLoadError,
                     NormalizationError, PromptError, SchemaError)
from .records import Document, Provenance, Record
from .schemas import Attribute, Schema, load_schema

# Public name -> (module, attribute there), loaded on first use.
_LAZY: dict[str, tuple[str, str]] = {
    # engines and their description
    "Extractor": (".pipeline", "Extractor"),
    "EngineSpec": (".spec", "EngineSpec"),
    "LLMSpec": (".spec", "LLMSpec"),
    "TaggerSpec": (".spec", "TaggerSpec"),
    "build_engine": (".spec", "build_engine"),
    "load_spec": (".spec", "load_spec"),
    # the LLM pipeline's stages, for callers that run them one by one (benchmarks/decoding.py)
    "render_messages": (".prompts", "render_messages"),
    "build_prompt": (".prompt_build", "build_prompt"),
    "parse_json_object": (".decoding.parse", "parse_json_object"),
    "check_record": (".validate", "check_record"),
    "ModelConfig": (".config", "ModelConfig"),
    "ExtractConfig": (".config", "ExtractConfig"),
    "DECODINGS": (".config", "DECODINGS"),
    "SELECTIONS": (".config", "SELECTIONS"),
    "Shot": (".demos", "Shot"),
    "Backend": (".backends.base", "Backend"),  # the interface a model backend implements
    "load_model": (".models", "load_model"),  # a ModelConfig's backend (loads the weights)
    # the tagger engine and its training
    "TaggerExtractor": (".tagger", "TaggerExtractor"),
    "Tagger": (".tagger", "Tagger"),
    "TaggerConfig": (".tagger", "TaggerConfig"),
    "TrainConfig": (".tagger", "TrainConfig"),
    "TrainingSet": (".tagger", "TrainingSet"),
    "train_tagger": (".tagger", "train_tagger"),
    "PACKAGED_ENCODER": (".tagger", "PACKAGED_ENCODER"),
    "TAGGER_MANIFEST": (".tagger.model", "MANIFEST"),
    "AUGMENTATIONS": (".training.augment", "AUGMENTATIONS"),
    # LoRA adapters written by `extractor finetune`
    "read_adapter_manifest": (".adapter", "read_manifest"),
    "trained_settings": (".adapter", "trained_settings"),
    "find_checkpoint": (".training.lora.checkpoint", "find_checkpoint"),
    # ensembles
    "Ensemble": (".ensemble", "Ensemble"),
    "merge_records": (".ensemble", "merge_records"),
    "merge_runs": (".ensemble", "merge_runs"),
    "ensemble_provenance": (".ensemble", "ensemble_provenance"),
    # files
    "read_documents": (".io", "read_documents"),
    "read_records": (".io", "read_records"),
    "write_records": (".io", "write_records"),
    # evaluation and the public benchmarks' layouts
    "Evaluation": (".evaluate.scorer", "Evaluation"),
    "GoldOffer": (".evaluate.scorer", "GoldOffer"),
    "GOLD_ABSENT": (".evaluate.scorer", "GOLD_ABSENT"),
    "evaluate_files": (".evaluate.scorer", "evaluate_files"),
    "load_gold": (".evaluate.scorer", "load_gold"),
    "read_rows": (".evaluate.scorer", "read_rows"),  # the rows of a whole JSONL file (gold, records)
    "score": (".evaluate.scorer", "score"),
    "format_report": (".evaluate.report", "format_report"),
    "plot_attribute_f1": (".evaluate.report", "plot_attribute_f1"),
    "Benchmark": (".evaluate.datasets", "Benchmark"),
    "DATASETS": (".evaluate.datasets", "DATASETS"),
    "load_benchmark": (".evaluate.datasets", "load_benchmark"),
    "read_offers": (".evaluate.datasets", "read_offers"),
    "resolve_dataset": (".evaluate.datasets", "resolve_dataset"),
    # normalization
    "Normalizer": (".normalize", "Normalizer"),
    "NormalizeSpec": (".normalize", "NormalizeSpec"),
    "parse_normalize_spec": (".normalize", "parse_spec"),
    "Vocabulary": (".normalize", "Vocabulary"),
    "VocabEntry": (".normalize", "VocabEntry"),
    "load_vocab": (".normalize", "load_vocab"),
    "match_key": (".normalize", "match_key"),
    "build_vocabularies": (".normalize.curation", "build_vocabularies"),
    "write_vocabularies": (".normalize.curation", "write_vocabularies"),
}

__all__ = sorted([
    "Attribute", "ConfigError", "Document", "EvaluationError", "ExtractorError", "InputError",
    "ModelLoadError", "NormalizationError", "PromptError", "Provenance", "Record", "Schema", "SchemaError",
    "load_schema", *_LAZY,
])


def __getattr__(name: str) -> Any:
    # Models, prompts, decoding, training and evaluation load on first use; keep `import extractor` light.
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'extractor' has no attribute {name!r}") from None
    value = getattr(import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
