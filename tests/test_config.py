"""Configs: the defaults are valid, every bad value is refused, and unknown keys are named."""

from __future__ import annotations

import pytest

from extractor.config import ExtractConfig, ModelConfig, from_dict
from extractor.errors import ConfigError


def test_defaults_are_valid():
    model, extract = ModelConfig(), ExtractConfig()
    assert model.model == "smollm2-135m" and model.quantize is None and model.dtype == "auto"
    assert (extract.k, extract.selection, extract.decoding) == (3, "similar", "constrained")


@pytest.mark.parametrize("cls,values,needle", [
    (ModelConfig, {"model": ""}, "model"),
    (ModelConfig, {"quantize": "8bit"}, "quantize"),
    (ModelConfig, {"quantize": "4BIT"}, "quantize"),
    (ModelConfig, {"dtype": "fp16"}, "dtype"),
    (ExtractConfig, {"k": -1}, "k"),
    (ExtractConfig, {"selection": "bm25"}, "selection"),
    (ExtractConfig, {"batch_size": 0}, "batch_size"),
    (ExtractConfig, {"max_retries": -1}, "max_retries"),
    (ExtractConfig, {"decoding": "grammar"}, "decoding"),
    (ExtractConfig, {"max_text_tokens": 7}, "max_text_tokens"),
    (ExtractConfig, {"max_new_tokens": 0}, "max_new_tokens"),
    (ExtractConfig, {"min_confidence": 1.5}, "min_confidence"),
    (ExtractConfig, {"min_confidence": -0.1}, "min_confidence"),
])
def test_bad_values_raise_config_error(cls, values, needle):
    with pytest.raises(ConfigError, match=needle):
        cls(**values)


@pytest.mark.parametrize("cls,values", [
    (ModelConfig, {"quantize": "4bit", "dtype": "bfloat16", "device": "cpu"}),
    (ExtractConfig, {"k": 0, "selection": "random", "batch_size": 1, "max_retries": 0,
                     "decoding": "constrained", "max_text_tokens": 8, "max_new_tokens": 1}),
])
def test_boundary_values_are_accepted(cls, values):
    config = cls(**values)
    for key, value in values.items():
        assert getattr(config, key) == value


def test_from_dict_builds_config():
    config = from_dict(ExtractConfig, {"k": 5, "selection": "first"})
    assert (config.k, config.selection) == (5, "first")


def test_from_dict_rejects_unknown_keys_naming_them():
    with pytest.raises(ConfigError) as info:
        from_dict(ExtractConfig, {"k": 2, "shots": 3, "temprature": 0.1})
    message = str(info.value)
    assert "shots" in message and "temprature" in message
    assert "known:" in message and "selection" in message


def test_from_dict_still_checks_values():
    with pytest.raises(ConfigError, match="selection"):
        from_dict(ExtractConfig, {"selection": "nearest"})
