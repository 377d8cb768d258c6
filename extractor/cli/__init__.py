"""The command line: each command parses options, calls one library function and prints.

The commands live in the modules of this package and are listed once, in the command table at the
end of this file (no command registers itself by import). Library errors (ExtractorError) become one
clear message and exit status 1; heavy libraries are imported inside commands so ``extractor --help``
stays instant. The exit statuses are the EXIT_* constants (in ``common``), listed in ``extractor --help``
for scripts."""

from __future__ import annotations

import sys

import click

from ..errors import ExtractorError
from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_LINES, EXIT_USAGE
from .distributed import collect_command, extract_distributed
from .evaluate import evaluate_command, merge_command
from .extract import extract
from .label import label
from .normalize import normalize_command, vocab
from .schemas import schemas
from .serve import serve
from .train import export_command, finetune_command, finetune_tagger_command

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SOME_LINES", "EXIT_USAGE", "main"]


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ExtractorError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:
            click.echo("interrupted; what was written is whole (extract --resume continues it)", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="extractor")
def main() -> None:
    """Turn messy product text into clean, schema-valid attribute records.

    \b
    Quick start (embedded SmolLM2-135M model, runs on a laptop CPU):
      extractor extract examples/products.jsonl --schema apparel -o records.jsonl
      extractor schemas list

    \b
    Exit status:
      0    every line gave an ok record
      1    the command could not run (unreadable file, bad schema, model not loaded)
      2    usage error (a wrong option or argument)
      3    finished, one line per input line, but some lines are failed or invalid
      130  interrupted (Ctrl-C); output written so far is whole, --resume continues it
    """


# --- the command table ---------------------------------------------------------------------
# Using models: schemas, extract (schemas.py, extract.py); judging and combining their records:
# evaluate, merge (evaluate.py); making models: finetune, export, finetune-tagger (train.py);
# training data for a new schema: label (label.py);
# canonical values: normalize, vocab (normalize.py); extraction over HTTP: serve (serve.py);
# catalogs on a Ray cluster: extract-distributed, collect (distributed.py).

COMMANDS: tuple[click.Command, ...] = (
    schemas,
    extract,
    extract_distributed,
    collect_command,
    evaluate_command,
    merge_command,
    finetune_command,
    export_command,
    finetune_tagger_command,
    label,
    normalize_command,
    vocab,
    serve,
)
"""Every command of ``extractor``, added to ``main`` below (``--help`` lists them by name)."""

for _command in COMMANDS:
    main.add_command(_command)
del _command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
