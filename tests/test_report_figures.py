"""report/figures.py: the figures embedded in the report are valid PNGs."""

import base64
import io
import re


def test_embedded_figures_are_valid_pngs(bootstrap_report):
    import matplotlib.image

    sources = re.findall(r'src="data:image/png;base64,([^"]+)"', bootstrap_report.read_text())
    assert len(sources) == 4  # curves, residuals, effective fraction, front
    for data in sources:
        assert matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png").shape[0] > 100
