"""Learner names as the grader shows them and as the file names it derives from them.

A learner is named by a folder or file in the submissions folder, and a file system
allows nearly any bytes there: 255 of them, bytes that are not UTF-8, newlines, a leading
dash, or two spellings of "é" that differ only in Unicode normalisation. The grader keeps
the name exactly as found (Python's surrogate-escaped str) and derives two others:

- `display_name`: what the gradebook, results.json, the feedback page and the terminal
  show. A plain printable NFC name is shown as it is; any other is escaped (`\\xe9` for a
  byte that is not UTF-8, `\\n`, `\\u0301`, `\\\\`), so that two learners never share one.
- `file_stem`: the stem of feedback/, records/ and executed/ files. A plain name of at
  most STEM_BYTES bytes is used as it is; any other is cut, made safe and given a hash of
  the exact name, so that derived files stay far below the 255-byte limit and never clash.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

STEM_BYTES = 120
HASH_CHARS = 12
_HASHED = re.compile(rf"-[0-9a-f]{{{HASH_CHARS}}}$")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_name(learner: str) -> str:
    """learner as readable text: unchanged when plain, else with the odd characters escaped."""
    if _plain(learner):
        return learner
    escape_marks = not unicodedata.is_normalized("NFC", learner)
    return "".join(_escape(char, escape_marks) for char in learner)


def file_stem(learner: str) -> str:
    """A file-name stem for learner's files: short, safe and distinct for every learner."""
    if (
        _plain(learner)
        and len(learner.encode()) <= STEM_BYTES
        and not learner.startswith(("-", "."))
        and "/" not in learner
        and not _HASHED.search(learner)
    ):
        return learner
    safe = "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in display_name(learner))
    cut = safe.encode()[:STEM_BYTES].decode(errors="ignore").lstrip("-.")
    digest = hashlib.sha256(os.fsencode(learner)).hexdigest()[:HASH_CHARS]
    return f"{cut}-{digest}" if cut else digest


def _plain(learner: str) -> bool:
    return (
        learner.isprintable()  # no control, format or surrogate-escaped characters
        and "\\" not in learner
        and unicodedata.is_normalized("NFC", learner)
    )


def _escape(char: str, escape_marks: bool) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogate escape)
        return f"\\x{code - 0xDC00:02x}"
    if char.isprintable() and not (escape_marks and unicodedata.combining(char)):
        return char
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
