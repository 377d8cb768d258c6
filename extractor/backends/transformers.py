"""Backend over already-loaded transformers model and tokenizer objects (loading lives in models.py)."""

from __future__ import annotations

from typing import Any

from .base import Backend, json_object_closed


class TransformersBackend(Backend):
    supports_constrained = True

    def __init__(self, model: Any, tokenizer: Any, name: str | None = None, adapter: str | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "model")
        self.adapter = adapter
        self.context_window = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        # Left padding keeps every row's last real token at the end, so batched greedy
        # decoding gives the same tokens as one row at a time.
        tokenizer.padding_side = "left"

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def escape(self, text: str) -> str:
        from ..prompts import escape_control_tokens

        return escape_control_tokens(text, self.tokenizer)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        # Every message's content is data (product texts, demonstrations, schema descriptions):
        # escaped, so the only control tokens in the prompt are the template's own.
        messages = [{**m, "content": self.escape(m["content"])} for m in messages]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def render_system(self, content: str) -> str:
        """The system turn alone, as ``render_chat`` starts every prompt with it ("" without a chat
        template): the shared prefix that extraction caches and training computes once."""
        if not getattr(self.tokenizer, "chat_template", None):
            return ""
        messages = [{"role": "system", "content": self.escape(content)}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        # Counted as the prompt will show it (escaped, the same length), so offsets cut ``text`` too.
        shown = self.escape(text)
        enc = self.tokenizer(shown, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= max_tokens:
            return text
        # Byte-level BPE splits a non-ASCII character over several tokens that all map to the
        # whole character, so a cut inside one would keep a token too many: step back until it fits.
        cut = max_tokens
        while cut > 0 and self.count_tokens(shown[: offsets[cut - 1][1]]) > max_tokens:
            cut -= 1
        return text[: offsets[cut - 1][1]] if cut else ""

    def stop_token_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        for token in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        return sorted(i for i in ids if i is not None)

    def generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        start = batch["input_ids"].shape[1]
        tokenizer = self.tokenizer

        class _JSONClosed(StoppingCriteria):
            # A small model often keeps talking after the object; stop each row once it closed.
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
                return torch.tensor([json_object_closed(t) for t in texts], device=input_ids.device)

        from ..decoding.kvcache import grouped_query_attention

        stops = self.stop_token_ids()
        with torch.inference_mode(), grouped_query_attention(self.model):
            out = self.model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=stops,
                stopping_criteria=StoppingCriteriaList([_JSONClosed()]),
                temperature=None, top_p=None, top_k=None,
            )
        return tokenizer.batch_decode(out[:, start:], skip_special_tokens=True)
