"""report/source.py: the runs a report reads must be the ones the fit was made on (by fingerprint)."""

import pytest

from scalemix.errors import RunTableError
from scalemix.report import runs_for


def test_the_runs_must_be_the_ones_the_fit_was_made_on(chinchilla_fit, bootstrap_fit, synthetic):
    with pytest.raises(RunTableError, match="fingerprint"):
        runs_for(chinchilla_fit, "chinchilla-all")  # the 5 outliers Epoch drops are back in
    with pytest.raises(RunTableError, match="--runs"):
        runs_for(bootstrap_fit)  # fitted on an in-memory frame: nothing to re-read
    assert runs_for(bootstrap_fit, synthetic).fingerprint() == bootstrap_fit.provenance["data"]["fingerprint"]
