"""Keras-style names, lookup and configs for initializers, regularizers and constraints.

Each kind has a fixed table of this package's classes: a name or config read from a file is
only ever looked up there (nothing is imported or run by name).
"""
import inspect
import re


def snake_case(name):
    """Keras' `to_snake_case`: "GlorotUniform" -> "glorot_uniform", "Conv1D" -> "conv1d"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Kind:
    """Lookup and (de)serialisation of one kind of object ("initializer", ...): `get` takes
    None, an instance, a class, a name or a config dict, and hands anything else to `other`
    (which returns an object or None); `by_name` maps extra names to factories; config keys in
    `ignored_keys` are dropped."""

    def __init__(self, kind, module, base, classes, aliases=None, by_name=None, other=None,
                 ignored_keys=()):
        self.kind, self.module, self.base = kind, module, base
        self.table = {}
        for cls in classes:
            self.table[cls.__name__] = cls
            self.table[snake_case(cls.__name__)] = cls
        self.table.update(aliases or {})
        self.by_name = by_name or {}
        self.other = other
        self.ignored_keys = ignored_keys

    def get(self, identifier):
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if inspect.isclass(identifier) and issubclass(identifier, self.base):
            return identifier()
        if isinstance(identifier, str):
            if identifier in self.by_name:
                return self.by_name[identifier]()
            if identifier not in self.table:
                raise ValueError(f"{self.kind}: unknown name {identifier!r}; expected one of "
                                 f"{sorted(set(self.table) | set(self.by_name))}")
            return self.table[identifier]()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        obj = None if self.other is None else self.other(identifier)
        if obj is None:
            known = sorted({c.__name__ for c in self.table.values()})
            raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r} "
                             f"(fastrnn knows {known})")
        return obj

    def serialize(self, obj):
        """Keras 3's `serialize_keras_object` layout for a built-in object (None stays None)."""
        if obj is None:
            return None
        if type(obj) not in self.table.values():
            raise ValueError(f"{self.kind} {obj!r} cannot be serialized (only the built-in "
                             f"{self.kind}s can)")
        return {"module": self.module, "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}

    def deserialize(self, spec):
        """An instance from `{"class_name": ..., "config": {...}}` (Keras 3 or Keras 2 layout;
        "module" and "registered_name" are not needed) or from a bare name."""
        if isinstance(spec, str):
            spec = {"class_name": spec, "config": {}}
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
            raise ValueError(f"{self.kind}: expected a name or a dict with a 'class_name', got "
                             f"{spec!r}")
        cls = self.table.get(spec["class_name"])
        if cls is None:
            raise ValueError(f"{self.kind}: unknown class_name {spec['class_name']!r}; expected "
                             f"one of {sorted(self.table)}")
        config = spec.get("config")
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError(f"{self.kind} {cls.__name__}: expected a config dict, got "
                             f"{config!r}")
        config = {k: v for k, v in config.items() if k not in self.ignored_keys}
        accepted = inspect.signature(cls.__init__).parameters
        unknown = sorted(k for k in config if k not in accepted)
        if unknown:
            raise ValueError(f"{self.kind} {cls.__name__}: unknown config key(s) {unknown}; "
                             f"expected some of {sorted(k for k in accepted if k != 'self')}")
        return cls.from_config(config)
