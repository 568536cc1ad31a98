"""Parsing of durations written as `300s`, `5m`, `1h30m`, `250ms` or plain seconds."""
from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# A year: longer waits are mistakes, and beyond ~292 years the clocks and timers underneath overflow.
MAX_SECONDS = 366 * 86400
PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$|^\s*\d+(\.\d+)?\s*$"


def parse_duration(value: object) -> float:
    """Seconds for a duration value; raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a duration: a finite number of seconds is needed")
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        if value > MAX_SECONDS:
            raise ValueError(f"{value!r} seconds is longer than the {MAX_SECONDS // 86400} days allowed")
        return float(value)
    text = str(value).strip()
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h30m or seconds)")
    return parse_duration(total)


def format_duration(seconds: float) -> str:
    """Short human form: 0.42s, 12.3s, 4m05s, 1h02m."""
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
