"""The report's figures, drawn with matplotlib (Agg) and ArviZ and returned as base64 PNG data URIs,
so that the HTML file is self-contained: nothing is fetched when it is viewed."""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
import numpy as np  # noqa: E402

from scalemix.report import curves as _curves  # noqa: E402

_COLUMNS = 4
_PANEL = (3.2, 2.6)
_DPI = 90


def fit_curves(curve_list: list[_curves.Curve], loss_unit: str) -> str:
    """Observed points and the median curve with 50% / 90% bands over model size, log-log, one panel
    per target and one colour per weighting."""
    targets = list(dict.fromkeys(c.target for c in curve_list))
    fig, axes = _grid(len(targets))
    for ax, target in zip(axes, targets):
        mine = [c for c in curve_list if c.target == target]
        for k, c in enumerate(mine):
            colour = f"C{k % 10}"
            for level, (lo, hi) in sorted(c.bands.items(), reverse=True):
                ax.fill_between(c.params, lo, hi, color=colour, alpha=0.15 if level > 0.5 else 0.3, lw=0)
            ax.plot(c.params, c.median, color=colour, lw=1.4, label=c.label if len(mine) > 1 else None)
            ax.scatter(c.points["params"], c.points["loss"], s=8, color=colour, alpha=0.6, edgecolor="none")
        ax.set(xscale="log", yscale="log", title=target, xlabel="parameters N", ylabel=f"loss ({loss_unit})")
        for labels in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            labels(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))  # 1.9, not 1.9 x 10^0
        if len(mine) > 1:
            ax.legend(fontsize=6, frameon=False)
    return _encode(fig)


def extrapolation(term: dict) -> str:
    """The half-width (percent of the loss) of the extrapolation term's 50/80/95% predictive intervals
    against the decades a query lies beyond the fitted range, with the farthest backtest evidence marked
    (``term`` is the report's ``extrapolation`` summary: ``curve`` rows and ``evidence``)."""
    fig, axes = _grid(1, height=2.4)
    ax = axes[0]
    rows = _columns(term["curve"])
    for k, level in enumerate(term["levels"]):
        ax.plot(rows["distance"], rows[f"half{level}"], color=f"C{k}", lw=1.4, label=f"{level}%")
    ax.axvline(term["evidence"], color="0.4", ls="--", lw=1)
    ax.text(term["evidence"], ax.get_ylim()[1], " backtest evidence ends", fontsize=6, va="top", color="0.3")
    ax.set(xlabel=f"decades of {term['axis']} beyond the fitted range", ylabel="interval half-width (% of loss)")
    ax.legend(fontsize=6, frameon=False, title="predictive", title_fontsize=6)
    return _encode(fig)


def loop_rounds(rows: list[dict]) -> str:
    """The goal's uncertainty against the FLOPs a closed loop had spent when it was measured (log scale), one
    point per round, labelled with the runs fitted."""
    fig, axes = _grid(1, height=2.4)
    ax = axes[0]
    spent = [row["spent"] - row["cost"] for row in rows]
    values = [row["uncertainty"] for row in rows]
    ax.plot(spent, values, marker="o", color="C0", lw=1.4)
    for x, y, row in zip(spent, values, rows):
        ax.annotate(f"{row['runs']} runs", (x, y), textcoords="offset points", xytext=(3, 4), fontsize=6)
    ax.set(yscale="log", xlabel="FLOPs spent by the loop", ylabel="goal uncertainty")
    return _encode(fig)


def residuals(frame, targets: list[str]) -> str:
    """Residuals log(observed) - median predicted log loss against model size, one panel per target."""
    fig, axes = _grid(len(targets), height=2.0)
    for ax, target in zip(axes, targets):
        rows = frame.filter(frame["target"] == target)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.scatter(rows["params"], rows["residual"], s=8, alpha=0.6, edgecolor="none")
        ax.set(xscale="log", title=target, xlabel="parameters N", ylabel="log residual")
    return _encode(fig)


def effective_fraction(rows: list[dict], targets: list[str], top: float) -> str:
    """``f_i(p)`` against ``p`` (median, 50% / 90% bands; ``rows`` of the summary's effective fraction)
    with the ``f = p`` diagonal (Fernandes et al. 2023, Figure 6), on a fixed axis from 0 to ``top``: draws
    on a ridge (huge c1 traded against beta) stretch a band by orders of magnitude, and an axis fitted to
    them would flatten the medians (the caption says where each curve leaves it)."""
    fig, ax = plt.subplots(figsize=(5.0, 4.2), dpi=_DPI)
    ax.plot([0, 1], [0, 1], color="0.3", ls="--", lw=1, label="f = p")
    for k, target in enumerate(targets):
        mine = _columns([r for r in rows if r["target"] == target])
        colour = f"C{k % 10}"
        for level, alpha in (("90", 0.12), ("50", 0.25)):
            ax.fill_between(mine["p"], mine[f"lo{level}"], mine[f"hi{level}"], color=colour, alpha=alpha, lw=0)
        ax.plot(mine["p"], mine["median"], color=colour, lw=1.4, label=target)
    ax.set(xlabel="training weight p", ylabel="effective fraction f(p)", xlim=(0, 1), ylim=(0, top))
    ax.legend(fontsize=7, loc="lower right")
    return _encode(fig)


def front(rows: list[dict], targets: list[str], loss_unit: str) -> str:
    """The trade-off front between two targets (Fernandes et al. 2023, Figure 7): the median loss of
    one against the other, one line per model size, with each point's 90% credible interval as bars."""
    x_target, y_target = targets
    fig, ax = plt.subplots(figsize=(5.4, 4.4), dpi=_DPI)
    for k, size in enumerate(sorted({r["params"] for r in rows})):
        x, y = (_columns([r for r in rows if r["params"] == size and r["target"] == t]) for t in targets)
        ax.errorbar(x["median"], y["median"], xerr=[x["median"] - x["lo90"], x["hi90"] - x["median"]],
                    yerr=[y["median"] - y["lo90"], y["hi90"] - y["median"]], fmt="o-", ms=3, lw=1.2,
                    elinewidth=0.6, capsize=0, color=f"C{k % 10}", label=f"N = {size:.3g}")
    ax.set(xlabel=f"{x_target} loss ({loss_unit})", ylabel=f"{y_target} loss ({loss_unit})")
    ax.legend(fontsize=7, loc="best")
    return _encode(fig)


def per_weighting(fit, name: str = "beta") -> str:
    """A per-weighting parameter (``beta_{i,p}`` of the per-weight law) with its 90% interval, by ``p``."""
    values = fit.draws[name]
    weights = [float(w) for w in fit.coords["weighting"]]
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=_DPI)
    for i, target in enumerate(fit.targets):
        median = np.median(values[:, i], axis=0)
        lo, hi = np.quantile(values[:, i], [0.05, 0.95], axis=0)
        ax.errorbar(weights, median, yerr=[median - lo, hi - median], fmt="o-", ms=3, capsize=2, label=target)
    ax.set(xlabel="training weight p", ylabel=name, yscale="log")
    ax.legend(fontsize=7, frameon=False)
    return _encode(fig)


def rank_plot(inference_data, var_names: list[str], panels: int) -> str:
    """ArviZ rank plots per chain (``panels`` scalar elements in all): flat histograms mean the chains agree."""
    import arviz as az

    axes = az.plot_rank(inference_data, var_names=var_names, figsize=(12, 2.4 * math.ceil(panels / 3)))
    return _encode(np.ravel(axes)[0].figure)


def transfer_matrix(rows: list[dict]) -> str:
    """The transfer matrix of a transfer fit as a heatmap: target rows, source columns, colour the median
    tau_ij on a log scale, each cell labelled with its median and 90% interval (own entries, fixed at 1, blank)."""
    targets = list(dict.fromkeys(r["target"] for r in rows))
    named = {r["source"] for r in rows}
    sources = [t for t in targets if t in named] + sorted(named - set(targets))  # own entries on the diagonal
    median = np.full((len(targets), len(sources)), np.nan)
    fig, ax = plt.subplots(figsize=(1.1 * len(sources) + 2.2, 0.55 * len(targets) + 1.6), dpi=_DPI)
    for r in rows:
        median[targets.index(r["target"]), sources.index(r["source"])] = r["median"] if r["median"] is not None else np.nan
    positive = median[np.isfinite(median) & (median > 0)]
    norm = matplotlib.colors.LogNorm(positive.min(), positive.max()) if positive.size and positive.min() < positive.max() else None
    image = ax.imshow(np.where(median > 0, median, np.nan), cmap="Blues", norm=norm, aspect="auto")
    for r in rows:
        i, j = targets.index(r["target"]), sources.index(r["source"])
        dark = norm is not None and median[i, j] > 0 and norm(median[i, j]) > 0.6
        ax.text(j, i, f"{r['median']:.2g}\n[{r['lo90']:.2g}, {r['hi90']:.2g}]", ha="center", va="center", fontsize=6,
                color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label="tau (median)")
    ax.set_xticks(range(len(sources)), sources, rotation=45, ha="right")
    ax.set_yticks(range(len(targets)), targets)
    ax.set(xlabel="source language (its tokens)", ylabel="target language (learns)")
    return _encode(fig)


def _columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Summary rows (in stored order: by front point or by ``p``) as one float array per numeric column;
    a number the JSON holds as ``null`` (not finite) is NaN, which matplotlib leaves out."""
    return {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0] if k != "target"} if rows else {}


def _grid(panels: int, height: float = _PANEL[1]):
    columns = min(_COLUMNS, max(panels, 1))
    rows = math.ceil(panels / columns)
    grow = 1.6 if columns == 1 else 1.25 if columns == 2 else 1.0  # few panels: draw them larger
    size = (_PANEL[0] * grow * columns, height * grow * rows)
    fig, axes = plt.subplots(rows, columns, figsize=size, dpi=_DPI, squeeze=False)
    for ax in axes.ravel()[panels:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:panels])


def _encode(fig) -> str:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
