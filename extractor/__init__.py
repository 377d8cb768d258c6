"""extractor: product text in, clean schema-valid attribute records out.

>>> from extractor import Extractor
>>> ex = Extractor.from_pretrained("smollm2-135m", schema="apparel")
>>> ex.extract(["Nike Air Zoom Pegasus 39 men's running shoe, black/white, size 10"])
"""

from __future__ import annotations

from .errors import (ConfigError, EvaluationError, ExtractorError, InputError, ModelLoadError,
                     NormalizationError, PromptError, SchemaError)
from .records import Document, Provenance, Record
from .schemas import Attribute, Schema, load_schema

__all__ = [
    "Attribute", "ConfigError", "Document", "EvaluationError", "Extractor", "ExtractorError", "InputError",
    "ModelLoadError", "NormalizationError", "PromptError", "Provenance", "Record", "Schema", "SchemaError",
    "load_schema",
]


def __getattr__(name: str):
    # The pipeline pulls in the prompt/decoding modules; keep `import extractor` light.
    if name == "Extractor":
        from .pipeline import Extractor

        return Extractor
    raise AttributeError(name)
