"""One sanitiser for every string that comes from a file and is shown to a person.

File names, manifest fields (titles, claim generators, signer names), EXIF, watermark sources and error
messages are attacker-controlled. Printed raw, ``\\x1b[2J`` clears the screen, ``\\n`` fakes a report line,
U+202E reverses the text after it and zero-width characters hide differences. :func:`printable` shows every
such character as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``) and leaves all other text alone; it is
for human views only. JSON output keeps the exact data: :func:`json_text` only re-spells the same characters
as JSON ``\\u`` escapes, so a parser reads back identical strings.

Rich markup is not this module's business: human views print these strings as ``rich.text.Text`` (or with
``markup=False``), so ``[bold]`` in a title prints literally. Stdlib only.
"""
from __future__ import annotations

import re
import unicodedata

# Unicode categories that never belong in a line of report text: controls (C0, DEL, C1), format characters
# (bidi embeddings/overrides/isolates and marks, zero-width space/joiners, word joiner, BOM, soft hyphen,
# tag characters…), line and paragraph separators, and lone surrogates (undecodable bytes of a file name).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_CANDIDATE = re.compile(r"[^\x20-\x7e]")  # printable ASCII is always safe: only look at the rest


def is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    """The visible escape of one character: ``\\n``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    if ch in _SHORT:
        return _SHORT[ch]
    cp = ord(ch)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _escape_match(m: re.Match) -> str:
    ch = m.group()
    return escape_char(ch) if is_unsafe(ch) else ch


def printable(value, limit: int | None = None) -> str:
    """``value`` as one line of safe terminal text; with ``limit``, shortened to about that many characters."""
    s = "" if value is None else str(value)
    s = _CANDIDATE.sub(_escape_match, s)
    if limit is not None and len(s) > limit:
        s = s[:limit] + f"… ({len(s) - limit} more characters)"
    return s


def _json_escape_match(m: re.Match) -> str:
    ch = m.group()
    if ch in "\n\r\t" or not is_unsafe(ch):  # JSON whitespace; json.dumps escapes these inside strings
        return ch
    cp = ord(ch)
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    cp -= 0x10000
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the unsafe characters spelled as ``\\u`` escapes.

    Outside strings JSON has none of these characters, and inside strings the escape means the same character,
    so the parsed data is unchanged; the terminal just never receives a bidi override or a lone surrogate.
    """
    return _CANDIDATE.sub(_json_escape_match, text)
