"""Text from steps, made safe to print on a terminal: control characters and escape sequences shown, not obeyed.

A step's output (or a message quoting it) may hold ANSI escape sequences that recolour, move the cursor, clear
the screen, set the window title or write to the clipboard (OSC 52), and bidirectional-override characters
that make a line read differently from what it holds. Printed for people, each such character is written as
a visible escape (`\\x1b`, `\\u202e`); newlines and tabs are kept, and the carriage return of CRLF output is
dropped.
"""
from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidirectional controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CRLF = re.compile("\r+(?=\n|$)")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(text: str) -> str:
    """`text` with every control character that a terminal would obey written out as a visible escape."""
    if text.isprintable():  # the common case: nothing to do (newlines and tabs make isprintable False)
        return text
    return _UNSAFE.sub(_visible, _CRLF.sub("", text))
