"""Processors by name: both of kessai's resolve through the `kessai.processors` entry
points, an unknown name lists the known ones, and a bad config names its field."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from kessai.processors import registry
from kessai.processors.komoju import KomojuProcessor
from kessai.processors.simulated import SimulatedProcessor

KEY = "sk_test_" + "0123456789abcdef" * 2
GOOD = {"api_url": "https://komoju.com/api/v1", "secret_key": KEY}


def test_both_names_are_entry_points_of_the_installed_package() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="kessai.processors")}
    assert declared == {
        "simulated": "kessai.processors.registry:simulated",
        "komoju": "kessai.processors.registry:komoju",
    }
    assert registry.known_names() == ["komoju", "simulated"]
    assert registry.factory("simulated") is registry.simulated
    assert registry.factory("komoju") is registry.komoju


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(registry.UnknownProcessor) as caught:
        registry.factory("stripe")
    assert (
        caught.value.message == "no processor named 'stripe'; known processors: komoju, simulated"
    )


def test_simulated_builds_and_takes_no_settings() -> None:
    assert isinstance(registry.build("simulated", {}), SimulatedProcessor)
    with pytest.raises(registry.ConfigError) as caught:
        registry.build("simulated", {"api_url": "https://x.example"})
    assert caught.value.field == "api_url"
    assert str(caught.value) == "api_url is not a setting of the simulated processor (it has none)"


async def test_komoju_config_is_normalised_with_defaults() -> None:
    checked = await registry.check("komoju", {**GOOD, "api_url": "HTTPS://KOMOJU.com/api/v1/"})
    assert checked == {
        "api_url": "https://komoju.com/api/v1",
        "secret_key": KEY,
        "webhook_secret": None,
        "timeout": 10.0,
    }
    local = await registry.check(
        "komoju",
        {
            "api_url": "http://127.0.0.1:8123",
            "secret_key": KEY,
            "webhook_secret": "w",
            "timeout": 3,
        },
    )
    assert local["api_url"] == "http://127.0.0.1:8123" and local["timeout"] == 3.0
    assert (await registry.check("komoju", {**GOOD, "api_url": "http://[::1]:9/"}))["api_url"] == (
        "http://[::1]:9"
    )
    # The stored form checks (and builds) to itself.
    assert await registry.check("komoju", checked) == checked


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"api_url": None}, "api_url", "is required"),
        ({"secret_key": None}, "secret_key", "is required"),
        ({"api_url": "ftp://komoju.com"}, "api_url", "http or https"),
        ({"api_url": "http://komoju.com/api/v1"}, "api_url", "must be https"),
        ({"api_url": "https://komoju.com/api?x=1"}, "api_url", "query"),
        ({"api_url": "https://user@komoju.com"}, "api_url", "user information"),
        ({"secret_key": "pk_test_0123456789abcdef"}, "secret_key", "KOMOJU secret key"),
        ({"secret_key": "sk_short"}, "secret_key", "KOMOJU secret key"),
        ({"secret_key": KEY + " x"}, "secret_key", "KOMOJU secret key"),
        ({"timeout": 0}, "timeout", "more than 0"),
        ({"timeout": -1.5}, "timeout", "more than 0"),
        ({"timeout": 121}, "timeout", "at most 120"),
        ({"timeout": float("nan")}, "timeout", "more than 0"),
        ({"timeout": True}, "timeout", "number of seconds"),
        ({"timeout": "10"}, "timeout", "number of seconds"),
        ({"webhook_secret": "a\nb"}, "webhook_secret", "control characters"),
        ({"webhook_secret": ""}, "webhook_secret", "1 to 255"),
        ({"webhook_secret": "two words"}, "webhook_secret", "no spaces"),
        ({"webhook_secret": "\u79d8\u5bc6"}, "webhook_secret", "ASCII"),
        ({"region": "jp"}, "region", "not a setting of the komoju processor"),
    ],
)
async def test_a_bad_komoju_config_names_its_field(
    change: dict[str, Any], field: str, says: str
) -> None:
    config = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(registry.ConfigError) as caught:
        await registry.check("komoju", config)
    assert caught.value.field == field
    assert says in caught.value.reason
    assert KEY not in str(caught.value)  # a message never quotes the key


async def test_komoju_builds_a_komoju_processor() -> None:
    processor = registry.build("komoju", {**GOOD, "timeout": 4})
    assert isinstance(processor, KomojuProcessor)
    assert processor.name == "komoju" and processor.timeout == 4.0
    await processor.aclose()
