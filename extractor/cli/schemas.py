"""The schemas commands: list, show and check attribute schemas."""

from __future__ import annotations

import click


@click.group()
def schemas() -> None:
    """List and show attribute schemas."""


@schemas.command("list")
def schemas_list() -> None:
    """List the shipped schemas with their ids and attributes."""
    from ..schemas import load_schema, shipped_schemas

    for name in shipped_schemas():
        schema = load_schema(name)
        click.echo(f"{name:<14} {schema.id:<28} {len(schema.attributes):>2} attributes: {', '.join(schema.names)}")


@schemas.command("show")
@click.argument("name_or_path")
def schemas_show(name_or_path: str) -> None:
    """Print a schema (shipped name or file path) after checking it.

    Standard output is the schema itself, so `schemas show NAME > my.schema.json` gives a file
    that `schemas check` accepts with the same id; the id goes to standard error."""
    import json

    from ..schemas import load_schema

    schema = load_schema(name_or_path)
    click.echo(f"# id: {schema.id}", err=True)
    if not schema.document.get("title"):
        # The name, and so the id, of a schema without a title comes from its file name.
        click.echo(f"# no \"title\": named {schema.name!r} after its file; saved under another file name it "
                   "gets another name and id (add a \"title\" to keep them)", err=True)
    click.echo(json.dumps(schema.document, indent=2, ensure_ascii=False))


@schemas.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def schemas_check(path: str) -> None:
    """Check a schema file against the supported subset; print its id."""
    from ..schemas import load_schema

    schema = load_schema(path)
    click.echo(f"ok: {schema.id} ({len(schema.attributes)} attributes)")
