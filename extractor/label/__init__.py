"""Labelled data for a schema that has none: an engine's records as pre-annotated tasks for a
person to correct in Label Studio, the corrected export read back as training lines, and an
engine's own records as silver labels for a tagger (distillation).

    offsets.py      Python string positions <-> Label Studio's (JavaScript UTF-16 code units)
    tasks.py        records -> Label Studio tasks with pre-annotations, and the labelling config
    annotations.py  a Label Studio export -> ``{"text", "record"}`` lines (finetune, finetune-tagger)
    silver.py       an engine's records -> a tagger's TrainingSet (values below a confidence dropped)

Importing this package is cheap: no model code loads."""

from __future__ import annotations

from .annotations import ImportReport, labelled_lines, read_export
from .offsets import from_utf16, to_utf16
from .silver import SilverReport, silver_set, silver_training_set
from .tasks import (ORDERS, TaskConfig, TaskReport, labelling_config, make_tasks, tasks_from_engine,
                    tasks_from_records, write_tasks)

__all__ = ["ImportReport", "ORDERS", "SilverReport", "TaskConfig", "TaskReport", "from_utf16", "labelled_lines",
           "labelling_config", "make_tasks", "read_export", "silver_set", "silver_training_set", "tasks_from_engine",
           "tasks_from_records", "to_utf16", "write_tasks"]
