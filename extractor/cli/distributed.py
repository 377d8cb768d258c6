"""The extract-distributed and collect commands: ``extract`` on a Ray Data actor pool, one shard file
per run of input lines, and the join of those files into one output (extractor/distributed/)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..config import ExtractConfig
from ..distributed.config import DistributedConfig
from ..distributed.shards import COLLECT_FORMATS
from .common import EXIT_SOME_LINES, default
from .extract import ENGINE_OPTIONS, engine_spec_from, extract

WORKER_OWN = ("batch_size",)
"""Engine options whose flag means something else here: --batch-size is the lines a worker hands its
engine at a time (the engine's own batch size stays the spec's)."""
INPUT_OPTIONS = ("schema", "schema_field", "id_field", "text_fields", "fmt", "encoding")


def _extract_options(command: click.Command) -> click.Command:
    """Give ``command`` extract's engine options (the same shortcuts, defaults and help), --engine-spec
    and its input options."""
    names = {*ENGINE_OPTIONS, "engine_spec", *INPUT_OPTIONS} - set(WORKER_OWN)
    command.params.extend(copy.copy(p) for p in extract.params if p.name in names)
    return command


def _engine_spec(context: click.Context, options: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The spec --engine-spec or the shortcuts mean, as for extract, but with --batch-size the workers'."""
    from ..spec import load_spec

    if options["engine_spec"]:
        flags = {p.name: next((o for o in p.opts if o.startswith("--") and len(o) > 3), p.opts[0])
                 for p in context.command.params}
        given = [flags[name] for name in ENGINE_OPTIONS if name not in WORKER_OWN
                 and context.get_parameter_source(name) is not ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"--engine-spec describes the engine; {', '.join(given)} cannot be given with it")
        return load_spec(options["engine_spec"])
    return engine_spec_from(context, {**options, "batch_size": default(ExtractConfig, "batch_size")})


def _first_schema(inputs: tuple[str, ...], spec: Any, encoding: str) -> str:
    from ..io import read_documents

    for path in inputs:
        for doc in read_documents(path, spec, encoding):
            if doc.schema:
                return doc.schema
    raise click.UsageError(f"no input line names a schema in field {spec.schema_field!r}; give --schema")


@_extract_options
@click.command("extract-distributed")
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: one part-NNNNN.jsonl per shard, _shards.json (the plan), _summary.json.")
@click.option("--address", default=default(DistributedConfig, "address"), show_default=True,
              help="local: Ray on this machine; auto: join the running cluster (`ray start`); or a cluster address "
                   "(ray://host:10001).")
@click.option("--workers", default=default(DistributedConfig, "workers"), show_default=True, type=click.IntRange(1),
              help="Actors, each loading the engine once.")
@click.option("--gpus-per-worker", default=default(DistributedConfig, "gpus_per_worker"), show_default=True,
              type=click.FloatRange(0), help="GPUs reserved per actor (0.5: two actors share a GPU).")
@click.option("--cpus-per-worker", default=default(DistributedConfig, "cpus_per_worker"), show_default=True,
              type=click.FloatRange(0), help="CPUs reserved per actor.")
@click.option("--batch-size", default=default(DistributedConfig, "batch_size"), show_default=True,
              type=click.IntRange(1),
              help="Lines a worker hands its engine at a time; a batch that makes the engine raise becomes failed "
                   "records (the engine's own batch size is the spec's).")
@click.option("--shard-lines", default=default(DistributedConfig, "shard_lines"), show_default=True,
              type=click.IntRange(1),
              help="Lines per shard: the unit written, retried and resumed. A rerun on the same folder keeps it.")
@click.option("--progress/--no-progress", default=default(DistributedConfig, "progress"), show_default=True,
              help="Show Ray Data's progress bars on stderr.")
def extract_distributed(inputs: tuple[str, ...], output_dir: str, address: str, workers: int,
                        gpus_per_worker: float, cpus_per_worker: float, batch_size: int, shard_lines: int,
                        progress: bool, **options: Any) -> None:
    """Extract INPUT files (JSONL or CSV) on a Ray Data actor pool into shard files in a folder.

    The input lines are cut into shards of whole lines; each actor builds the engine from the spec
    once (--engine-spec, or the usual engine options) and extracts shard after shard. Every input line
    yields exactly one record, in its shard's file, in input order; a shard is written to a .partial file
    and moved into place when whole. Run the same command again to finish an interrupted run: finished
    shards are skipped and partial ones continued. A worker that dies is restarted and its shard redone.

    \b
    Examples:
      extractor extract-distributed offers.jsonl --schema apparel -o out/ --workers 4
      extractor extract-distributed a.jsonl b.jsonl --engine-spec spec.yaml -o out/ --address auto --gpus-per-worker 1
      extractor collect out/ -o records.jsonl
    """
    from ..distributed.run import run_distributed
    from ..io import InputSpec, read_documents
    from ..lines import check_encoding

    context = click.get_current_context()
    spec = _engine_spec(context, {**options, "batch_size": batch_size})
    schema, schema_field = options["schema"], options["schema_field"]
    if schema is None and schema_field is None:
        raise click.UsageError("give --schema (or --schema-field to read each line's schema)")
    for path in inputs:
        if path == "-" or not Path(path).is_file():
            raise click.UsageError(f"input file not found: {path} "
                                   "(extract-distributed reads files, not standard input)")
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise click.UsageError(f"-o {output_dir} is a file; extract-distributed writes a folder")
    input_spec = InputSpec(id_field=options["id_field"], text_fields=options["text_fields"] or None,
                           schema_field=schema_field, format=options["fmt"])
    encoding = check_encoding(options["encoding"])
    for path in inputs:
        read_documents(path, input_spec, encoding)  # a CSV file's header is checked before Ray starts
    config = DistributedConfig(workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
                               batch_size=batch_size, shard_lines=shard_lines, address=address, progress=progress)
    summary = run_distributed(spec, list(inputs), output_dir, schema or _first_schema(inputs, input_spec, encoding),
                              config, input_spec=input_spec, encoding=encoding)
    totals, shards = summary["totals"], summary["shards"]
    ran = sum(1 for row in shards if row["this_run"])
    click.echo(f"{totals['lines']} records in {len(shards)} shards: {totals['ok']} ok, {totals['invalid']} invalid, "
               f"{totals['failed']} failed; {ran} shard(s) extracted in this run, {len(shards) - ran} done before, "
               f"in {summary['seconds']:.1f} s. Join them: extractor collect {output_dir} -o records.jsonl", err=True)
    if totals["failed"] or totals["invalid"]:
        raise click.exceptions.Exit(EXIT_SOME_LINES)


@click.command("collect")
@click.argument("folder", metavar="OUT_DIR", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The joined records: one per input line, in input order.")
@click.option("--format", "fmt", type=click.Choice(COLLECT_FORMATS), default="jsonl", show_default=True,
              help="jsonl: the file a single-process extract writes; parquet: columns id, status, error and record "
                   "(the record's JSON line; needs pyarrow).")
def collect_command(folder: str, output: str, fmt: str) -> None:
    """Join the shard files of an extract-distributed output folder into one file, in input order.

    Refuses (naming them) when shards are not finished: rerun extract-distributed to finish them."""
    from ..distributed.shards import collect
    from ..io import check_output

    check_output(output)
    count = collect(folder, output, fmt)
    click.echo(f"{count} records written to {output}", err=True)
