"""Normalization commands: normalize (canonical values beside the raw ones) and vocab (build,
suggest and list vocabularies)."""

from __future__ import annotations

import click

from .common import EXIT_SOME_LINES, with_progress

# --- normalize, vocab ----------------------------------------------------------------------

@click.command("normalize")
@click.argument("records", type=click.Path(exists=True, dir_okay=False))
@click.option("--schema", "schema_ref", required=True, help="Shipped schema name or schema file with x-normalize blocks.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Normalized records JSONL (may be RECORDS itself: it is replaced at the end); - for standard output.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
def normalize_command(records: str, schema_ref: str, output: str, progress: bool) -> None:
    """Add canonical values beside the raw ones in a records JSONL file.

    Each record gets a "normalized" object: per attribute {value, raw, method, score, matched}
    (see docs/normalization.md); unmatched values are kept raw and flagged, never dropped.
    Every line gives one output line; a line that is not a record becomes an error line
    (exit status 3)."""
    from pathlib import Path

    from ..normalize import Normalizer, normalize_file
    from ..schemas import load_schema

    normalizer = Normalizer.from_schema(load_schema(schema_ref))
    stats = with_progress(progress, records, lambda on_line: normalize_file(Path(records), Path(output), normalizer,
                                                                             on_line))
    methods = ", ".join(f"{m} {n}" for m, n in stats.methods.most_common())
    click.echo(f"{stats.records} records -> {output} ({methods or 'no values'})", err=True)
    if stats.unmatched:
        click.echo("unmatched: " + ", ".join(f"{a} {n}" for a, n in stats.unmatched.most_common())
                   + "  (see `extractor vocab suggest`)", err=True)
    if stats.bad_lines:
        click.echo(f"{stats.bad_lines} lines were not records; they are error lines in the output", err=True)
        raise click.exceptions.Exit(EXIT_SOME_LINES)


@click.group()
def vocab() -> None:
    """Build, suggest and list normalization vocabularies."""


@vocab.command("list")
def vocab_list() -> None:
    """List the shipped vocabularies."""
    from ..normalize import load_vocab, shipped_vocabularies

    for name in shipped_vocabularies():
        v = load_vocab(name)
        click.echo(f"{name:<10} {len(v):>3} entries  {v.description}")


@vocab.command("build")
@click.argument("pairs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder for <attribute>.json files.")
@click.option("--attribute", "attributes", multiple=True, help="Only this attribute (repeatable).")
@click.option("--by-category", is_flag=True, help="One vocabulary per category/attribute instead of per attribute.")
@click.option("--min-count", default=1.0, show_default=True, help="Votes a raw spelling needs to become an alias.")
@click.option("--heads", is_flag=True, help="Also learn head words (\"ring\" of \"wedding ring\") for contains matching.")
def vocab_build(pairs: tuple[str, ...], output: str, attributes: tuple[str, ...], by_category: bool,
                min_count: float, heads: bool) -> None:
    """Derive alias tables from raw -> canonical pairs (JSONL; see docs/normalization.md)."""
    from pathlib import Path

    from ..normalize.curation import build_vocabularies, slug, write_vocabularies

    vocabularies, reports = build_vocabularies([Path(p) for p in pairs], attributes=attributes,
                                               by_category=by_category, min_count=min_count, heads=heads)
    write_vocabularies(vocabularies, Path(output))
    for r in reports:
        click.echo(f"{slug(r.name) + '.json':<48} {r.entries:>4} canonicals {r.aliases:>5} aliases "
                   f"({r.heads} head words) from {r.votes:g} votes; {len(r.dropped)} spellings left out")


@vocab.command("suggest")
@click.argument("records", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder for proposals.")
@click.option("--attribute", "attributes", multiple=True, help="Only this attribute (repeatable).")
@click.option("--min-count", default=2, show_default=True, help="Occurrences a cluster needs to be proposed.")
@click.option("--threshold", default=85.0, show_default=True, help="token_sort_ratio that joins a cluster.")
def vocab_suggest(records: str, output: str, attributes: tuple[str, ...], min_count: int, threshold: float) -> None:
    """Cluster the unmatched values of a normalized run into proposed entries for review."""
    import json
    from pathlib import Path

    from ..normalize.curation import slug, suggest_entries

    proposals = suggest_entries(Path(records), attributes=attributes, min_count=min_count, threshold=threshold)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    for name, document in proposals.items():
        path = folder / f"{slug(name)}.suggested.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"{path}: {len(document['entries'])} proposed entries")
    if not proposals:
        click.echo("no unmatched values seen often enough to propose")
