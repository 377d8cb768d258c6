"""Decoding: how the model's output becomes a JSON object (free generation + tolerant parsing,
or constrained slot filling)."""
