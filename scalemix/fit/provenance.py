"""What a saved fit records about how it was made: versions, settings, data fingerprint."""

from __future__ import annotations

import datetime
import platform
from importlib.metadata import PackageNotFoundError, version

_PACKAGES = ("scalemix", "jax", "jaxlib", "numpyro", "optax", "arviz", "polars", "numpy")


def versions() -> dict[str, str]:
    """Installed versions of scalemix and the libraries whose numbers it depends on."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def provenance(table, law, method: str, settings: dict) -> dict:
    """Provenance of a fit of ``law`` by ``method`` with ``settings`` on run table ``table``."""
    return {
        "law": law.name,
        "law_options": dict(law.options),
        "method": method,
        "settings": settings,
        "data": {
            "source": table.source,
            "fingerprint": table.fingerprint(),
            "rows": len(table),
            "loss_unit": getattr(table, "loss_unit", "nats"),
        },
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
