"""fit/provenance.py: what a saved fit records about how it was made."""

import datetime
from importlib.metadata import version

import numpy as np

from scalemix import laws
from scalemix.fit.provenance import provenance, versions


def test_provenance_records_the_data_the_law_and_the_versions(chinchilla_table):
    record = provenance(chinchilla_table, laws.get("chinchilla"), "point", {"seed": 0})
    assert record["law"] == "chinchilla" and record["method"] == "point" and record["settings"] == {"seed": 0}
    assert record["data"] == {"source": chinchilla_table.source, "fingerprint": chinchilla_table.fingerprint(),
                              "rows": 240, "loss_unit": "nats"}
    assert record["versions"]["numpy"] == np.__version__ == version("numpy")
    assert set(versions()) >= {"python", "scalemix", "jax", "numpyro", "polars"}
    created = datetime.datetime.fromisoformat(record["created"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 60
