"""The label command: an engine's records as Label Studio tasks to correct, and a Label Studio
export read back as training lines (``extractor/label/``)."""

from __future__ import annotations

from pathlib import Path

import click

from ..label.tasks import OFFSETS, ORDERS, TaskConfig
from .common import EXIT_SOME_LINES, default, progress_bar
from .extract import ENGINE_OPTIONS, extract

SHARED_OPTIONS = (*ENGINE_OPTIONS, "schema", "id_field", "text_fields", "fmt", "encoding", "engine_spec", "progress")
"""extract's options that label takes as they are: the engine (or --engine-spec) and how INPUT is read."""


@click.command("label")
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(allow_dash=True))
@click.option("-o", "--output", required=True, type=click.Path(allow_dash=True),
              help="Tasks file to write (a JSON array for Label Studio's import; the labelling config is written "
                   "beside it as <name>.config.xml); with --import, the training lines (JSONL) to write.")
@click.option("--import", "export_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Read this Label Studio export (JSON) instead of running an engine, and write each annotated "
                   "task's text and record as a training line for finetune-tagger and finetune.")
@click.option("--order", type=click.Choice(ORDERS), default=default(TaskConfig, "order"), show_default=True,
              help="Task order: as INPUT, or least-confident first (the records the engine is least sure of, "
                   "which a correction teaches most).")
@click.option("--offsets", type=click.Choice(OFFSETS), default=default(TaskConfig, "offsets"), show_default=True,
              help="How the tasks' region offsets count: utf-16 (JavaScript string positions, as Label Studio's text "
                   "labelling does) or code-points (for a Label Studio version that stores those). --import reads "
                   "either, checking each region against its text.")
@click.option("--records", "records_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Make the tasks from the records an earlier `extract` run wrote from INPUT (one per line) instead "
                   "of running an engine.")
@click.option("--predictions", is_flag=True,
              help="With --import: a task nobody annotated gives the engine's pre-annotations instead, without the "
                   "regions scored below --min-confidence (so label's own tasks file becomes silver training lines).")
def label(input_path: str | None, output: str, export_path: str | None, order: str, offsets: str,
          records_path: str | None, predictions: bool, **options: object) -> None:
    """Make Label Studio tasks from an engine's records on INPUT, or read the corrected export back.

    Without --import: run the engine (the same options as `extract`, or --engine-spec) over INPUT
    and write one task per line, its values pre-annotated as spans labelled with their attribute
    and scored with the engine's confidence, plus the labelling config for the schema. Import both
    into a Label Studio project, correct, export as JSON.

    With --import: write the latest non-cancelled annotation of each task as a {"text", "record"}
    line (tasks without one are skipped and counted on stderr). Label Studio counts offsets in
    UTF-16 units; they are converted, so emoji and other astral characters keep spans in place.

    \b
    Examples:
      extractor label offers.jsonl --schema apparel -o tasks.json --order least-confident
      extractor label --import export.json -o labelled.jsonl
      extractor finetune-tagger labelled.jsonl --schema apparel -o runs/tagger
    """
    if export_path is not None:
        if records_path is not None:
            raise click.UsageError("--records makes tasks; --import reads an export")
        _import(export_path, output, input_path, predictions, options)
        return
    if predictions:
        raise click.UsageError("--predictions applies to --import")
    if input_path is None:
        raise click.UsageError("give INPUT (offers to label) or --import EXPORT")
    _tasks(input_path, output, TaskConfig(order=order, offsets=offsets, schema_name=str(options["schema"] or "")),
           records_path, options)


def _import(export_path: str, output: str, input_path: str | None, predictions: bool,
            options: dict[str, object]) -> None:
    from ..io import check_output, written_whole
    from ..label import labelled_lines, read_export
    from ..lines import dump_line
    from ..schemas import load_schema

    if input_path is not None:
        raise click.UsageError("--import reads the export; INPUT is for making tasks")
    context = click.get_current_context()
    allowed = ("schema", "progress", "min_confidence") if predictions else ("schema", "progress")
    given = [name for name in options if name not in allowed and
             context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
    if given:
        raise click.UsageError(f"--import takes only -o, --schema and --predictions (with --min-confidence), "
                               f"not {', '.join(sorted(given))}")
    check_output(output, [export_path])
    schema = load_schema(str(options["schema"])) if options["schema"] else None
    lines, report = labelled_lines(read_export(export_path), schema, predictions,
                                   float(options["min_confidence"]))  # type: ignore[arg-type]
    with written_whole(output) as partial:
        with open(partial, "w", encoding="utf-8") if partial != "-" else _stdout() as handle:
            for line in lines:
                handle.write(dump_line(line))
    for message in report.messages():
        click.echo(message, err=True)


def _stdout():  # type: ignore[no-untyped-def]
    import contextlib
    import sys

    return contextlib.nullcontext(sys.stdout)


def _tasks(input_path: str, output: str, config: TaskConfig, records_path: str | None,
           options: dict[str, object]) -> None:
    from ..io import InputSpec, check_output, count_lines, iter_records, read_documents
    from ..label import labelling_config, tasks_from_engine, tasks_from_records, write_tasks
    from ..lines import check_encoding
    from ..schemas import load_schema
    from ..spec import build_engine
    from .extract import engine_spec_from

    context = click.get_current_context()
    if records_path is not None:
        given = [name for name in (*ENGINE_OPTIONS, "engine_spec")
                 if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"--records holds the engine's records; {', '.join(given)} cannot be given with it")
    else:
        engine_description = engine_spec_from(context, context.params)
    schema = options["schema"]
    if not schema:
        raise click.UsageError("give --schema: a labelling project holds one schema")
    if output == "-":
        raise click.UsageError("-o must name a file: the labelling config is written beside it")
    if input_path != "-" and not Path(input_path).is_file():
        raise click.UsageError(f"input file not found: {input_path}")
    encoding = check_encoding(str(options["encoding"]))
    text_fields = tuple(options["text_fields"]) or None  # type: ignore[call-overload]
    spec = InputSpec(id_field=str(options["id_field"]), text_fields=text_fields, format=str(options["fmt"]))
    check_output(output, [input_path])
    documents = list(read_documents(input_path, spec, encoding))  # checked before the model loads
    if records_path is not None:
        check_output(output, [records_path])
        schema_obj = load_schema(str(schema))
        tasks, report = tasks_from_records(documents, iter_records(records_path), schema_obj, config)
        config_path = write_tasks(output, tasks, labelling_config(schema_obj))
        for message in report.lines():
            click.echo(message, err=True)
        click.echo(f"tasks written to {output}, labelling config to {config_path}", err=True)
        return
    engine = build_engine(engine_description, str(schema))
    bar = progress_bar(bool(options["progress"]), count_lines(input_path) if input_path != "-" else None, 0)
    tasks, report, summary = tasks_from_engine(engine, documents, config,
                                               on_record=None if bar is None else lambda _: bar.update(1))
    if bar is not None:
        bar.close()
    config_path = write_tasks(output, tasks, labelling_config(engine.schema))
    click.echo(summary.line(), err=True)
    for message in report.lines():
        click.echo(message, err=True)
    click.echo(f"tasks written to {output}, labelling config to {config_path}", err=True)
    if summary.failed or summary.invalid:
        raise click.exceptions.Exit(EXIT_SOME_LINES)


label.params.extend(p for p in extract.params if p.name in SHARED_OPTIONS)
