"""API keys for ``extractor serve``: ``X-API-Key`` checked against SHA-256 hashes in constant time.

Keys come from an environment variable (plain keys, separated by commas or whitespace; only their
hashes are kept) or from a file of SHA-256 hex digests (one a line; blank lines and ``#`` comments
skipped), so the file never holds a usable key. A missing key is 401, a wrong one 403. Serving
without keys is allowed only when asked (``--no-auth``) and only on a loopback host."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from pathlib import Path

from ..errors import ConfigError

HEADER = "X-API-Key"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def key_hash(key: str) -> str:
    """The SHA-256 hex digest of ``key`` (what a keys file holds)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class KeyChecker:
    """Checks a presented key against known hashes; every known hash is compared (no early exit)."""

    def __init__(self, hashes: list[str]) -> None:
        if not hashes:
            raise ConfigError("no API keys given")
        self._hashes = [h.encode("ascii") for h in hashes]

    @classmethod
    def from_env(cls, name: str) -> KeyChecker:
        keys = [k for k in re.split(r"[,\s]+", os.environ.get(name, "")) if k]
        if not keys:
            raise ConfigError(f"environment variable {name} holds no API keys")
        return cls([key_hash(k) for k in keys])

    @classmethod
    def from_file(cls, path: str | Path) -> KeyChecker:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read API keys file {path}: {exc}") from exc
        hashes = []
        for n, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip().lower()
            if not line:
                continue
            if not _HEX64.match(line):
                raise ConfigError(f"{path} line {n}: not a SHA-256 hex digest (64 hex digits)")
            hashes.append(line)
        if not hashes:
            raise ConfigError(f"API keys file {path} holds no hashes")
        return cls(hashes)

    def hashes(self) -> list[str]:
        """The known keys' hashes (what ``serve --workers`` hands its worker processes; never the keys)."""
        return [h.decode("ascii") for h in self._hashes]

    def check(self, key: str | None) -> int:
        """200 when ``key`` is known, 401 when there is none, 403 when it is wrong."""
        if not key:
            return 401
        presented = key_hash(key).encode("ascii")
        found = False
        for known in self._hashes:
            found |= hmac.compare_digest(presented, known)
        return 200 if found else 403
