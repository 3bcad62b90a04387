"""Trace metadata: '# key = value' lines as the C reader parses them, with typed values."""

_TRUE = ("true", "yes", "on")
# Lists of layer names or numbers: kept as text even when one entry looks like a number
# (a Sequential's layers are named "0", "2", ...).
TEXT_KEYS = frozenset(("frozen", "unused", "tied", "reused", "input_mean", "input_std",
                       "input_shape", "first_nonfinite", "hist", "hist_act", "hist_log_edges"))
_FALSE = ("false", "no", "off")


def parse_value(text):
    """Types one metadata value: int, then float (nan/inf included), then bool words
    (true/false/yes/no/on/off), else the string itself; an empty value stays ''."""
    s = text.strip()
    if not s:
        return ""
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        pass
    low = s.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return s


def parse_line(line):
    """(key, typed value) of a '# key = value' line, or None for any other line. Like the C
    reader, the key and value are trimmed and the first '=' splits them; the keys in
    TEXT_KEYS stay strings."""
    if not line.startswith("#"):
        return None
    body = line[1:]
    eq = body.find("=")
    if eq < 0:
        return None
    key = body[:eq].strip()
    if not key:
        return None
    value = body[eq + 1:].strip()
    return key, value if key in TEXT_KEYS else parse_value(value)


def format_value(value):
    """Text of a metadata value: bools as 1/0 (what the C side reads as flags), floats with
    9 significant digits, None as empty; newlines would end the line, so they become spaces."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return format(value, ".9g")
    return str(value).replace("\r", " ").replace("\n", " ")
