"""The library's errors. Every error the library raises on purpose derives from ExtractorError;
the CLI turns them into one clear message and a non-zero exit, never a traceback."""

from __future__ import annotations


class ExtractorError(Exception):
    """Base of every error the library raises on purpose."""


class SchemaError(ExtractorError):
    """A schema is not in the supported subset, or cannot be found or read.

    ``path`` is a JSON-pointer-like location inside the schema (``/properties/Color/type``)."""

    def __init__(self, message: str, *, schema: str | None = None, path: str | None = None) -> None:
        self.schema = schema
        self.path = path
        where = ""
        if schema:
            where += f"schema {schema!r}"
        if path:
            where += f"{' ' if where else ''}at {path}"
        super().__init__(f"{where}: {message}" if where else message)


class PromptError(ExtractorError):
    """A prompt template or demonstration (shots) file is missing or malformed."""


class ModelLoadError(ExtractorError):
    """A model, tokenizer or adapter could not be loaded as asked."""


class InputError(ExtractorError):
    """An input file cannot be read at all (a single bad line becomes an error record instead)."""


class ConfigError(ExtractorError):
    """A configuration value or key is invalid."""


class NormalizationError(ExtractorError):
    """A vocabulary or normalization specification is invalid."""


class EvaluationError(ExtractorError):
    """Gold and predictions cannot be scored together (e.g. counts differ and ids are missing)."""
