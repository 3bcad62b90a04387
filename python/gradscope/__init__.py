"""gradscope for PyTorch: write a gradscope trace from a training loop (GradTrace) and read
traces back (load_trace). `gradscope plot TRACE` and `gradscope diagnose TRACE` render and
judge them.

GradTrace needs torch; load_trace needs pandas; importing this package needs neither."""

__version__ = "0.1.0"
__all__ = ["GradTrace", "load_trace", "load_hist", "read_meta", "__version__"]

from gradscope._load import load_hist, load_trace, read_meta  # noqa: E402  (pandas imported on use)


def __getattr__(name):
    # torch is imported only when GradTrace is asked for
    if name in ("GradTrace", "COLUMNS", "KINDS"):
        from gradscope import tracer

        return getattr(tracer, name)
    raise AttributeError(f"module 'gradscope' has no attribute {name!r}")
