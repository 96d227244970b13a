"""Errors raised for bad input: each message names the file, line or column, the rule and the value."""

from __future__ import annotations

import math

__all__ = ["EntembedError", "InputError", "UnknownKeyError", "ModelFileError", "MissingExtraError",
           "check_positive_int", "check_fraction", "check_range"]


class EntembedError(Exception):
    """Base of every error entembed raises on purpose; the CLI prints its message without a traceback."""


class InputError(EntembedError, ValueError):
    """Data or an argument that does not meet a documented rule.

    ``param`` names the setting at fault when there is one; its message then opens with that name, so a
    front end can show the setting under its own name (``renamed``): the CLI shows ``--min-count``.
    """

    def __init__(self, message: str, *, param: str | None = None):
        if param is not None and not message.startswith(param):
            raise ValueError(f"an InputError about {param!r} must open with that name: {message!r}")
        super().__init__(message)
        self.param = param

    def renamed(self, name: str) -> str:
        """The message with the setting called ``name`` (e.g. its command-line flag)."""
        message = str(self)
        return name + message[len(self.param):] if self.param else message


class UnknownKeyError(EntembedError, KeyError):
    """A key (or id) that a vocab or table does not hold; the message suggests the closest known keys."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelFileError(EntembedError, OSError):
    """A model folder that is missing, damaged or does not match itself."""


class MissingExtraError(EntembedError, ImportError):
    """An optional part of entembed whose extra is not installed; the message names the pip line."""

    def __init__(self, feature: str, extra: str, module: str):
        super().__init__(f"{feature} needs {module}: pip install 'entembed[{extra}]'")


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise an InputError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an int >= 1. Got {value!r} instead.", param=name)
    return value


def check_fraction(name: str, value: float, *, allow_zero: bool = True) -> float:
    """Return ``value`` if it lies in [0, 1) (or (0, 1) when zero is not allowed)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not ((value >= 0 if allow_zero else value > 0) and value < 1):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise InputError(f"{name} must be a number in {bound}. Got {value!r} instead.", param=name)
    return float(value)


def check_range(name: str, value: object) -> tuple[float, float]:
    """Return ``value`` as (low, high) floats if it is two finite numbers with low < high."""
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high) or isinstance(value, (str, bytes)):
        raise InputError(f"{name} must be (low, high): two finite numbers with low < high. Got {value!r} instead.",
                         param=name)
    return low, high
