"""The extract command, and the engine spec its engine options mean (``--print-spec``, or
``--engine-spec`` in their place)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..config import DTYPES, ExtractConfig, ModelConfig
from ..spec import TaggerSpec
from .common import EXIT_SOME_LINES, default, progress_bar


@click.command("extract")
@click.argument("input_path", metavar="INPUT", required=False, type=click.Path(allow_dash=True))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(allow_dash=True),
              help="Output JSONL file (one record per input line); - for standard output.")
@click.option("-s", "--schema", default=None,
              help="Schema: a shipped name (see `extractor schemas list`) or a .schema.json path.")
@click.option("--schema-field", default=None,
              help="Input field naming each line's schema (lines without it use --schema).")
@click.option("-m", "--model", default=default(ModelConfig, "model"), show_default=True,
              help="smollm2-135m (embedded), a Hugging Face id, a local model folder, or a .gguf file; "
                   "with --engine tagger, a folder written by `extractor finetune-tagger`.")
@click.option("--engine", type=click.Choice(["llm", "tagger"]), default="llm", show_default=True,
              help="llm: a decoder model prompted per product; tagger: a fine-tuned encoder that tags value spans "
                   "(reads each text once; prompt, shots, adapter and decoding options do not apply).")
@click.option("--with-tagger", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Also run this tagger (a folder written by `extractor finetune-tagger`; repeatable) on each text "
                   "and merge its record with the --model engine's: per attribute the value the engines are surest "
                   "of together wins, and null only when no engine found a value (higher recall, about the same "
                   "precision; see docs/engines.md).")
@click.option("--average-tagger", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Average the token probabilities of this tagger (another seed, data or encoder, trained for the "
                   "same attributes; repeatable) with --model's (--engine tagger) or else the first --with-tagger's, "
                   "before decoding: the averaged taggers are one engine, reading the first one's tokens.")
@click.option("--adapter", default=None, type=click.Path(exists=True, file_okay=False),
              help="peft (LoRA) adapter folder to apply on top of the model.")
@click.option("--force-adapter", is_flag=True,
              help="Use --adapter even when its manifest names another prompt, schema or base model.")
@click.option("--quantize", type=click.Choice(["4bit"]), default=None,
              help="Load the model in bitsandbytes NF4 4-bit (needs a CUDA GPU).")
@click.option("--dtype", type=click.Choice(DTYPES), default=default(ModelConfig, "dtype"),
              show_default=True, help="Weights of the LLM and the taggers: auto = bfloat16 on CUDA and on CPUs with AMX tiles "
                   "(faster there), float32 on other CPUs.")
@click.option("--device", default=default(ModelConfig, "device"), show_default=True,
              help="auto, cpu, cuda, cuda:1, ...")
@click.option("--shots", default=None, type=click.Path(exists=True),
              help="Demonstrations: JSONL of {text, record}, or a folder of <schema>.jsonl. "
                   "Default: those shipped with the schema.")
@click.option("-k", "--k", "k", default=default(ExtractConfig, "k"), show_default=True, type=click.IntRange(0),
              help="Demonstrations shown before each input (0 = zero-shot). With --adapter, the prompt settings "
                   "it was trained with (k, selection, text and shot truncation) are the defaults.")
@click.option("--selection", type=click.Choice(["similar", "first", "random"]),
              default=default(ExtractConfig, "selection"), show_default=True,
              help="How demonstrations are chosen for each input.")
@click.option("--seed", default=default(ExtractConfig, "seed"), show_default=True, help="Seed for --selection random.")
@click.option("--decoding", type=click.Choice(["constrained", "free"]), default=default(ExtractConfig, "decoding"),
              show_default=True,
              help="constrained: the program writes the JSON and the model only the values (spans of the text, "
                   "enum members, numbers), so every record is valid; free: the model writes the JSON, which is "
                   "parsed tolerantly and re-asked on errors.")
@click.option("--min-confidence", default=default(ExtractConfig, "min_confidence"), show_default=True,
              type=click.FloatRange(0, 1),
              help="Constrained decoding: values with a lower confidence become null (and say so in warnings).")
@click.option("--span-threshold", default=None, type=click.FloatRange(0, 1, min_open=True),
              help="Tagger (--engine tagger, --with-tagger): a token also joins an attribute's value when that "
                   "attribute's probability reaches this; lower finds more values (higher recall), 1 keeps each "
                   "token's most probable label only. Default: the threshold the tagger chose on its validation "
                   "texts (its manifest); averaged taggers whose manifest chose none: 0.5.")
@click.option("--word-forms/--no-word-forms", default=default(TaggerSpec, "word_forms"), show_default=True,
              help="Tagger: cut a span back to the part of a word training learned values are (\"Mens\" -> \"Men\").")
@click.option("--markers/--no-markers", default=default(TaggerSpec, "markers"), show_default=True,
              help="Tagger: move a span to the attribute a letter written right after it names (36\"H -> Height).")
@click.option("--endings/--no-endings", default=default(TaggerSpec, "endings"), show_default=True,
              help="Tagger: cut off or take in a full stop or possessive as the training gold mostly wrote them.")
@click.option("--joined-words/--no-joined-words", default=default(TaggerSpec, "joined_words"), show_default=True,
              help="Tagger: likewise take in or cut off a word joined by a hyphen or slash (needs --endings).")
@click.option("--null-bias", default=default(ExtractConfig, "null_bias"), show_default=True,
              type=click.FloatRange(-20, 20),
              help="Constrained decoding: log-probability by which a value is favoured over null (> 0: more values, "
                   "higher recall; < 0: more nulls, higher precision). With --adapter, the bias calibrated after "
                   "its training is the default.")
@click.option("--reuse-penalty", default=default(ExtractConfig, "reuse_penalty"), show_default=True,
              type=click.FloatRange(0, 20),
              help="Constrained decoding: log-probability by which a span of the text that an earlier attribute of "
                   "the record took must beat null to be taken again (0: no penalty). Schema attributes marked "
                   "\"x-shared-span\": true share spans freely.")
@click.option("--normalize", "normalize_values", is_flag=True,
              help="Also write canonical values (`normalized`) by the schema's x-normalize blocks.")
@click.option("--batch-size", default=default(ExtractConfig, "batch_size"), show_default=True, type=click.IntRange(1),
              help="Inputs generated together.")
@click.option("--max-retries", default=default(ExtractConfig, "max_retries"), show_default=True, type=click.IntRange(0),
              help="Re-asks after an invalid answer, showing the model the validator's messages.")
@click.option("--max-text-tokens", default=default(ExtractConfig, "max_text_tokens"), show_default=True,
              type=click.IntRange(8),
              help="Longer input texts are truncated (with a warning in the record).")
@click.option("--max-shot-tokens", default=default(ExtractConfig, "max_shot_tokens"), show_default=True,
              type=click.IntRange(8),
              help="Demonstration texts are cut to this many tokens (values no longer in the text become null).")
@click.option("--max-new-tokens", default=default(ExtractConfig, "max_new_tokens"), type=click.IntRange(1),
              help="Output token budget; default derived from the schema.")
@click.option("--prompt", default=default(ExtractConfig, "prompt"), show_default=True,
              help="Prompt template id (prompts/<id>.jinja).")
@click.option("--id-field", default="id", show_default=True, help="Input field with the record id.")
@click.option("--text-field", "text_fields", multiple=True,
              help="Input field(s) joined into the text (repeatable). Default: text, else title+description, "
                   "else query, else input.")
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True,
              help="Input format (auto: by extension).")
@click.option("--encoding", default="utf-8", show_default=True,
              help="Text encoding of INPUT when it has no byte order mark (e.g. latin-1, cp1252); a line that "
                   "does not decode becomes an error record naming its line.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run: keep the output's records (line k is input line k's record), "
                   "check their ids against the input, and append the rest.")
@click.option("--engine-spec", "engine_spec", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Build the engine from this spec file (YAML or JSON, as --print-spec writes it) instead of the "
                   "engine options (--model, --engine, --with-tagger, decoding and prompt options, --normalize).")
@click.option("--print-spec", is_flag=True,
              help="Print the engine spec the other options mean (YAML, for --engine-spec) and extract nothing.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
def extract(input_path: str | None, output: str, schema: str | None, schema_field: str | None, model: str, engine: str,
            with_tagger: tuple[str, ...], average_tagger: tuple[str, ...], adapter: str | None,
            force_adapter: bool, quantize: str | None, dtype: str, device: str, shots: str | None, k: int,
            selection: str, seed: int, decoding: str, min_confidence: float, span_threshold: float | None,
            word_forms: bool, markers: bool, endings: bool, joined_words: bool,
            null_bias: float, reuse_penalty: float, normalize_values: bool,
            batch_size: int, max_retries: int, max_text_tokens: int,
            max_shot_tokens: int, max_new_tokens: int | None, prompt: str, id_field: str, text_fields: tuple[str, ...], fmt: str,
            encoding: str, engine_spec: str | None, print_spec: bool, resume: bool, progress: bool) -> None:
    """Extract attribute records from INPUT (JSONL or CSV; - for standard input).

    Every input line yields exactly one output line: a record whose `attributes` hold every schema
    attribute (value or null), or an error record saying why. Each record carries its provenance
    (model, adapter, prompt id, schema id, and the hash of the engine spec it was built from).

    \b
    Examples:
      extractor extract examples/products.jsonl --schema-field schema -o records.jsonl
      extractor extract offers.csv --schema electronics --text-field title -o out.jsonl --resume
    """
    from ..io import InputSpec, RecordWriter, check_output, count_lines, read_documents, resume_point
    from ..lines import check_encoding
    from ..pipeline import extract_stream
    from ..spec import build_engine

    context = click.get_current_context()
    engine_description = engine_spec_from(context, context.params)
    if print_spec:
        click.echo(engine_description.to_yaml(), nl=False)
        return
    if input_path is None:
        raise click.UsageError("Missing argument 'INPUT' (a JSONL or CSV file, or - for standard input).")
    if schema is None and schema_field is None:
        raise click.UsageError("give --schema (or --schema-field to read each line's schema)")
    if resume and output == "-":
        raise click.UsageError("--resume needs an output file (-o)")
    if resume and input_path == "-":
        raise click.UsageError("--resume needs an input file (standard input cannot be read twice)")
    if input_path != "-" and not Path(input_path).is_file():
        raise click.UsageError(f"input file not found: {input_path}")  # before the model load, not after
    spec = InputSpec(id_field=id_field, text_fields=text_fields or None, schema_field=schema_field, format=fmt)
    # Everything about the files is checked before the model loads: a typo should cost no waiting.
    check_encoding(encoding)
    check_output(output, [input_path])
    if input_path != "-":
        read_documents(input_path, spec, encoding)  # a CSV file's header is checked here
    skip = resume_point(output, read_documents(input_path, spec, encoding)) if resume else 0
    extractor = build_engine(engine_description, schema or _first_line_schema(input_path, spec, encoding))
    for member in extractor.members:
        requested = getattr(member, "requested", None)  # an LLM tuned on k shots does badly without them
        if requested is not None and requested.k and not member.config.k:
            click.echo(f"no demonstrations for schema {member.schema.name}: zero-shot instead of "
                       f"k={requested.k} (give --shots)", err=True)
    total = count_lines(input_path) if input_path != "-" else None
    bar = progress_bar(progress, total, skip)
    with RecordWriter(output, append=resume, inputs=[input_path]) as writer:

        def on_record(record):  # type: ignore[no-untyped-def]
            writer.write(record)
            if bar is not None:
                bar.update(1)

        summary = extract_stream(extractor, read_documents(input_path, spec, encoding), skip, on_record)
    if bar is not None:
        bar.close()
    click.echo(summary.line(), err=True)
    if summary.failed or summary.invalid:
        raise click.exceptions.Exit(EXIT_SOME_LINES)


def _adapter_defaults(adapter: str, **given: Any) -> tuple[Any, ...]:
    """``given`` with every option the user left at its default replaced by the adapter's trained
    prompt setting or calibrated decoding setting, so that a tuned adapter sees the prompts it was
    trained on and decodes as it was validated (said on stderr)."""
    from ..adapter import trained_settings

    context = click.get_current_context()
    taken = []
    for key, value in trained_settings(adapter).items():
        if key in given and context.get_parameter_source(key) is ParameterSource.DEFAULT and given[key] != value:
            given[key] = value
            taken.append(f"{key}={value}")
    if taken:
        click.echo(f"using the adapter's trained settings: {', '.join(taken)}", err=True)
    return tuple(given.values())


def _first_line_schema(input_path: str, spec, encoding: str = "utf-8") -> str:  # type: ignore[no-untyped-def]
    from ..io import read_documents

    for doc in read_documents(input_path, spec, encoding):
        if doc.schema:
            return doc.schema
    raise click.UsageError(f"no line of {input_path} names a schema in field {spec.schema_field!r}; give --schema")


# --- the engine options as a spec --------------------------------------------------------------

ENGINE_OPTIONS = ("model", "engine", "with_tagger", "average_tagger", "adapter", "force_adapter", "quantize",
                  "dtype", "device", "shots", "k", "selection", "seed", "decoding", "min_confidence",
                  "span_threshold", "word_forms", "markers", "endings", "joined_words", "null_bias", "reuse_penalty", "normalize_values", "batch_size", "max_retries", "max_text_tokens",
                  "max_shot_tokens", "max_new_tokens", "prompt")
"""extract's options that describe the engine (what --engine-spec replaces)."""


def spec_from_options(*, model: str, engine: str, with_tagger: tuple[str, ...], average_tagger: tuple[str, ...],
                       adapter: str | None, force_adapter: bool, quantize: str | None, dtype: str, device: str,
                       shots: str | None, span_threshold: float | None, normalize: bool,
                       rules: dict[str, bool] | None = None, **extract: Any):  # type: ignore[no-untyped-def]
    """The EngineSpec that extract's engine options mean: ``--engine llm`` (the default) is an LLM,
    ``--engine tagger`` a tagger in ``--model``; ``--with-tagger`` adds tagger members (the first one
    averaged with ``--average-tagger`` when the engine is the LLM). An adapter's trained prompt and
    calibrated decoding settings replace the options left at their defaults (said on stderr)."""
    from ..spec import EngineSpec, LLMSpec, TaggerSpec

    if average_tagger and engine != "tagger" and not with_tagger:
        raise click.UsageError("--average-tagger averages with --engine tagger's --model or the first --with-tagger")
    if span_threshold is not None and engine == "llm" and not with_tagger:
        raise click.UsageError("--span-threshold applies to a tagger (--engine tagger or --with-tagger)")
    rules = rules or {}
    if rules and rules != {"word_forms": True, "markers": True, "endings": True, "joined_words": False} \
            and engine == "llm" and not with_tagger:
        raise click.UsageError("the tagger rule switches apply to a tagger (--engine tagger or --with-tagger)")
    taggers = [TaggerSpec(folder=folder, average=list(average_tagger) if i == 0 and engine == "llm" else [],
                          device=device, dtype=dtype, min_confidence=extract["min_confidence"],
                          span_threshold=span_threshold, **rules)
               for i, folder in enumerate(with_tagger)]
    if engine == "tagger":
        given = [name for name, value in (("--adapter", adapter), ("--shots", shots), ("--quantize", quantize)) if value]
        if given:
            raise click.UsageError(f"{', '.join(given)} do(es) not apply to --engine tagger")
        if model == default(ModelConfig, "model"):
            raise click.UsageError("--engine tagger needs --model DIR, a folder written by `extractor finetune-tagger`")
        first = TaggerSpec(folder=model, average=list(average_tagger), device=device, dtype=dtype,
                           batch_size=extract["batch_size"], min_confidence=extract["min_confidence"],
                           span_threshold=span_threshold, **rules)
        return EngineSpec(taggers=[first, *taggers], normalize=normalize)
    if adapter:
        names = ("k", "selection", "max_text_tokens", "max_shot_tokens", "null_bias")
        extract.update(zip(names, _adapter_defaults(adapter, **{name: extract[name] for name in names})))
    llm = LLMSpec(model=ModelConfig(model=model, adapter=adapter, quantize=quantize, dtype=dtype, device=device),
                  extract=ExtractConfig(**extract), shots=shots, force_adapter=force_adapter)
    return EngineSpec(llm=llm, taggers=taggers, normalize=normalize)


def engine_spec_from(context: click.Context, options: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The EngineSpec that --engine-spec or the engine options mean (as for extract)."""
    from ..spec import load_spec

    if options["engine_spec"]:
        flags = {p.name: next((o for o in p.opts if o.startswith("--") and len(o) > 3), p.opts[0])
                 for p in context.command.params}
        given = [flags[name] for name in ENGINE_OPTIONS
                 if context.get_parameter_source(name) is not ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"--engine-spec describes the engine; {', '.join(given)} cannot be given with it")
        return load_spec(options["engine_spec"])
    o = dict(options)
    return spec_from_options(
        model=o["model"], engine=o["engine"], with_tagger=o["with_tagger"], average_tagger=o["average_tagger"],
        adapter=o["adapter"], force_adapter=o["force_adapter"], quantize=o["quantize"], dtype=o["dtype"],
        device=o["device"], shots=o["shots"], k=o["k"], selection=o["selection"], seed=o["seed"],
        decoding=o["decoding"], min_confidence=o["min_confidence"], span_threshold=o["span_threshold"],
        rules=dict(word_forms=o["word_forms"], markers=o["markers"], endings=o["endings"],
                   joined_words=o["joined_words"]),
        null_bias=o["null_bias"], reuse_penalty=o["reuse_penalty"], normalize=o["normalize_values"], batch_size=o["batch_size"],
        max_retries=o["max_retries"], max_text_tokens=o["max_text_tokens"], max_shot_tokens=o["max_shot_tokens"],
        max_new_tokens=o["max_new_tokens"], prompt=o["prompt"])
