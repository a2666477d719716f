"""Choosing an external provider (bank, billing) from configuration.

A setting such as SHIELD_BANK_PROVIDER holds a built-in name (`simulated`) or an import path
`package.module:Class`; the class is instantiated with no arguments (or with the app's config
when it has a `from_config(config)` classmethod). Nothing here falls back silently: a bad
path, a class missing a method, or an unset setting in production refuses to start with a
ConfigError. The interfaces and what each call must guarantee are in docs/providers.md.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping

from .config import PRODUCTION, ConfigError

log = logging.getLogger(__name__)

SIMULATED = "simulated"


def install(app, key: str, setting: str, builtins, methods, simulated_effect: str):
    """Build the provider `app.config[setting]` names and keep it as `app.extensions[key]`."""
    provider = load_provider(app.config, setting, builtins, methods, simulated_effect)
    app.extensions[key] = provider
    return provider


def load_provider(
    config: Mapping,
    setting: str,
    builtins: Mapping[str, Callable[[], object]],
    methods: Iterable[str],
    simulated_effect: str,
):
    """Return the provider `config[setting]` names; refuse to start when it cannot be used.

    `builtins` maps names to factories; `methods` are the calls the interface requires;
    `simulated_effect` says, for the production warning, what the simulation does not do."""
    env = config.get("SHIELD_ENV")
    raw = config.get(setting)
    value = str(raw).strip() if raw else ""
    if not value:
        if env == PRODUCTION:
            raise ConfigError(
                f"{setting} is not set: in production set it to package.module:Class (your "
                f"adapter, see docs/providers.md), or to '{SIMULATED}' to run the simulation "
                f"knowingly"
            )
        value = SIMULATED
    if value.lower() in builtins:
        name = value.lower()
        provider = builtins[name]()
        if name == SIMULATED and env == PRODUCTION:
            log.warning(
                "\n%s\n%s=%s IN PRODUCTION: %s. Set %s to your adapter's package.module:Class "
                "for real money.\n%s",
                "!" * 78,
                setting,
                SIMULATED,
                simulated_effect,
                setting,
                "!" * 78,
            )
        return provider
    provider = _import(setting, value, builtins)(config)
    missing = [m for m in methods if not callable(getattr(provider, m, None))]
    if missing:
        raise ConfigError(
            f"{setting}={value!r} does not implement the interface: missing "
            f"{', '.join(missing)} (see docs/providers.md)"
        )
    log.info("%s: %s", setting, value)
    return provider


def _import(setting: str, value: str, builtins: Mapping) -> Callable[[Mapping], object]:
    module_name, sep, attr = value.partition(":")
    if not sep or not module_name or not attr:
        known = ", ".join(sorted(builtins))
        raise ConfigError(
            f"{setting}={value!r} is neither a known name ({known}) nor an import path "
            "package.module:Class"
        )
    try:
        target = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise ConfigError(
            f"{setting}={value!r} cannot be imported: {type(exc).__name__}: {exc}"
        ) from None
    except AttributeError:
        raise ConfigError(f"{setting}={value!r}: {module_name} has no {attr}") from None
    if not callable(target):
        raise ConfigError(f"{setting}={value!r} is not a class")

    def build(config: Mapping) -> object:
        factory = getattr(target, "from_config", None)
        try:
            return factory(config) if callable(factory) else target()
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 (one line, whatever the adapter raised)
            raise ConfigError(
                f"{setting}={value!r} could not be created: {type(exc).__name__}: {exc}"
            ) from None

    return build
