"""Which language a borrower wrote in: English or Simplified Chinese, from the script used.

A message with any Chinese characters is Chinese: people who write Chinese mix in English words
("我想 check balance") far more often than the reverse. A message with no letters at all ("1",
"👍") says nothing about the language, and the conversation keeps the one it had.
"""

from __future__ import annotations

import unicodedata

LANGUAGES = ("en", "zh")


def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= code <= 0x4DBF  # Extension A
        or 0xF900 <= code <= 0xFAFF  # Compatibility Ideographs
        or 0x20000 <= code <= 0x2FA1F  # Extensions B onwards
    )


def detect_language(text: str) -> str | None:
    """ "zh", "en", or None when the text has no letters to tell by."""
    latin = False
    for char in text:
        if _is_han(char):
            return "zh"
        if not latin and char.isalpha() and unicodedata.name(char, "").startswith("LATIN"):
            latin = True
    return "en" if latin else None
