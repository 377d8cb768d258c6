"""Commands that judge and combine records already written: evaluate (score against benchmark
gold) and merge (records files of several runs)."""

from __future__ import annotations

import click

from .common import EXIT_SOME_LINES, with_progress


@click.command("evaluate")
@click.option("--gold", "gold_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Benchmark gold JSONL (target_scores per offer; \"n/a\" = absent).")
@click.option("--pred", "pred_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Our output records JSONL (one record per offer).")
@click.option("--subset", is_flag=True,
              help="Score only the gold offers that have a prediction (by id; a --limit run).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of tables.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Also write per-attribute F1 bars to this PNG (needs matplotlib).")
def evaluate_command(gold_path: str, pred_path: str, subset: bool, as_json: bool, plot_path: str | None) -> None:
    """Score records against benchmark gold: NN/NV/VN/VC/VW counts and precision, recall, F1
    (percent, micro over all slots, per category and per attribute), exact and lenient."""
    import json

    from ..evaluate.report import evaluation_to_dict, format_report, plot_attribute_f1
    from ..evaluate.scorer import evaluate_files

    evaluation = evaluate_files(gold_path, pred_path, subset=subset)
    if as_json:
        click.echo(json.dumps(evaluation_to_dict(evaluation), indent=2, ensure_ascii=False))
    else:
        click.echo(format_report(evaluation))
    if plot_path:
        written = plot_attribute_f1(evaluation, plot_path)
        click.echo(f"plot written to {written}", err=True)


# --- merge -------------------------------------------------------------------------------

@click.command("merge")
@click.argument("records", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(allow_dash=True),
              help="Merged records JSONL (one line per input line); - for standard output.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
def merge_command(records: tuple[str, ...], output: str, progress: bool) -> None:
    """Merge the records files that several runs wrote for one input file (taggers of other seeds or
    encoders, LLM runs, in any mix), line by line, by the rule of extract --with-tagger: per attribute
    the value the runs are surest of together wins, null only when no run found one.

    \b
    Runs may be done apart (other machines, other days) and merged here:
      extractor extract offers.jsonl -s apparel --engine tagger -m tagger-a -o a.jsonl
      extractor extract offers.jsonl -s apparel --engine tagger -m tagger-b -o b.jsonl
      extractor merge a.jsonl b.jsonl -o merged.jsonl

    The files must hold the same ids in the same order and the same schema (versions of it
    that name the same attributes merge). The first file wins ties. A line no file has a record
    for becomes an error line (exit status 3).
    Canonical values are not carried over (they belonged to each run's values): run `extractor
    normalize` on the merged file."""
    from ..ensemble import merge_files

    stats = with_progress(progress, records[0], lambda on_line: merge_files(records, output, on_line))
    click.echo(f"{stats.records} merged records -> {output}" + (f" ({stats.errors} error lines)" if stats.errors else ""),
               err=True)
    if stats.bad_lines:
        click.echo(f"{stats.bad_lines} member lines were not records; the others were merged without them", err=True)
    for name, versions in sorted(stats.schema_versions.items()):
        click.echo(f"note: the runs used {len(versions)} versions of schema {name} ({', '.join(sorted(versions))}) "
                   "with the same attributes; merged by attribute name", err=True)
    if stats.errors:
        raise click.exceptions.Exit(EXIT_SOME_LINES)
