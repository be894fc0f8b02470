"""The one registry of layer classes that configs and files may name.

A class is registered with `@register` where it is defined; `deserialize` instantiates only
registered classes (never a name imported from a file), so loading a config cannot run code.
"""
_LAYERS = {}


def register(cls):
    """Class decorator: make `cls` loadable by its class name."""
    name = cls.__name__
    if name in _LAYERS and _LAYERS[name] is not cls:
        raise ValueError(f"layer class name {name!r} is already registered")
    _LAYERS[name] = cls
    return cls


def registered():
    """{class name: class} of every loadable layer and model (importing fastrnn registers
    them all)."""
    return dict(_LAYERS)


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec):
    classes = registered()
    name = spec.get("class_name") if isinstance(spec, dict) else None
    if name not in classes:
        raise ValueError(f"unknown layer class {name!r}; fastrnn can load {sorted(classes)}")
    return classes[name].from_config(dict(spec.get("config", {})))
