"""The vocabulary as bytes, indexed for prefix search: which tokens can follow a constraint state.

Constraints work on bytes, not characters: byte-level BPE splits non-ASCII characters across
tokens, and a character-level view could never produce them."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from functools import lru_cache
from typing import Any

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def _gpt2_byte_decoder() -> dict[str, int]:
    # The printable stand-ins GPT-2 style byte-level BPE uses for each byte.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in repr(decoder)


def token_bytes(tokenizer: Any) -> list[bytes | None]:
    """Bytes of every token id (None for special tokens, which constrained values never use)."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    out: list[bytes | None] = []
    if _is_byte_level(tokenizer):
        table = _gpt2_byte_decoder()
        for i, piece in enumerate(pieces):
            if i in special or piece is None or any(ch not in table for ch in piece):
                out.append(None)
            else:
                out.append(bytes(table[ch] for ch in piece))
        return out
    for i, piece in enumerate(pieces):  # SentencePiece style: "▁" is a space, <0xNN> a raw byte
        if i in special or piece is None:
            out.append(None)
        elif (m := _BYTE_TOKEN.match(piece)):
            out.append(bytes([int(m.group(1), 16)]))
        else:
            out.append(piece.replace("\u2581", " ").encode("utf-8"))
    return out


_WIDE = 16
"""Trie nodes with more children than this filter them through the constraint's next_bytes."""


class TokenIndex:
    """Token byte strings in a trie, with the ids that spell each one."""

    def __init__(self, pieces: list[bytes | None]) -> None:
        by_bytes: dict[bytes, list[int]] = {}
        for i, piece in enumerate(pieces):
            if piece:
                by_bytes.setdefault(piece, []).append(i)
        self.bytes_of = pieces
        self._exact = by_bytes
        # The byte trie: each prefix of a token -> the bytes that extend it towards some token.
        children: dict[bytes, set[int]] = {}
        for key in by_bytes:
            for i in range(len(key)):
                children.setdefault(key[:i], set()).add(key[i])
        self._children = {prefix: bytes(sorted(kids)) for prefix, kids in children.items()}
        # Among JSON values only null begins with "n" (strings begin with a quote): the tokens that
        # start a null, with or without the space before it.
        self.nullish = frozenset(i for i, piece in enumerate(pieces) if piece and piece.lstrip(b" ").startswith(b"n"))

    def allowed(self, state: Hashable, step: Callable[[Any, int], Any], next_bytes: Callable[[Any], Iterable[int]]
                ) -> list[int]:
        """Ids (ascending) of every token whose bytes, fed one by one through ``step`` from
        ``state``, never reach a dead state (``step`` returns None for a byte it does not allow).
        Depth-first over the token trie, so the work is proportional to the surviving prefixes,
        not to the vocabulary: a few for a span of the text, every token for a free string."""
        result: list[int] = []
        stack: list[tuple[bytes, Any]] = [(b"", state)]
        while stack:
            prefix, st = stack.pop()
            kids = self._children.get(prefix, b"")
            if len(kids) > _WIDE:
                # Near the root a token continues with almost any byte: ask the constraint which
                # it takes once instead of stepping each.
                allowed = next_bytes(st)
                kids = bytes(b for b in kids if b in allowed)
            for byte in kids:
                nxt = step(st, byte)
                if nxt is None:
                    continue
                longer = prefix + bytes((byte,))
                result.extend(self._exact.get(longer, ()))
                stack.append((longer, nxt))
        result.sort()
        return result
