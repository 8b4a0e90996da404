"""Derived quantities with intervals, over a fit's draws: compute-optimal allocation, effective parameters,
and the multilingual readouts of a transfer fit (transfer matrix, language roles, monolingual-token worth,
the worth of repeated data).

Each function evaluates a law-level formula (:func:`scalemix.laws.compute_optimal`,
:func:`scalemix.laws.effective_fraction`, :func:`scalemix.laws.saturated`) or the fit's predictions on
every draw at once (broadcast over the draw axis) and summarises it like :meth:`~scalemix.Fit.predict`:
``mean``, ``median`` and central intervals ``lo<L>``/``hi<L>`` per level. For a point fit the interval
collapses to the point.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from scalemix import intervals, laws
from scalemix._x64 import float64
from scalemix.errors import FitError
from scalemix.design import own_weights
from scalemix.fitresult import Fit
from scalemix.predictor import query_frame


def compute_optimal(fit: Fit, flops, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Compute-optimal ``N*``, ``D*`` and tokens per parameter ``D*/N*`` at each FLOP budget ``C = 6 N D``.

    Hoffmann et al. 2022, eq. 4 (see :func:`scalemix.laws.compute_optimal`), on every draw of a
    ``chinchilla`` fit. Rows: ``flops, target, quantity`` (``params``, ``tokens``, ``tokens_per_param``)
    with ``mean, median, lo<L>, hi<L>``.
    """
    _require(fit, {"A", "B", "alpha", "beta"}, "compute_optimal", "chinchilla")
    flops = np.atleast_1d(np.asarray(flops, dtype=float))
    theta = {k: fit.draws[k][None] for k in ("A", "B", "alpha", "beta")}  # [1, S, targets]
    with float64():
        values = [np.asarray(v) for v in laws.compute_optimal(theta, flops[:, None, None])]  # 3 x [F, S, T]
    names = ("params", "tokens", "tokens_per_param")
    return _summarise({"flops": flops}, fit.targets, dict(zip(names, values)), levels)


def effective_fraction(fit: Fit, p, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Effective-parameter fraction ``f_i(p)`` of a ``multilingual`` fit at training weights ``p``
    (Fernandes et al. 2023, eq. 6). Rows: ``p, target, quantity="fraction"`` with the summary columns."""
    f = _multilingual_form(fit)
    p = np.atleast_1d(np.asarray(p, dtype=float))
    theta = {k: v[None] for k, v in fit.draws.items()}
    with float64():
        fraction = np.asarray(laws.effective_fraction(theta, p[:, None, None], f))
    return _summarise({"p": p}, fit.targets, {"fraction": fraction}, levels)


def effective_params(fit: Fit, params, p, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Effective parameters ``N_eff = f_i(p) N`` of a ``multilingual`` fit, for every pair of ``params``
    and ``p`` values. Rows: ``params, p, target, quantity="params_effective"`` with the summary columns."""
    f = _multilingual_form(fit)
    grid_n, grid_p = (a.ravel() for a in np.meshgrid(np.atleast_1d(params).astype(float), np.atleast_1d(p).astype(float), indexing="ij"))
    theta = {k: v[None] for k, v in fit.draws.items()}
    with float64():
        values = np.asarray(laws.effective_params(theta, grid_n[:, None, None], grid_p[:, None, None], f))
    return _summarise({"params": grid_n, "p": grid_p}, fit.targets, {"params_effective": values}, levels)


def transfer_matrix(fit: Fit, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """The transfer weights ``tau_ij`` of a ``transfer`` fit (Longpre et al. 2025): what one token of language
    ``source`` is worth to ``target``, in ``target``'s own tokens. Rows: ``target, source`` (own entries,
    fixed at 1, left out) with the summary columns and ``p_positive``, the share of draws with ``tau_ij > 0``
    (1 by construction unless the law was fitted with ``signed=True``)."""
    if fit.law.name != "transfer":
        raise FitError(f"the transfer matrix needs a 'transfer' fit (Longpre et al. 2025); this is {fit.law.name!r}")
    targets, domains = fit.targets, fit.coords["domain"]
    pairs = [(i, j) for i, t in enumerate(targets) for j, d in enumerate(domains) if t != d]
    tau = fit.draws["transfer"][:, [i for i, _ in pairs], [j for _, j in pairs]]  # [S, pairs]
    columns = {"target": [targets[i] for i, _ in pairs], "source": [domains[j] for _, j in pairs]}
    columns.update({k: v for k, v in intervals.summary(tau, intervals.check(levels), axis=0).items()})
    columns["p_positive"] = np.mean(tau > 0, axis=0)
    return pl.DataFrame(columns)


ROLES = ("reciprocal", "altruistic", "selfish", "stagnant")
"""How training on more of one language moves the losses (the quadrants of Yuan et al. 2024, "How Vocabulary
Sharing Facilitates Multilingualism in LLaMA?", whose altruistic / selfish / stagnant classes Li et al.
2025, "Rethinking Multilingual Continual Pretraining", revisit): it helps itself and the others
(*reciprocal*), the others more than a tolerance but not itself (*altruistic*), itself but not the others
(*selfish*), or neither (*stagnant*)."""


def language_roles(fit: Fit, at, *, added: float = 0.1, tolerance: float = 0.005) -> pl.DataFrame:
    """Each training language's role at the run ``at`` (a mapping or one-row frame: ``params``, ``tokens``,
    ``w.<domain>``, optional ``unique.<domain>``), read off the fit's draws.

    Continued training on ``added * tokens`` more tokens of language ``j`` (the papers' continual
    pre-training on ``j``) changes each target's predicted loss; ``self_gain`` is ``j``'s own relative loss
    reduction, ``others_gain`` the mean over the other targets. A gain above ``tolerance`` (relative) counts
    as help; the roles are the quadrants of :data:`ROLES`, with the share of draws in each (``p_<role>``) and
    the most probable as ``role``. These are this library's operational reading of the papers' classes (their
    classes come from fine-tuning experiments, not from a fitted law), stated so they can be checked. Rows: one
    per training domain that is also a target.
    """
    _require_mixture_law(fit, "language roles")
    base = query_frame(at, fit.targets, fit.coords["domain"]).drop("target").unique(maintain_order=True)
    if base.height != 1:
        raise FitError(f"language roles are read at one run; got {base.height} points")
    languages = [d for d in fit.coords["domain"] if d in fit.targets]
    if not languages:
        raise FitError("language roles need training domains named like targets (w.<lang> for target <lang>); this fit has none")
    weights = np.array([float(base[f"w.{d}"][0]) if f"w.{d}" in base.columns else 0.0 for d in fit.coords["domain"]])
    rows = [base]
    for lang in languages:
        more = weights + added * (np.asarray(fit.coords["domain"]) == lang)
        rows.append(base.with_columns(pl.lit(float(base["tokens"][0]) * (1 + added)).alias("tokens"),
                                      *(pl.lit(w / (1 + added)).alias(f"w.{d}") for d, w in zip(fit.coords["domain"], more))))
    _, log_loss = fit.log_loss_draws(pl.concat(rows, how="diagonal_relaxed"))  # each point, then every target
    loss = np.exp(log_loss).reshape(log_loss.shape[0], len(rows), len(fit.targets))  # [S, variant, target]
    gain = 1.0 - loss[:, 1:] / loss[:, :1]  # [S, language, target]
    columns = {"language": languages}
    own = [fit.targets.index(lang) for lang in languages]
    self_gain = gain[:, np.arange(len(languages)), own]  # [S, language]
    others = np.ones((len(languages), len(fit.targets)))
    others[np.arange(len(languages)), own] = 0.0
    others_gain = (gain * others).sum(axis=-1) / others.sum(axis=-1)  # [S, language]
    for name, values in (("self_gain", self_gain), ("others_gain", others_gain)):
        columns.update({f"{name}_{k}": v for k, v in intervals.summary(values, (0.9,), axis=0).items()})
    helps_self, helps_others = self_gain > tolerance, others_gain > tolerance
    shares = {"reciprocal": helps_self & helps_others, "altruistic": ~helps_self & helps_others,
              "selfish": helps_self & ~helps_others, "stagnant": ~helps_self & ~helps_others}
    columns.update({f"p_{role}": np.mean(shares[role], axis=0) for role in ROLES})
    columns["role"] = [ROLES[k] for k in np.argmax(np.stack([columns[f"p_{r}"] for r in ROLES]), axis=0)]
    return pl.DataFrame(columns)


def monolingual_tokens(fit: Fit, query, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Estimated monolingual tokens (Chang et al. 2023, "When is Multilinguality a Curse?"): for each run of
    ``query`` and target ``i``, the tokens ``D_mono`` of a run on ``i`` alone, at the same size and without
    repetition, that reaches the loss the law predicts for the multilingual run; ``worth`` is ``D_mono``
    over the tokens of ``i`` the run trains on (``tokens * w.<i>``; > 1 where the other languages help).
    From the Chinchilla terms: ``D_mono = (B_i / (L - E_i - A_i / N^alpha_i))^(1/beta_i)`` (infinite where no
    monolingual run gets there). Rows: the query's rows with ``quantity`` ``tokens_monolingual`` and ``worth``
    and the summary columns."""
    _require(fit, {"E", "A", "B", "alpha", "beta"}, "monolingual_tokens", "transfer")
    frame, log_loss = fit.log_loss_draws(query)
    index = np.array([fit.targets.index(t) for t in frame["target"]])
    theta = {k: fit.draws[k][:, index] for k in ("E", "A", "B", "alpha", "beta")}  # [S, rows]
    params = frame["params"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.exp(log_loss) - theta["E"] - theta["A"] / params ** theta["alpha"]
        tokens = np.where(gap > 0, (theta["B"] / np.where(gap > 0, gap, 1.0)) ** (1.0 / theta["beta"]), np.inf)
        worth = tokens / (frame["tokens"].to_numpy() * own_weights(frame, fit.targets))
    keys = frame.drop([c for c in frame.columns if c in ("loss",)])
    out = []
    for quantity, values in (("tokens_monolingual", tokens), ("worth", worth)):
        with np.errstate(invalid="ignore"):  # a target the run never reached, or one with no weight of its own
            summary = intervals.summary(values, intervals.check(levels), axis=0)
        out.append(keys.with_columns(pl.lit(quantity).alias("quantity"), *(pl.Series(k, v) for k, v in summary.items())))
    return pl.concat(out)


def repetition_worth(fit: Fit, epochs, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Effective epochs of data repeated ``epochs`` times (Muennighoff et al. 2023): ``1 + R* (1 - exp(-(e - 1)
    / R*))`` for ``e >= 1`` (``e`` below 1), the fresh-data equivalent of ``e`` passes, per target of a
    ``transfer`` (``rstar``) or ``data-constrained`` (``rstar_tokens``) fit. Rows: ``epochs, target,
    quantity="effective_epochs"`` with the summary columns."""
    name = {"transfer": "rstar", "data-constrained": "rstar_tokens"}.get(fit.law.name)
    if name is None:
        raise FitError(f"the worth of repeated data needs a 'transfer' or 'data-constrained' fit; this is {fit.law.name!r}")
    epochs = np.atleast_1d(np.asarray(epochs, dtype=float))
    with float64():
        values = np.asarray(laws.saturated(epochs[:, None, None], 1.0, fit.draws[name][None]))  # [E, S, T]
    return _summarise({"epochs": epochs}, fit.targets, {"effective_epochs": values}, levels)


def _require_mixture_law(fit: Fit, what: str) -> None:
    if not {"weights", "tokens"} <= fit.law.needs:
        raise FitError(f"{what} need a law that reads the mixture and the token budget (e.g. transfer); "
                       f"law {fit.law.name!r} reads {', '.join(sorted(fit.law.needs))}")


def _summarise(keys: dict, targets, quantities: dict[str, np.ndarray], levels) -> pl.DataFrame:
    """``{quantity: [points, S, targets]}`` -> long frame of key columns, target, quantity, summaries."""
    frames = []
    points = len(next(iter(keys.values())))
    for quantity, values in quantities.items():
        columns = {k: np.repeat(v, len(targets)) for k, v in keys.items()}
        columns["target"] = np.tile(np.asarray(targets, dtype=object), points)
        columns["quantity"] = [quantity] * (points * len(targets))
        columns.update({k: v.ravel() for k, v in intervals.summary(values, intervals.check(levels), axis=1).items()})
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames)


def _require(fit: Fit, names: set[str], what: str, law: str) -> None:
    missing = sorted(names - set(fit.draws))
    if missing:
        raise FitError(f"{what} needs a {law!r} fit (parameters {', '.join(sorted(names))}); this fit of "
                       f"law {fit.law.name!r} lacks {', '.join(missing)}")


def _multilingual_form(fit: Fit) -> str:
    if fit.law.name != "multilingual":
        raise FitError(f"effective parameters need a 'multilingual' fit (f_i(p) of Fernandes et al. 2023); this is {fit.law.name!r}")
    return fit.law.options.get("f", "power")


__all__ = ["ROLES", "compute_optimal", "effective_fraction", "effective_params", "language_roles", "monolingual_tokens",
           "repetition_worth", "transfer_matrix"]
