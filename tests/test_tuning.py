"""LoRA tuning on the tiny random model: label masking, data layouts, augmentation, a few training
steps (loss falls, adapter + manifest written, resume), the adapter check, the CLI and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch  # a hard dependency: a broken install must fail here, not skip
from click.testing import CliRunner

from extractor.adapter import MANIFEST, adapter_mismatches, check_adapter, read_manifest, trained_settings
from extractor.cli import main
from extractor.errors import ConfigError, ModelLoadError
from extractor.prompts import format_answer, render_messages
from extractor.schemas import load_schema
from extractor.training.augment import augment
from extractor.training.examples import Example
from extractor.training.lora.config import FinetuneConfig, load_finetune_config
from extractor.training.lora.data import (IGNORE, RowBuilder, check_rows, file_sha256, hold_out, length_batches,
                                         load_examples, load_validation)

from conftest import build_tiny_model


REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = Path(__file__).parent / "fixtures" / "benchmarks"
TOY = [
    ("Nike Air Zoom running shoe black size 10", {"Brand": "Nike", "Color": "black"}),
    ("Hanes mens crew tee navy blue XL cotton", {"Brand": "Hanes", "Color": "navy blue"}),
    ("Samsung portable SSD T7 gray", {"Brand": "Samsung", "Color": "gray"}),
    ("cotton crew tee 6-pack short sleeve", {"Brand": None, "Color": None}),
]
SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
          "properties": {"Brand": {"type": ["string", "null"]}, "Color": {"type": ["string", "null"]}}}


@pytest.fixture()
def toy(tmp_path: Path) -> dict[str, Path]:
    schema = tmp_path / "toy.schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps({"text": t, "record": r}) + "\n" for t, r in TOY), encoding="utf-8")
    return {"schema": schema, "data": data}


def fresh_backend():
    """A new tiny model per training run (peft puts its LoRA layers into the model it wraps).

    Its (tied) embeddings are scaled up: at the usual 0.02 init, logits of a 32-wide model span
    about one nat, so no adapter on the linear layers could make it memorise anything."""
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = build_tiny_model()
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(12.0)
    return TransformersBackend(model, tokenizer, name="tiny-random")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: two threads only fight over the cores (5x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_config(toy: dict[str, Path], out: Path, **overrides) -> FinetuneConfig:
    values = dict(train=[str(toy["data"])], schema=str(toy["schema"]), output=str(out), lora_r=8, lora_alpha=16,
                  lora_dropout=0.0, batch_size=4, learning_rate=3e-2, warmup_steps=0, schedule="constant",
                  max_steps=40, save_every=0)
    values.update(overrides)
    return FinetuneConfig(**values)


# --- rows and masking ----------------------------------------------------------------------

def test_labels_cover_exactly_the_answer_and_end_of_turn(tiny_backend, toy):
    schema = load_schema(toy["schema"])
    text, record = TOY[1]
    builder = RowBuilder(tiny_backend, toy_config(toy, Path("unused")), {})
    row = builder.row(Example(text, record, schema, "toy"))
    prompt = tiny_backend.render_chat(render_messages(schema, text, [], "extract.v1"))
    n_prompt = len(row.input_ids) - row.supervised
    assert row.labels[:n_prompt] == [IGNORE] * n_prompt            # everything before the answer is masked
    assert row.labels[n_prompt:] == row.input_ids[n_prompt:]        # the answer is supervised, contiguous, last
    tok = tiny_backend.tokenizer
    assert tok.decode(row.input_ids[:n_prompt]) == prompt
    answer = tok.decode(row.input_ids[n_prompt:])
    assert answer == format_answer(record, schema) + "<|im_end|>"
    assert answer == '{"Brand": "Hanes", "Color": "navy blue"}<|im_end|>'


def test_demonstrations_are_in_the_prompt_and_masked(tiny_backend, toy):
    schema = load_schema(toy["schema"])
    examples = load_examples(toy["data"], toy_config(toy, Path("unused")))
    from extractor.demos import Shot

    builder = RowBuilder(tiny_backend, toy_config(toy, Path("unused"), k=2),
                         {schema.id: [Shot(e.text, e.record) for e in examples]})
    prompt, answer = builder.prompt_and_answer(examples[0])
    assert prompt.count('"Brand":') == 2 and examples[0].text not in prompt.split("Product:")[1]  # no self-shot
    row = builder.row(examples[0])
    assert tiny_backend.tokenizer.decode([t for t, l in zip(row.input_ids, row.labels) if l != IGNORE]) == answer


def test_truncated_text_nulls_values_it_no_longer_shows(tiny_backend, toy):
    schema = load_schema(toy["schema"])
    text = "running shoe size 10 with a long story about it and then the brand Nike"
    builder = RowBuilder(tiny_backend, toy_config(toy, Path("unused"), max_text_tokens=8), {})
    _, answer = builder.prompt_and_answer(Example(text, {"Brand": "Nike", "Color": None}, schema, "toy"))
    assert answer.startswith('{"Brand": null, "Color": null}')


def test_examples_without_supervised_tokens_are_refused(tiny_backend, toy, tmp_path):
    from extractor.training.lora.loop import finetune

    config = toy_config(toy, tmp_path / "out", max_length=12)
    examples = load_examples(toy["data"], config)
    rows = [RowBuilder(tiny_backend, config, {}).row(e) for e in examples]
    assert all(r.supervised == 0 for r in rows)
    with pytest.raises(ConfigError, match="no supervised"):
        check_rows(rows, examples)
    with pytest.raises(ConfigError, match="no supervised"):
        finetune(config, tiny_backend, progress=False)
    assert not (tmp_path / "out").exists()


def test_length_batches_cover_every_row_once_and_repeat_per_epoch():
    lengths = [5, 50, 6, 51, 7, 52, 8, 53, 9, 54]
    groups = ["a"] * 8 + ["b"] * 2
    batches = length_batches(lengths, groups, 2, seed=3, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert all(len({groups[i] for i in b}) == 1 for b in batches)          # one schema per batch
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 3 for b in batches if b[0] < 8)  # similar lengths together
    assert batches == length_batches(lengths, groups, 2, seed=3, epoch=0)
    assert batches != length_batches(lengths, groups, 2, seed=3, epoch=1)


def test_shared_system_prefix_gives_the_same_loss_and_gradients(toy):
    from peft import LoraConfig, get_peft_model

    from extractor.training.lora.data import collate
    from extractor.training.lora.loop import answer_loss

    backend = fresh_backend()
    config = toy_config(toy, Path("unused"))
    examples = load_examples(toy["data"], config)
    rows = [RowBuilder(backend, config, {}).row(e) for e in examples]
    assert len({r.prefix for r in rows}) == 1 and rows[0].prefix > 10
    torch.manual_seed(0)
    model = get_peft_model(backend.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"],
                                                     init_lora_weights=False))
    batch = collate(rows, backend.tokenizer.pad_token_id)
    results = []
    for prefix in (0, rows[0].prefix):
        model.zero_grad()
        loss, n = answer_loss(model, batch, prefix)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
        results.append((float(loss.detach()), n, grads))
    (full, n_full, g_full), (shared, n_shared, g_shared) = results
    assert n_full == n_shared == sum(r.supervised for r in rows)
    assert abs(full - shared) < 1e-3 * abs(full)
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(g_full, g_shared))


# --- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    ({"lora_r": 0}, "lora_r"),
    ({"quantize": "8bit"}, "quantize"),
    ({"augment": ["mixup"]}, "mixup"),
    ({"schedule": "step"}, "schedule"),
    ({"lora_dropout": 1.0}, "lora_dropout"),
    ({"max_steps": 0}, "max_steps"),
    ({"k": -1}, "k"),
    ({"epochs": "3"}, "epochs must be int"),
    ({"share_prefix": "yes"}, "share_prefix must be bool"),
    ({"train": "a.jsonl"}, "train must be list"),
    ({"learning_rate": "fast"}, "learning_rate must be float"),
    ({"dev_share": 0.5}, "dev_share"),
    ({"dev_share": -0.1}, "dev_share"),
    ({"dev_share": 0.1, "validation": ["v.jsonl"]}, "not both"),
    ({"null_bias_grid": [0, 1]}, "needs validation offers"),
    ({"null_bias_grid": [0, 25], "dev_share": 0.1}, "between -20 and 20"),
    ({"null_bias_grid": ["high"], "dev_share": 0.1}, "null_bias_grid must be list"),
])
def test_config_checks(values, message):
    with pytest.raises(ConfigError, match=message):
        FinetuneConfig(**values)


def test_yaml_config_rejects_unknown_keys_and_takes_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: a.jsonl\nepochs: 2\nlearning_rate: 3e-4\nmax_grad_norm: 1\n", encoding="utf-8")
    config = load_finetune_config(path, epochs=5, seed=None)
    assert (config.train, config.epochs, config.seed) == (["a.jsonl"], 5, 0)
    assert (config.learning_rate, config.max_grad_norm) == (3e-4, 1.0)   # YAML's "3e-4" string, an int
    path.write_text("train: a.jsonl\ndev_share: 0.1\nnull_bias_grid: [0, 0.5, 2]\n", encoding="utf-8")
    assert load_finetune_config(path).null_bias_grid == [0.0, 0.5, 2.0]
    path.write_text("train: a.jsonl\nlearning_rte: 0.001\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="learning_rte"):
        load_finetune_config(path)


def test_readme_documents_every_config_key():
    from dataclasses import fields

    text = (REPO / "finetune" / "README.md").read_text(encoding="utf-8")
    assert [f.name for f in fields(FinetuneConfig) if f"| `{f.name}` |" not in text] == []


@pytest.mark.parametrize("path", sorted((REPO / "finetune" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    config = load_finetune_config(path)
    assert config.train and config.output


# --- data layouts --------------------------------------------------------------------------

def test_benchmark_layout_derives_the_schemas_evaluation_uses():
    config = FinetuneConfig()
    examples = load_examples(BENCHMARKS / "ae-110k" / "train.jsonl", config)
    lure = [e for e in examples if e.schema.name == "Lure"]
    assert lure[0].record == {"Brand Name": "REELMAX", "Length": "7cm", "Weight": "9g", "Model Number": "RM07"}
    assert lure[1].record["Brand Name"] is None                       # "n/a" -> null
    validation = load_validation(BENCHMARKS / "ae-110k" / "validation.jsonl", config)
    # Schema ids equal: an adapter trained on train.jsonl passes the check at evaluation.
    assert {s.id for s in validation.schemas.values()} <= {e.schema.id for e in examples}


def test_canonical_gold_trains_on_the_ungrounded_schemas_evaluation_uses(tiny_backend):
    from extractor.evaluate.datasets import load_benchmark

    config = FinetuneConfig()
    examples = load_examples(BENCHMARKS / "wdc-pave" / "normalized" / "train.jsonl", config)
    schema = load_benchmark("wdc-pave-normalized", data_root=BENCHMARKS).schemas["Home And Garden"]
    assert examples[0].schema.id == schema.id and not schema.attribute("Width").grounded
    # The canonical value is taught even though the text never spells it.
    _, answer = RowBuilder(tiny_backend, config, {}).prompt_and_answer(examples[0])
    assert answer.startswith('{"Width": "25.4", "Color": "Blue", "Manufacturer": "Acme"}')
    assert "25.4" not in examples[0].text


def test_dev_share_holds_out_part_of_every_schema_and_never_trains_on_it():
    examples = load_examples(BENCHMARKS / "ae-110k" / "train.jsonl", FinetuneConfig())
    examples = examples * 10  # the fixture is small; ten copies give every schema enough offers
    train, dev = hold_out(examples, 0.2, seed=3)
    assert dev is not None
    per_schema = {e.schema.id for e in examples}
    assert {e.schema.id for e in train} == per_schema          # no schema loses all its training offers
    held = {int(d.id.split("-")[1]) for d in dev.documents}
    assert len(held) + len(train) == len(examples)
    assert [e for i, e in enumerate(examples) if i not in held] == train
    for schema_id in per_schema:
        total = sum(e.schema.id == schema_id for e in examples)
        assert sum(d.category == schema_id for d in dev.documents) == round(total * 0.2)
    first = dev.documents[0]
    example = examples[int(first.id.split("-")[1])]
    assert first.text == example.text and dev.schemas[first.category] is example.schema
    gold = dev.gold[0].targets
    assert all(gold[n] == ((v,) if isinstance(v, str) else ("n/a",)) for n, v in example.record.items())
    # Seeded: the same split again; another seed, another split; share 0: no split.
    assert [d.id for d in hold_out(examples, 0.2, seed=3)[1].documents] == [d.id for d in dev.documents]
    assert [d.id for d in hold_out(examples, 0.2, seed=4)[1].documents] != [d.id for d in dev.documents]
    assert hold_out(examples, 0.0, seed=3) == (examples, None)


def test_trained_settings_come_from_the_manifest(tmp_path):
    assert trained_settings(tmp_path) == {}
    manifest = {"format": "extractor-adapter/1", "prompt_settings": {"k": 0, "selection": "first",
                                                                      "max_text_tokens": 256, "title_only": False}}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert trained_settings(tmp_path) == {"k": 0, "selection": "first", "max_text_tokens": 256}


def test_shots_layout_takes_per_line_schemas(tmp_path, toy):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"text": "Gap chinos khaki", "record": {"Brand": "Gap"}}) + "\n"
                    + json.dumps({"text": "Anker USB-C charger", "schema": "electronics", "record": {}}) + "\n",
                    encoding="utf-8")
    examples = load_examples(path, FinetuneConfig(schema=str(toy["schema"])))
    assert [e.schema.name for e in examples] == ["toy", "electronics"]
    assert examples[0].record == {"Brand": "Gap", "Color": None}
    path.write_text(json.dumps({"text": "x", "record": {"Size": "M"}}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="outside schema"):
        load_examples(path, FinetuneConfig(schema=str(toy["schema"])))
    path.write_text(json.dumps({"title": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="target_scores"):
        load_examples(path, FinetuneConfig())


# --- augmentation --------------------------------------------------------------------------

@pytest.mark.parametrize("kind, text, record", [
    ("swap", "Trailpace Men's Canvas Sneaker, Navy, 10.5 M US", {"Brand": "Trailpace", "Color": "Navy"}),
    ("drop", "REELMAX - Minnow Hard Lure - 7cm - Bass Pike", {"Brand": "REELMAX", "Color": None}),
    ("shuffle", "Hanes Tee | navy blue | XL | 6-Pack", {"Brand": "Hanes", "Color": "navy blue"}),
])
def test_augmented_variants_keep_text_and_record_in_agreement(toy, kind, text, record):
    schema = load_schema(toy["schema"])
    donor = Example("Acme Sneaker Red", {"Brand": "Acme", "Color": "Red"}, schema, "t")
    variants = augment([Example(text, record, schema, "t"), donor], [kind], copies=3, seed=1)
    mine = [v for v in variants if v.source == "t+" + kind and "Acme Sneaker" not in v.text]
    assert mine, "no variant produced"
    for v in mine:
        assert v.text != text
        assert all(value in v.text for value in v.record.values() if value)
    if kind == "swap":
        assert any(v.record != record for v in mine)
    else:
        assert all(v.record == record for v in mine)


def test_a_variant_is_never_shown_the_example_it_was_made_from(tiny_backend, toy):
    from extractor.demos import Shot

    schema = load_schema(toy["schema"])
    examples = load_examples(toy["data"], toy_config(toy, Path("unused")))
    variants = augment(examples, ["swap", "shuffle"], copies=2, seed=0)
    assert variants and all(v.origin in [e.text for e in examples] for v in variants)
    builder = RowBuilder(tiny_backend, toy_config(toy, Path("unused"), k=3),
                         {schema.id: [Shot(e.text, e.record) for e in examples]})
    for variant in variants:
        prompt, _ = builder.prompt_and_answer(variant)
        demos = prompt.rsplit("Product:", 1)[0]
        assert prompt.count('"Brand":') == 3 and variant.origin not in demos    # 3 of the other 3
        # Real examples still see every other example.
        assert examples[0].text in builder.prompt_and_answer(examples[1])[0]


# --- training ------------------------------------------------------------------------------

def test_training_memorises_and_writes_adapter_and_manifest(toy, tmp_path):
    out = tmp_path / "adapter"
    losses: list[float] = []
    # 40 steps at a constant rate passed on an earlier CI machine but left every extracted value wrong on
    # a later one (kernels differ, so trajectories do). A decaying rate over 80 steps gets there: the
    # validation F1 (exact match, the toy set's 8 slots) is 0 up to step 40 and 80 (P 100, R 66.67: 4 of
    # the 6 gold values, no wrong one) at step 80, 66.67 (3 of 6) at steps 60-70 on this machine; the
    # adapter kept must reach at least 60 (3 of the 6 values right, none wrong: one value of slack for
    # another CPU's kernels), and so must the adapter loaded from its folder (below), where the base
    # model scores 0.
    config = toy_config(toy, out, validation=[str(toy["data"])], eval_every=10, patience=0, max_steps=80,
                        lora_r=16, lora_alpha=32, schedule="linear")
    from extractor.training.lora.loop import finetune

    backend = fresh_backend()
    result = finetune(config, backend, progress=False, echo=lambda s: None, on_step=lambda f: losses.append(f["loss"]))
    assert result.steps == 80 and len(losses) == 80
    assert sum(losses[-3:]) / 3 < 0.3 * sum(losses[:3]) / 3              # it memorises the toy set
    assert [h["step"] for h in result.history] == list(range(10, 81, 10))
    for name in ("adapter_model.safetensors", "adapter_config.json", MANIFEST, "schemas/toy.schema.json"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoint").exists()
    manifest = read_manifest(out)
    schema = load_schema(toy["schema"])
    assert manifest["base_model"] == "tiny-random" and manifest["prompt"] == "extract.v1"
    assert manifest["schemas"] == [{"name": "toy", "id": schema.id}]
    assert load_schema(out / "schemas" / "toy.schema.json").id == schema.id
    assert manifest["training_data"]["files"][0]["sha256"] == file_sha256(toy["data"])
    assert manifest["settings"]["lora_r"] == 16
    best = max(h["f1"] for h in result.history)
    assert manifest["validation"]["f1"] == best >= 60, result.history  # the best one is kept, and it is good

    # A loaded adapter changes what the model says, and extracts what it learnt.
    from peft import PeftModel

    from extractor.backends.transformers import TransformersBackend
    from extractor.evaluate.scorer import GoldOffer, score
    from extractor.pipeline import Extractor

    gold = [GoldOffer(id=str(i), has_id=False, category="toy", targets={k: (v or "n/a",) for k, v in rec.items()})
            for i, (_, rec) in enumerate(TOY)]

    def f1(backend) -> float:  # what validation measures: the papers' exact-match micro F1 over the toy set
        records = Extractor(backend, schema, shots=[]).extract([t for t, _ in TOY])
        return score(gold, [r.to_dict() for r in records]).exact.micro.f1

    base = fresh_backend()
    ids = torch.tensor([base.encode(base.render_chat(render_messages(schema, TOY[0][0])))])
    with torch.inference_mode():
        before = base.model(input_ids=ids).logits
    assert f1(base) == 0
    tuned = TransformersBackend(PeftModel.from_pretrained(base.model, str(out)).eval(), base.tokenizer,
                                name="tiny-random", adapter=str(out))   # wraps base.model in place
    with torch.inference_mode():
        after = tuned.model(input_ids=ids).logits
    assert (before - after).abs().max() > 1e-3
    assert f1(tuned) >= 60


def test_interrupted_run_resumes_to_the_same_adapter(toy, tmp_path):
    from safetensors.torch import load_file

    from extractor.training.lora.loop import finetune

    straight = tmp_path / "straight"
    finetune(toy_config(toy, straight, max_steps=6, batch_size=2, lora_dropout=0.1), fresh_backend(), progress=False)

    resumed = tmp_path / "resumed"
    config = toy_config(toy, resumed, max_steps=6, batch_size=2, lora_dropout=0.1)

    def stop_at_3(figures):
        if figures["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(config, fresh_backend(), progress=False, echo=lambda s: None, on_step=stop_at_3)
    assert (resumed / "checkpoint" / "state.json").is_file()
    with pytest.raises(ConfigError, match="--resume"):
        finetune(config, fresh_backend(), progress=False)
    result = finetune(config, fresh_backend(), resume=True, progress=False, echo=lambda s: None)
    assert result.steps == 6
    a = load_file(str(straight / "adapter_model.safetensors"))
    b = load_file(str(resumed / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_early_stopping_keeps_the_best_adapter(toy, tmp_path, monkeypatch):
    import extractor.training.lora.loop as tuning

    scores = iter([10.0, 20.0, 15.0, 19.0, 30.0])
    monkeypatch.setattr(tuning.checks, "validate", lambda prep, config: {"f1": next(scores), "offers": 4, "seconds": 0.0,
                                                                   "precision": 0.0, "recall": 0.0, "files": []})
    out = tmp_path / "adapter"
    config = toy_config(toy, out, validation=[str(toy["data"])], eval_every=1, patience=2, max_steps=10)
    result = tuning.finetune(config, fresh_backend(), progress=False, echo=lambda s: None)
    assert result.stopped_early and result.steps == 4                 # 15 and 19 did not beat 20
    assert [h["f1"] for h in result.history] == [10.0, 20.0, 15.0, 19.0]
    manifest = read_manifest(out)
    assert (manifest["validation"]["f1"], manifest["validation"]["step"], manifest["steps"]) == (20.0, 2, 2)
    assert (manifest["run_steps"], len(manifest["history"]), manifest["stopped_early"]) == (4, 4, True)


def test_baseline_first_then_null_bias_calibrated_on_the_kept_weights(toy, tmp_path, monkeypatch):
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file

    import extractor.training.lora.loop as tuning

    training = iter([10.0, 30.0, 20.0, 25.0])  # step 0 (the untuned baseline), then steps 1-3
    by_bias = {0.0: 30.0, 1.0: 35.0, 2.0: 35.0, -1.0: 5.0}
    calibrated: list[float] = []
    out = tmp_path / "adapter"

    def fake_validate(prep, config, null_bias=None):
        if null_bias is None:
            f1 = next(training)
        else:  # calibration: the model must hold the kept adapter's (step 1) weights, not the last step's
            kept = load_file(str(out / "adapter_model.safetensors"))
            now = get_peft_model_state_dict(prep.backend.model)
            assert all(torch.equal(now[k], kept[k]) for k in kept)
            calibrated.append(null_bias)
            f1 = by_bias[null_bias]
        return {"f1": f1, "offers": 4, "seconds": 0.0, "precision": f1, "recall": f1, "files": []}

    monkeypatch.setattr(tuning.checks, "validate", fake_validate)
    config = toy_config(toy, out, validation=[str(toy["data"])], eval_every=1, patience=0, max_steps=3,
                        eval_at_start=True, null_bias_grid=[0, 1, 2, -1])
    result = tuning.finetune(config, fresh_backend(), progress=False, echo=lambda s: None)
    assert [h["step"] for h in result.history] == [0, 1, 2, 3]
    assert calibrated == [1.0, 2.0, -1.0]                           # bias 0 is the kept step's own figure
    assert result.calibration["chosen"]["null_bias"] == 1.0          # 1 and 2 tie: the one nearer 0
    manifest = read_manifest(out)
    assert manifest["validation"]["step"] == 1
    assert manifest["decoding_settings"] == {"null_bias": 1.0}
    assert [r["f1"] for r in manifest["null_bias_calibration"]["runs"]] == [30.0, 35.0, 35.0, 5.0]
    assert trained_settings(out)["null_bias"] == 1.0


def test_qlora_wiring_checkpoints_unshared_and_trains_like_the_plain_path(toy, tmp_path, monkeypatch):
    """`--quantize 4bit` loads a bitsandbytes base (CUDA only), which peft prepares for k-bit
    training: frozen, with gradient checkpointing. Here the full-precision tiny model is only
    flagged as 4-bit, so peft takes that branch on CPU: the shared system prefix must be switched
    off (checkpointing keeps no cache), torch must be told `use_reentrant` (it warns that leaving
    it out will become an error), and the losses must match a plain run step for step."""
    import warnings

    import extractor.training.lora.loop as tuning

    real_loss = tuning.answer_loss
    prefixes: dict[str, list[int]] = {"plain": [], "4bit": []}
    losses: dict[str, list[float]] = {"plain": [], "4bit": []}
    backends = {}
    for kind in ("plain", "4bit"):
        def spy(model, batch, prefix=0, kind=kind):
            prefixes[kind].append(prefix)
            return real_loss(model, batch, prefix)

        monkeypatch.setattr(tuning, "answer_loss", spy)
        backend = backends[kind] = fresh_backend()
        if kind == "4bit":
            backend.model.is_loaded_in_4bit = True
        config = toy_config(toy, tmp_path / kind, max_steps=6, quantize="4bit" if kind == "4bit" else None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tuning.finetune(config, backend, progress=False, echo=lambda s: None,
                            on_step=lambda f, kind=kind: losses[kind].append(f["loss"]))
        if kind == "4bit":
            assert not [w for w in caught if "use_reentrant" in str(w.message)]
    assert not tuning._checkpointing(backends["plain"].model) and tuning._checkpointing(backends["4bit"].model)
    assert min(prefixes["plain"]) > 0 and set(prefixes["4bit"]) == {0}
    assert losses["4bit"] == pytest.approx(losses["plain"], rel=1e-3)


# --- the adapter check ---------------------------------------------------------------------

def test_extraction_refuses_a_mismatched_adapter_unless_forced(tmp_path, toy, tiny_backend):
    from extractor.adapter import write_adapter_files
    from extractor.pipeline import Extractor

    schema = load_schema(toy["schema"])
    manifest = {"format": "extractor-adapter/1", "base_model": "tiny-random", "prompt": "extract.v1",
                "schemas": [{"name": "toy", "id": schema.id}]}
    write_adapter_files(tmp_path, manifest, [schema])
    check_adapter(tmp_path, schema, "extract.v1", "tiny-random")
    tiny_backend.adapter = str(tmp_path)
    Extractor(tiny_backend, schema)
    with pytest.raises(ModelLoadError, match="--force-adapter"):
        Extractor(tiny_backend, "apparel")
    tiny_backend.context_window = 4096  # apparel's prompt alone is 1549 of the tiny tokenizer's tokens
    Extractor(tiny_backend, "apparel", force_adapter=True)
    assert len(adapter_mismatches(manifest, load_schema("apparel"), "extract.v2", "other")) == 3


@pytest.mark.parametrize("four_bit", ["flagged", "nf4"])
def test_an_adapter_trained_on_a_4bit_base_serves_on_a_full_precision_one(tmp_path, toy, four_bit):
    """QLoRA on a GPU, extraction on a laptop CPU: measured to work (docs/notes/2026-11-29-lora-tuning.md, "QLoRA on a GPU").
    "nf4": the tiny base really in bitsandbytes NF4, on the CPU (bitsandbytes 0.50 ships CPU kernels;
    extractor's own `--quantize 4bit` wants CUDA, so it is loaded as benchmarks/nf4_cpu_quality.py
    does); skipped without bitsandbytes. "flagged": the float32 base only flagged as 4-bit, as in the
    wiring test above, so that peft's k-bit branch runs everywhere. Either way the manifest records
    `--quantize 4bit`, and the adapter is served the way a user serves it, `Extractor.from_pretrained`
    with `adapter=`, on the same base in float32: it must carry the trained LoRA weights, they must
    move the logits, and the 4-bit setting must not count as a mismatch."""
    import extractor.training.lora.loop as tuning
    from peft import get_peft_model_state_dict

    from extractor.config import ModelConfig
    from extractor.models import load_model, load_pretrained, nf4_config
    from extractor.pipeline import Extractor

    fresh = fresh_backend()
    base = tmp_path / "base"
    fresh.model.save_pretrained(str(base))
    fresh.tokenizer.save_pretrained(str(base))
    if four_bit == "nf4":
        pytest.importorskip("bitsandbytes")
        backend = load_pretrained(ModelConfig(model=str(base)), None, quantization_config=nf4_config(),
                                  device_map={"": "cpu"})
        assert backend.model.is_loaded_in_4bit
    else:
        backend = fresh
        backend.name = str(base)  # the manifest's base_model, as when training loads the folder itself
        backend.model.is_loaded_in_4bit = True
    out = tmp_path / "adapter"
    tuning.finetune(toy_config(toy, out, max_steps=6, quantize="4bit"), backend, progress=False, echo=lambda s: None)
    assert tuning._checkpointing(backend.model)  # peft's k-bit preparation ran
    assert read_manifest(out)["settings"]["quantize"] == "4bit"

    ex = Extractor.from_pretrained(str(base), load_schema(toy["schema"]), adapter=str(out), device="cpu")
    served, plain = ex.backend.model, load_model(model=str(base), device="cpu").model
    assert next(served.parameters()).dtype == torch.float32 and not getattr(served, "is_loaded_in_4bit", False)
    trained_lora = get_peft_model_state_dict(backend.model)
    served_lora = get_peft_model_state_dict(served)
    assert sorted(served_lora) == sorted(trained_lora)
    assert [k for k in trained_lora if not torch.equal(served_lora[k], trained_lora[k].float())] == []
    ids = backend.tokenizer(TOY[0][0], return_tensors="pt").input_ids
    with torch.no_grad():
        got, before = served(input_ids=ids).logits, plain(input_ids=ids).logits
        assert float((got - before).abs().max()) > 0.1, "the adapter left the full-precision model's logits alone"
        if four_bit == "flagged":  # the same float32 weights on both sides: the same logits
            torch.testing.assert_close(got, backend.model.eval()(input_ids=ids).logits, rtol=1e-4, atol=1e-4)
    [record] = ex.extract(["Nike running shoe, black"])
    assert record.ok and record.provenance.adapter == str(out), record


# --- command line --------------------------------------------------------------------------

@pytest.fixture()
def model_dir(tmp_path):
    model, tokenizer = build_tiny_model()
    folder = tmp_path / "tiny-model"
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_cli_dry_run_finetune_export_and_extract(toy, model_dir, tmp_path):
    common = ["finetune", "--train", str(toy["data"]), "-s", str(toy["schema"]), "--base-model", str(model_dir),
              "--device", "cpu"]
    result = CliRunner().invoke(main, [*common, "--dry-run", "--show", "1"])
    assert result.exit_code == 0, result.output
    assert '[[{"Brand": "Nike", "Color": "black"}<|im_end|>]]' in result.output
    assert "4 examples over 1 schema(s)" in result.output and "supervised" in result.output

    out = tmp_path / "adapter"
    result = CliRunner().invoke(main, [*common, "-o", str(out), "--max-steps", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and (out / MANIFEST).is_file()

    merged = tmp_path / "merged"
    result = CliRunner().invoke(main, ["export", str(out), "--merge", "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert (merged / "config.json").is_file() and (merged / MANIFEST).is_file()
    assert not (merged / "adapter_config.json").exists()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.inference_mode():
        merged_logits = AutoModelForCausalLM.from_pretrained(str(merged))(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(model_dir)), str(out))
        assert torch.allclose(merged_logits, adapted(input_ids=ids).logits, atol=1e-4)
    result = CliRunner().invoke(main, ["export", str(out), "-o", str(tmp_path / "copy")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copy" / "adapter_config.json").is_file() and (tmp_path / "copy" / MANIFEST).is_file()

    offers = tmp_path / "offers.jsonl"
    offers.write_text(json.dumps({"id": "1", "text": "Nike tee black"}) + "\n", encoding="utf-8")
    extract = ["extract", str(offers), "-m", str(model_dir), "--adapter", str(out), "-k", "0", "--no-progress",
               "--device", "cpu", "-o", str(tmp_path / "records.jsonl")]
    result = CliRunner().invoke(main, [*extract, "-s", "apparel"])
    assert result.exit_code == 1, result.output
    assert (f"does not match this extraction: it was trained for schema(s) {load_schema(toy['schema']).id}, "
            f"not {load_schema('apparel').id}") in result.output and "--force-adapter" in result.output
    result = CliRunner().invoke(main, [*extract, "-s", str(out / "schemas" / "toy.schema.json")])
    assert result.exit_code == 0, result.output
    assert "trained settings" not in result.output
    # Without -k the adapter's own setting (k=0, from its manifest) is used, and said.
    without_k = [a for i, a in enumerate(extract) if a != "-k" and extract[i - 1] != "-k"]
    result = CliRunner().invoke(main, [*without_k, "-s", str(out / "schemas" / "toy.schema.json")])
    assert result.exit_code == 0, result.output
    assert "using the adapter's trained settings: k=0" in result.output
    # A calibrated null bias in the manifest is the default too; one given on the command line wins.
    manifest = read_manifest(out)
    manifest["decoding_settings"] = {"null_bias": 1.5}
    (out / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    result = CliRunner().invoke(main, [*without_k, "-s", str(out / "schemas" / "toy.schema.json")])
    assert result.exit_code == 0, result.output
    assert "using the adapter's trained settings: k=0, null_bias=1.5" in result.output
    result = CliRunner().invoke(main, [*extract, "-s", str(out / "schemas" / "toy.schema.json"), "--null-bias", "0"])
    assert result.exit_code == 0, result.output
    assert "trained settings" not in result.output

    # Calibrating the null bias of that adapter afterwards, without training: one run per bias.
    calibrate = [*common, "-o", str(out), "--validation", str(toy["data"]), "--calibrate-only"]
    result = CliRunner().invoke(main, calibrate)
    assert result.exit_code == 1, result.output
    assert "Error: nothing to calibrate: give null_bias_grid (--null-bias, repeatable)" in result.output
    result = CliRunner().invoke(main, [*calibrate, "--null-bias", "0", "--null-bias", "3"])
    assert result.exit_code == 0, result.output
    calibration = read_manifest(out)["null_bias_calibration"]
    assert [r["null_bias"] for r in calibration["runs"]] == [0.0, 3.0] and all(r["offers"] == 4 for r in calibration["runs"])
    assert read_manifest(out)["decoding_settings"]["null_bias"] == calibration["chosen"]["null_bias"]
    assert f"null bias {calibration['chosen']['null_bias']:g}" in result.output
