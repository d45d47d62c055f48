"""KomojuConfig: what `kessai processor set ... komoju` may store, and the factory."""

from __future__ import annotations

from typing import Any

import pytest

from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors.komoju import KomojuConfig, KomojuProcessor, from_config

GOOD = {"api_url": "https://komoju.example", "secret_key": "sk_live_abc123"}


def test_defaults_and_normalised_url() -> None:
    config = KomojuConfig.from_mapping({**GOOD, "api_url": "https://komoju.example/api/v1/"})
    assert config == KomojuConfig("https://komoju.example", "sk_live_abc123", None, 10.0)
    for local in ("http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"):
        assert KomojuConfig.from_mapping({**GOOD, "api_url": local + "/"}).api_url == local
    assert KomojuConfig.from_mapping({**GOOD, "timeout": "2.5"}).timeout == 2.5
    assert KomojuConfig.from_mapping({**GOOD, "webhook_secret": "whsec"}).webhook_secret == "whsec"


def test_secrets_stay_out_of_repr() -> None:
    config = KomojuConfig.from_mapping({**GOOD, "webhook_secret": "whsec_hidden"})
    assert "sk_live_abc123" not in repr(config) and "whsec_hidden" not in repr(config)


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"api_url": None}, "api_url is required"),
        ({"secret_key": ""}, "secret_key is required"),
        ({"api_url": "ftp://komoju.example"}, "api_url"),
        ({"api_url": "komoju.example"}, "api_url"),
        ({"api_url": "https://"}, "api_url"),
        ({"api_url": "http://komoju.example"}, "plain http only to this machine"),
        ({"api_url": "http://10.0.0.1:9000"}, "plain http only to this machine"),
        ({"api_url": "https://komoju.example/?x=1"}, "no query"),
        ({"api_url": "https://user:pw@komoju.example"}, "credentials"),
        ({"api_url": 42}, "api_url must be a string"),
        ({"secret_key": "sk live"}, "secret_key"),
        ({"secret_key": "sk_\u00e9"}, "secret_key"),
        ({"webhook_secret": 7}, "webhook_secret must be a string"),
        ({"webhook_secret": "a b"}, "webhook_secret"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 301}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"api_uri": "https://x"}, "unknown setting(s) api_uri"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=r"^komoju: ") as exc:
        KomojuConfig.from_mapping({**GOOD, **changes})
    assert names in str(exc.value)
    assert "sk_live_abc123" not in str(exc.value)


async def test_factory_builds_a_processor_serving_every_payment_type() -> None:
    processor = from_config({**GOOD, "timeout": 4})
    try:
        assert isinstance(processor, KomojuProcessor)
        assert processor.name == "komoju"
        assert processor.timeout == 4.0
        assert processor.supported_types == frozenset(PAYMENT_TYPES)
        assert processor.config.api_url == "https://komoju.example"
    finally:
        await processor.aclose()
