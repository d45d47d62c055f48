"""Processors by name, through Python entry points (group `kessai.processors`).

Each entry point is a *factory*: called with a processor's stored config (a JSON object)
it returns a `Processor`. kessai declares two in its pyproject.toml, `simulated` and
`komoju` (both below); another package adds an acquirer by declaring one more:

    [project.entry-points."kessai.processors"]
    myacquirer = "mypackage.processor:factory"

A factory may also have a `check(config) -> dict` method that validates a config and
returns it normalised without building anything (no network client is opened); without
one, `check` builds the processor and closes it again. Bad config raises `ConfigError`
naming the field; an unknown name raises `UnknownProcessor` listing the known ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol

from kessai.processors.base import Processor

GROUP = "kessai.processors"


class ConfigError(ValueError):
    """A processor config kessai cannot use; `field` is the config key at fault."""

    def __init__(self, processor: str, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.processor = processor
        self.field = field
        self.reason = reason


class UnknownProcessor(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.message = (
            f"no processor named {name!r}; known processors: {', '.join(known) or '(none)'}"
        )
        super().__init__(self.message)


class Factory(Protocol):
    def __call__(self, config: Mapping[str, Any]) -> Processor: ...


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def known_names() -> list[str]:
    """The names of the installed processors, sorted."""
    return sorted(_entry_points())


def factory(name: str) -> Factory:
    entry = _entry_points().get(name)
    if entry is None:
        raise UnknownProcessor(name, known_names())
    loaded: Factory = entry.load()
    return loaded


def build(name: str, config: Mapping[str, Any]) -> Processor:
    """The processor `name`, built from its config (`ConfigError` if it is bad)."""
    return factory(name)(config)


async def check(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` validated (and normalised) for processor `name`, nothing left open."""
    made = factory(name)
    checker = getattr(made, "check", None)
    if checker is not None:
        return dict(checker(config))
    processor = made(config)
    close = getattr(processor, "aclose", None)
    if close is not None:
        await close()
    return dict(config)


def _only(processor: str, config: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(config) - set(allowed))
    if extra:
        takes = f"its settings: {', '.join(allowed)}" if allowed else "it has none"
        raise ConfigError(
            processor, extra[0], f"is not a setting of the {processor} processor ({takes})"
        )


# ------------------------------------------------------------------ simulated


class _Simulated:
    """`simulated`: kessai's in-memory test-mode processor; it takes no settings."""

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        _only("simulated", config, ())
        return {}

    def __call__(self, config: Mapping[str, Any]) -> Processor:
        from kessai.processors.simulated import SimulatedProcessor

        self.check(config)
        return SimulatedProcessor()


simulated = _Simulated()


# ------------------------------------------------------------------ komoju


class _Komoju:
    """`komoju`: KOMOJU's API at `api_url` (`kessai.processors.komoju`). Its settings have
    one rule set, `KomojuConfig` (`kessai.processors.komoju_config`): what `check` accepts
    is exactly what builds."""

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        from kessai.processors.komoju_config import KomojuConfig

        return KomojuConfig.from_mapping(config).stored()

    def __call__(self, config: Mapping[str, Any]) -> Processor:
        from kessai.processors.komoju import from_config

        processor: Processor = from_config(config)
        return processor


komoju = _Komoju()
