"""The one rule for names: NFC-normalised, and nothing invisible in them.

A name (device, sensor, site, unit, detector, gateway id) that looks the same as another must
be the same string, and a name must look like what it is. So names are normalised to Unicode
NFC, and characters that do not show, or that reorder what is shown, are refused: every
character of the categories Cc (controls), Cf (format: bidi embeddings and isolates, zero-width
space/joiners, the byte-order mark, soft hyphen, ...), Cs (lone surrogates), Zl and Zp (line
and paragraph separators), plus the few invisible code points outside them (Hangul fillers,
the Mongolian vowel separator). The cloud uses the same functions for every other name it
takes (rule scopes, silences, query parameters).

>>> clean_name("Cafe\\u0301")  # decomposed e + combining acute -> one composed character
'Café'
>>> name_problem("pump\\u202e1")
'contains U+202E (an invisible or direction-changing character)'
>>> name_problem("zero\\u200bwidth"), name_problem("ok-name")
('contains U+200B (an invisible or direction-changing character)', None)
"""

from __future__ import annotations

import unicodedata

#: Categories refused anywhere in a name.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Invisible or direction-changing code points outside those categories (the bidi and
#: zero-width ones, U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF, U+061C, are all Cf).
REFUSED_CODE_POINTS = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E, 0x2800})


def bad_character(text: str) -> str | None:
    """The first refused character of ``text``, or None."""
    for ch in text:
        if ord(ch) in REFUSED_CODE_POINTS or unicodedata.category(ch) in REFUSED_CATEGORIES:
            return ch
    return None


def name_problem(text: str) -> str | None:
    """Why ``text`` may not be a name (after NFC), or None."""
    ch = bad_character(text)
    if ch is not None:
        return f"contains U+{ord(ch):04X} (an invisible or direction-changing character)"
    return None


def clean_name(text: str) -> str:
    """``text`` in NFC; ValueError (the :func:`name_problem`) when it holds a refused
    character. For use as a pydantic ``AfterValidator``."""
    if text.isascii():  # the common case: NFC already, and only Cc can be invisible
        problem = name_problem(text) if not text.isprintable() else None
    else:
        text = unicodedata.normalize("NFC", text)
        problem = name_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text
