"""Free text as the chaincode accepts it (chaincode/contract/validate.go, validateText): checked by the gateway
before any transaction, and what the importer cleans text to."""

from __future__ import annotations

import unicodedata

# Characters that change how text reads without being seen (validate.go, invisible): bidirectional controls, which
# can reorder what a reader sees, and zero-width or blank-looking ones, which can hide a difference.
INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # Bidi_Control
    "\u200c\u200d"  # Join_Control
    "\u200b\u2060\ufeff"  # zero-width space, word joiner, zero-width no-break space
    "\u00ad\u034f\u180e\u2061\u2062\u2063\u2064"  # soft hyphen, grapheme joiner, vowel separator, invisible operators
    "\u115f\u1160\u17b4\u17b5\u3164\uffa0"  # fillers and inherent vowels that show as nothing
)


def unprintable(char: str) -> bool:
    """Control characters (U+0000 included), line and paragraph separators, lone surrogates, U+FFFD, U+10FFFF."""
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in ("\ufffd", "\U0010ffff")
