"""`setting(var, value)`: a `contextvars.ContextVar` holding `value` for one `with` block (in
the current thread), then what it held before."""
import contextlib


@contextlib.contextmanager
def setting(var, value):
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
