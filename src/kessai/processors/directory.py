"""Which processor serves a merchant's mode: the `Directory` the services ask.

`FixedDirectory` gives every merchant the same processors (tests, tools); the server uses
the store-backed directory in `kessai.services.processor_config`, which reads each
merchant's choice (`kessai processor set`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kessai.errors import ProcessorUnavailable
from kessai.processors.base import Processor

NO_LIVE_PROCESSOR = (
    "No live processor is configured for this merchant; live-mode keys cannot move money "
    "yet. Use test-mode keys, or set one with `kessai processor set --mode live`."
)


class Directory(Protocol):
    async def get(self, merchant_id: str, livemode: bool) -> Processor:
        """The processor of this merchant's mode; `ProcessorUnavailable` if it has none."""
        ...


@dataclass
class FixedDirectory:
    test: Processor
    live: Processor | None = None

    async def get(self, merchant_id: str, livemode: bool) -> Processor:
        if not livemode:
            return self.test
        if self.live is None:
            raise ProcessorUnavailable(NO_LIVE_PROCESSOR)
        return self.live
