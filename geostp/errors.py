"""Error types of geostp; every message names the problem and the way out."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GeostpError(Exception):
    """Base class of every error geostp raises on user input."""


class PeerLostError(GeostpError):
    """Another process of a launch died, so this one stopped: every surviving rank reports it (not only rank 0)."""

    every_rank = True


class UnknownNameError(GeostpError, KeyError):
    """A name (model, catalog, variable, preset, config key) that is not known."""

    def __init__(self, kind: str, name: str, known: Iterable[str], where: str = "", also: str = "") -> None:
        """`also`: a further sentence appended to the message (e.g. the runs available)."""
        known = sorted(known)
        close = difflib.get_close_matches(str(name), known, n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        loc = f" in {where}" if where else ""
        more = f"; {also}" if also else ""
        self.name, self.known = name, known
        super().__init__(f"unknown {kind} {name!r}{loc}; known: {', '.join(known) or '(none)'}{hint}{more}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DataError(GeostpError):
    """Source data that is missing, inconsistent, or contains what we cannot use."""


class StoreError(GeostpError):
    """An analysis-ready store that is missing, half-written, corrupt or of another version."""


class TargetExistsError(StoreError, FileExistsError):
    """An output exists and --overwrite was not given (or another writer put one there meanwhile)."""


class WriteError(GeostpError, OSError):
    """An output could not be written (full disk, no permission, unusable parent)."""


class LockedError(GeostpError):
    """The target is being written by another live process."""


class IntegrityError(StoreError):
    """A file whose checksum does not match the one recorded when it was written."""


class ConfigError(GeostpError, ValueError):
    """A configuration or command option that does not validate (config keys, --set, --device, ...)."""


class RunMismatchError(GeostpError, ValueError):
    """A trained run that does not fit what is asked of it: another model, variables, grid or frame step."""


class ShapeError(GeostpError, ValueError):
    """A tensor shape, grid or sequence length a component cannot take."""


def missing_extra(package: str, extra: str, purpose: str = "for this") -> GeostpError:
    """Error for an optional dependency that is not installed, with the install command (`purpose`: what needs it)."""
    return GeostpError(
        f"{package} is needed {purpose} and is not installed; install it with "
        f"`pip install 'geostp[{extra}]'` (or `pip install {package}`)"
    )
