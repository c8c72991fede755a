"""Name -> object registry (trainers, datasets, evaluators)."""

__all__ = ["Registry"]


class Registry:
    """Maps names to classes or functions; ``register`` works as a decorator or a call."""

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _do_register(self, name, obj, force=False):
        if name in self._obj_map and not force:
            raise KeyError(f'An object named "{name}" is already registered in the "{self._name}" registry')
        self._obj_map[name] = obj

    def register(self, obj=None, force=False):
        """Register ``obj`` under its ``__name__``; without ``obj``, return a decorator."""
        if obj is None:
            def decorator(fn_or_class):
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return decorator
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def get(self, name):
        """The object registered as ``name``; KeyError listing the registered names otherwise."""
        if name not in self._obj_map:
            raise KeyError(
                f'Object name "{name}" does not exist in the "{self._name}" registry '
                f"(registered: {self.registered_names()})"
            )
        return self._obj_map[name]

    def registered_names(self):
        return list(self._obj_map.keys())

    def __contains__(self, name):
        return name in self._obj_map
