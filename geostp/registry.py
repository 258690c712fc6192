"""A small name -> object registry used for models, catalogs and metrics (no if-chains by name).

One registration mechanism for built-ins and plug-ins: a registry may name the modules that register its
built-in entries and an entry-point group (`geostp.models`, `geostp.catalogs`). Another package adds
an entry without editing geostp by declaring, in its pyproject.toml,

    [project.entry-points."geostp.models"]
    my_model = "my_package.my_module"

where importing `my_package.my_module` registers `my_model` (with `@register_model("my_model", ...)`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from geostp.errors import GeostpError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; `get` lists the known names (and close ones) on a miss."""

    def __init__(self, kind: str, group: str | None = None, builtins: tuple[str, ...] = ()) -> None:
        self.kind, self.group, self.builtins = kind, group, tuple(builtins)
        self._items: dict[str, T] = {}
        self._loaded = False

    def load(self) -> None:
        """Import the built-in modules, then every installed plug-in of the entry-point group (once).

        A plug-in whose import fails, or that does not register the name it is declared under, is an error
        naming the plug-in and its package.
        """
        if self._loaded:
            return
        self._loaded = True  # set first: the modules imported below use this registry
        try:
            self._load()
        except BaseException:
            self._loaded = False
            raise

    def _load(self) -> None:
        for module in self.builtins:
            importlib.import_module(module)
        if not self.group:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            where = f"plug-in {ep.name!r} ({ep.value}) of entry-point group {self.group!r}"
            try:
                ep.load()
            except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported as one line
                raise GeostpError(f"{where} failed to load: {type(exc).__name__}: {exc}") from None
            if ep.name not in self._items:
                raise GeostpError(f"{where} loaded but registered no {self.kind} named {ep.name!r}; "
                                  f"registered: {', '.join(self.names())}")

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator registering its target under `name` (default: its __name__)."""

        def deco(obj: T) -> T:
            key = name or getattr(obj, "__name__")
            if key in self._items:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._items[key] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register `obj` under `name` (non-decorator form)."""
        self.register(name)(obj)

    def get(self, name: str) -> T:
        """The object registered as `name`, or an UnknownNameError listing the known names."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
