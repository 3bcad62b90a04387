"""Reading a gradscope trace back into pandas."""

import io

from gradscope._meta import parse_line


def read_meta(path):
    """The '# key = value' lines before a trace's header row, as a dict of typed values
    (int, float, bool or str; an empty value is ''), in file order. Raises OSError when the
    file cannot be read."""
    meta = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            kv = parse_line(line.rstrip("\r\n"))
            if kv:
                meta[kv[0]] = kv[1]
    return meta


def load_trace(path):
    """Loads a trace written by gradscope or by gradscope.GradTrace.

    Returns (frame, meta): a pandas.DataFrame with one row per (step, layer) and the file's
    columns (empty cells, meaning "not measured", become NaN; `name` and `kind` stay
    strings), and the metadata dict of read_meta(). A trace still being written is read up
    to its last complete line. Raises OSError when the file cannot be read and ValueError
    when it holds no header row. Needs pandas."""
    import pandas as pd

    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        # a writer is appending: the bytes after the last newline are half a row
        text = text[: text.rfind("\n") + 1]
    meta = {}
    pos = 0
    while text.startswith("#", pos):
        end = text.find("\n", pos)
        kv = parse_line(text[pos:end].rstrip("\r"))
        if kv:
            meta[kv[0]] = kv[1]
        pos = end + 1
    if pos >= len(text):
        raise ValueError(f"{path}: no header row after the metadata")
    frame = pd.read_csv(io.StringIO(text[pos:]), dtype={"name": str, "kind": str},
                        keep_default_na=False, na_values=[""])
    return frame, meta


def load_hist(path):
    """The histogram side file of the trace at `path` (its `hist_file` metadata, beside it) as
    a numpy float32 array (steps, layers, 3, 228), or None when the trace has none or the file
    is not there (yet). Raises OSError when the trace cannot be read and ValueError when the
    side file's shape is not (S, layers, 3, 228). Needs numpy."""
    import os

    import numpy as np

    meta = read_meta(path)
    name = meta.get("hist_file")
    if not name:
        return None
    side = os.path.join(os.path.dirname(os.path.abspath(path)), str(name))
    try:
        arr = np.load(side)
    except FileNotFoundError:
        return None
    bins = meta.get("hist_bins", 228)
    if arr.ndim != 4 or arr.shape[2] != 3 or arr.shape[3] != bins or (
            "layers" in meta and arr.shape[1] != meta["layers"]):
        raise ValueError(f"{side}: shape {arr.shape}, expected (steps, {meta.get('layers')}, "
                         f"3, {bins})")
    return arr
