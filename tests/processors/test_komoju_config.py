"""KomojuConfig: the one rule set for what `kessai processor set ... komoju` may store, and
what every server builds from it. A config the registry accepts always builds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors import registry
from kessai.processors.komoju import KomojuConfig, KomojuProcessor, from_config
from kessai.processors.komoju_config import MAX_TIMEOUT, loopback

KEY = "sk_live_abc1234567890"
GOOD = {"api_url": "https://komoju.example", "secret_key": KEY}


def test_defaults_and_normalised_url() -> None:
    config = KomojuConfig.from_mapping({**GOOD, "api_url": "HTTPS://Komoju.example/api/v1/"})
    assert config == KomojuConfig("https://komoju.example/api/v1", KEY, None, 10.0)
    assert config.base_url == "https://komoju.example"  # the processor appends /api/v1
    for local in ("http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"):
        built = KomojuConfig.from_mapping({**GOOD, "api_url": local + "/"})
        assert built.api_url == built.base_url == local
    assert KomojuConfig.from_mapping({**GOOD, "timeout": 2.5}).timeout == 2.5
    assert KomojuConfig.from_mapping({**GOOD, "timeout": MAX_TIMEOUT}).timeout == 120.0
    assert KomojuConfig.from_mapping({**GOOD, "webhook_secret": "whsec"}).webhook_secret == "whsec"


def test_secrets_stay_out_of_repr() -> None:
    config = KomojuConfig.from_mapping({**GOOD, "webhook_secret": "whsec_hidden"})
    assert KEY not in repr(config) and "whsec_hidden" not in repr(config)


@pytest.mark.parametrize(
    ("changes", "setting", "says"),
    [
        ({"api_url": None}, "api_url", "is required"),
        ({"secret_key": None}, "secret_key", "is required"),
        ({"api_url": "ftp://komoju.example"}, "api_url", "http or https"),
        ({"api_url": "komoju.example"}, "api_url", "http or https"),
        ({"api_url": "https://"}, "api_url", "valid host"),
        ({"api_url": "http://komoju.example"}, "api_url", "plain http only to this machine"),
        ({"api_url": "http://10.0.0.1:9000"}, "api_url", "plain http only to this machine"),
        ({"api_url": "https://komoju.example/?x=1"}, "api_url", "query"),
        ({"api_url": "https://user:pw@komoju.example"}, "api_url", "user information"),
        ({"api_url": 42}, "api_url", "must be a string"),
        ({"secret_key": ""}, "secret_key", "KOMOJU secret key"),
        ({"secret_key": "sk live"}, "secret_key", "KOMOJU secret key"),
        ({"secret_key": "sk_\u00e9" * 8}, "secret_key", "KOMOJU secret key"),
        ({"secret_key": "pk_live_abc1234567890"}, "secret_key", "KOMOJU secret key"),
        ({"webhook_secret": 7}, "webhook_secret", "printable ASCII"),
        ({"webhook_secret": ""}, "webhook_secret", "1 to 255"),
        ({"webhook_secret": "a b"}, "webhook_secret", "no spaces"),
        ({"webhook_secret": "caf\u00e9"}, "webhook_secret", "ASCII"),
        ({"webhook_secret": "a\nb"}, "webhook_secret", "control characters"),
        ({"webhook_secret": "w" * 256}, "webhook_secret", "1 to 255"),
        ({"timeout": 0}, "timeout", "more than 0"),
        ({"timeout": -1}, "timeout", "more than 0"),
        ({"timeout": 121}, "timeout", "at most 120"),
        ({"timeout": 10**400}, "timeout", "at most 120"),
        ({"timeout": "10"}, "timeout", "number of seconds"),
        ({"timeout": True}, "timeout", "number of seconds"),
        ({"timeout": float("nan")}, "timeout", "more than 0"),
        ({"api_uri": "https://x"}, "api_uri", "not a setting of the komoju processor"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, Any], setting: str, says: str) -> None:
    config = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    with pytest.raises(registry.ConfigError) as exc:
        KomojuConfig.from_mapping(config)
    assert exc.value.field == setting
    assert says in exc.value.reason
    assert KEY not in str(exc.value)


async def test_the_registry_checks_with_the_same_rules() -> None:
    """What used to pass `kessai processor set` and then fail every build is refused."""
    for bad in ({"webhook_secret": "two words"}, {"webhook_secret": "\u79d8\u5bc6"}):
        with pytest.raises(registry.ConfigError) as caught:
            await registry.check("komoju", {**GOOD, **bad})
        assert caught.value.field == "webhook_secret"
    with pytest.raises(registry.ConfigError) as caught:
        await registry.check("komoju", {**GOOD, "timeout": 300})
    assert caught.value.field == "timeout" and "at most 120" in caught.value.reason


async def test_factory_builds_a_processor_serving_every_payment_type() -> None:
    processor = from_config({**GOOD, "timeout": 4})
    try:
        assert isinstance(processor, KomojuProcessor)
        assert processor.name == "komoju"
        assert processor.timeout == 4.0
        assert processor.supported_types == frozenset(PAYMENT_TYPES)
        assert processor.config.base_url == "https://komoju.example"
    finally:
        await processor.aclose()


def test_loopback_hosts() -> None:
    for host in ("localhost", "127.0.0.1", "127.9.9.9", "[::1]", "api.localhost"):
        assert loopback(host), host
    for host in ("komoju.com", "10.0.0.1", "localhost.example", "[::2]", ""):
        assert not loopback(host), host


# --------------------------------------------------------------------------- one rule set

_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_URLS = st.one_of(
    st.sampled_from(
        [
            "https://komoju.com",
            "https://komoju.com/api/v1/",
            "HTTPS://KOMOJU.com/api/v1",
            "http://127.0.0.1:9/",
            "http://[::1]:9/api/v1",
            "http://localhost:8080",
            "http://komoju.com",
            "https://komoju.com/?q=1",
            "https://u@komoju.com",
            "https://b\u00fccher.example/",
            " https://komoju.com",
        ]
    ),
    _TEXT,
)
_KEYS = st.one_of(
    st.from_regex(r"sk_[A-Za-z0-9_]{10,20}", fullmatch=True),
    st.sampled_from([KEY, KEY + " ", "pk_live_abc1234567890"]),
    _TEXT,
)
_SECRETS = st.one_of(st.none(), _TEXT, st.from_regex(r"[!-~]{1,20}", fullmatch=True))
_TIMEOUTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["10", 120, 120.0, 120.0001, 300]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=_URLS,
    key=_KEYS,
    secret=_SECRETS,
    seconds=_TIMEOUTS,
    extra=st.one_of(st.none(), st.sampled_from(["region", "api_uri"])),
)
async def test_a_config_the_registry_accepts_always_builds(
    url: Any, key: Any, secret: Any, seconds: Any, extra: str | None
) -> None:
    config: dict[str, Any] = {"api_url": url, "secret_key": key}
    if secret is not None:
        config["webhook_secret"] = secret
    if seconds is not None:
        config["timeout"] = seconds
    if extra is not None:
        config[extra] = "x"
    try:
        checked = await registry.check("komoju", config)
    except registry.ConfigError as exc:
        # Refused by the same rules the build uses.
        with pytest.raises(registry.ConfigError) as again:
            registry.build("komoju", config)
        assert again.value.field == exc.field
        return
    processor = registry.build("komoju", checked)  # what a server builds from the stored row
    try:
        assert isinstance(processor, KomojuProcessor)
        assert processor.config.stored() == checked
        assert await registry.check("komoju", checked) == checked  # stored form is stable
        assert 0 < processor.timeout <= 120
    finally:
        await processor.aclose()
