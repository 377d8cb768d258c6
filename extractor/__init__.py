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
    "load_pretrained": (".models", "load_pretrained"),  # load_model's last step, with from_pretrained's kwargs given
    "nf4_config": (".models", "nf4_config"),  # the bitsandbytes settings of quantize="4bit"
    "model_loader": (".models", "model_loader"),  # load_model's hook: another loader inside a block
    # the KV cache's measurement switch: transformers' grouped-query SDPA on a masked batch (benchmarks/decoding.py)
    "gqa_switch": (".decoding.kvcache", "gqa_switch"),
    # the tagger engine and its training
    "TaggerExtractor": (".tagger", "TaggerExtractor"),
    "Tagger": (".tagger", "Tagger"),
    "TaggerConfig": (".tagger", "TaggerConfig"),
    "TrainConfig": (".tagger", "TrainConfig"),
    "TrainingSet": (".tagger", "TrainingSet"),
    "train_tagger": (".tagger", "train_tagger"),
    "relearn_tables": (".tagger.train", "relearn_tables"),  # a trained tagger's learned tables, learned again
    "LEARNED_TABLES": (".tagger.train", "LEARNED_TABLES"),
    "describe_ending": (".tagger.endings", "describe"),  # one line on a learned ending table
    "PACKAGED_ENCODER": (".tagger", "PACKAGED_ENCODER"),
    "TAGGER_MANIFEST": (".tagger.model", "MANIFEST"),
    "AUGMENTATIONS": (".training.augment", "AUGMENTATIONS"),
    # a benchmark file's offers as `finetune` examples (text, first gold forms, schema): distill.py's folds
    "examples_of_target_scores": (".training.examples", "examples_of_target_scores"),
    # labelled data for a new schema: Label Studio tasks and exports, silver labels (extractor/label/)
    "make_tasks": (".label", "make_tasks"),
    "tasks_from_engine": (".label", "tasks_from_engine"),
    "tasks_from_records": (".label", "tasks_from_records"),
    "labelling_config": (".label", "labelling_config"),
    "write_tasks": (".label", "write_tasks"),
    "read_export": (".label", "read_export"),
    "labelled_lines": (".label", "labelled_lines"),
    "silver_set": (".label", "silver_set"),
    "silver_training_set": (".label", "silver_training_set"),
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
    "offer_text": (".evaluate.datasets", "offer_text"),  # the text the model reads for one benchmark line
    "resolve_dataset": (".evaluate.datasets", "resolve_dataset"),
    # running an engine over a benchmark split, and BENCHMARKS.md's formats (what benchmarks/ share)
    "QualityRun": (".evaluate.runner", "QualityRun"),
    "run_quality": (".evaluate.runner", "run_quality"),
    "extract_benchmark": (".evaluate.runner", "extract_benchmark"),
    "shots_for": (".evaluate.runner", "shots_for"),
    "first_category": (".evaluate.runner", "first_category"),
    "prompt_settings": (".evaluate.runner", "prompt_settings"),
    "benchmark_extractor": (".evaluate.runner", "benchmark_extractor"),
    "git_commit": (".evaluate.runner", "git_commit"),
    "peak_rss_gb": (".evaluate.runner", "peak_rss_gb"),
    "slug": (".evaluate.runner", "slug"),
    "QUALITY_TABLE_HEADER": (".evaluate.runner", "QUALITY_TABLE_HEADER"),
    "QUALITY_TABLE_RULE": (".evaluate.runner", "QUALITY_TABLE_RULE"),
    "quality_row": (".evaluate.runner", "quality_row"),
    "append_quality_row": (".evaluate.runner", "append_quality_row"),
    "append_table_row": (".evaluate.runner", "append_table_row"),
    "table_row": (".evaluate.runner", "table_row"),
    "QUALITY_SECTION": (".evaluate.runner", "QUALITY_SECTION"),
    "clean_commit": (".evaluate.runner", "clean_commit"),
    "recorded_command": (".evaluate.runner", "recorded_command"),
    # batch extraction on Ray Data (`extract-distributed`; Ray itself loads only when a run starts)
    "ExtractUDF": (".distributed.udf", "ExtractUDF"),  # a row-level callable class for Dataset.map_batches
    "DistributedConfig": (".distributed.config", "DistributedConfig"),
    "run_distributed": (".distributed.run", "run_distributed"),
    "collect_shards": (".distributed.shards", "collect"),
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
    "normalizers_from_pairs": (".normalize.pairs", "normalizers_from_pairs"),  # WDC-PAVE's train pairs' rules
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
