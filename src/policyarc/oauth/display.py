"""Text a client chose for itself (`client_name`, its id, its redirect host), made safe to show on our pages.

HTML escaping stops markup, not deception: a name with a right-to-left override (U+202E) reads backwards, so
"Claude\u202eedoC" or a name that visually swaps in another host can imitate a trusted client; newlines and other
controls can push text out of view. Such characters have no place in a name, so `display_text` replaces every
control (C0, C1), bidirectional embedding, override, isolate and mark, and every other invisible format character
(Unicode category Cf: zero-width spaces and joiners, soft hyphen, BOM) with U+FFFD, which the user sees, then
collapses runs of whitespace and bounds the length. Both registered (DCR) and metadata-document (CIMD) clients
reach the consent page through it. `unsafe_characters` lets registration refuse such a name outright.
"""

from __future__ import annotations

import unicodedata

__all__ = ["REPLACEMENT", "display_text", "unsafe_characters"]

REPLACEMENT = "\ufffd"
_MAX_SHOWN = 100

# Named for the record; every one of them is also in category Cc or Cf, which `_unsafe` catches wholesale.
_BIDI = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE, RLE, PDF, LRO, RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI, RLI, FSI, PDI
    + ["\u200e", "\u200f", "\u061c"]  # LRM, RLM, ALM
)


def _unsafe(char: str) -> bool:
    # Cc: C0 and C1 controls (tab and newline included); Cf: format characters, bidi controls among them;
    # Zl/Zp: line and paragraph separators, which break the line like a newline.
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def unsafe_characters(text: str) -> list[str]:
    """The code points of `text` that `display_text` would replace, as `U+XXXX`, in order, without repeats."""
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in text if _unsafe(c)))


def display_text(text: str, *, limit: int = _MAX_SHOWN) -> str:
    """`text` with controls and invisible format characters replaced by U+FFFD, whitespace collapsed, at most
    `limit` characters (an ellipsis marks a cut). Still to be HTML-escaped: this is about what the eye sees."""
    cleaned = "".join(REPLACEMENT if _unsafe(c) else c for c in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"
