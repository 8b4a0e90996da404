"""Bayesian fits of any law with NumPyro: NUTS (default) and SVI posteriors, returned as :class:`~scalemix.Fit`.

One model serves every law; it is built from the law's parameter declarations (:class:`~scalemix.laws.Param`)::

    z_k      ~ Normal(prior_loc_k, prior_scale_k)        each unconstrained element (the law's declared prior)
    theta    = layout.unpack(z)                          constrained parameters, named as in the paper
    sigma_t  ~ HalfNormal(SIGMA_PRIOR_SCALE)             log-loss noise scale of target t
    log L_r  ~ StudentT(STUDENT_DF, law.log_loss(theta, x_r), sigma_t[r])     (or Normal)

The Student-t likelihood with fixed ``STUDENT_DF`` degrees of freedom is the Bayesian counterpart of the
Huber loss of the point fit (Hoffmann et al. 2022): near-quadratic for small residuals, heavy-tailed for
outliers. ``likelihood="normal"`` gives a Gaussian likelihood.

Hierarchical option (partial pooling; Gelman et al., *Bayesian Data Analysis*, ch. 5): every parameter
with one value per target (``dims == ("target",)``, e.g. exponents ``alpha_i``) is drawn around a
population mean ``m_p ~ Normal(prior_loc, prior_scale)`` with spread ``s_p ~ HalfNormal(POOL_SCALE_FRACTION
* prior_scale)``, non-centred: ``z_{p,t} = m_p + s_p * eps_{p,t}``, ``eps ~ Normal(0, 1)``. Targets with
few runs then borrow strength from the others.

Shrinkage option (``shrink_domains``; many domains, few runs): every per-domain coefficient (a parameter
whose dims include ``domain``) gets a learned prior scale, one per parameter and target:
``z_{t,j} ~ Normal(prior_loc, tau_t)``, ``tau_t ~ HalfNormal(prior_scale)`` -- the hierarchical-scale prior
of Gelman et al. (ch. 5) that the runs pull towards 0 when they cannot tell the domains apart, the Bayesian
counterpart of the point fit's cross-validated ridge (:mod:`scalemix.fit.shrinkage`).

NUTS chains start at the point fit (:func:`~scalemix.fit.point.fit_point`) so they begin in the right
basin; they run in parallel across devices when there are enough, vectorised on one device otherwise.
The posterior, sample statistics, pointwise log-likelihood (for PSIS-LOO) and observed data go into an
ArviZ ``InferenceData`` named by parameter with the law's dims.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
from tqdm.auto import tqdm
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import AutoMultivariateNormal
from numpyro.infer.initialization import init_to_value
from numpyro.infer.hmc import hmc
from numpyro import handlers
from numpyro.infer.util import constrain_fn, log_density, log_likelihood, potential_energy

from scalemix import diagnostics as checks
from scalemix._x64 import float64
from scalemix.design import design, table_coords
from scalemix.errors import FitError
from scalemix.fit.point import check_settings, fit_point, fitted_range
from scalemix.fit.provenance import provenance
from scalemix.fitresult import Fit
from scalemix.laws import Inputs, Law, Layout

STUDENT_DF = 4.0
"""Degrees of freedom of the Student-t likelihood (fixed, not learned): heavy tails like Huber's, finite variance."""
START_PRIOR_SDS = 4.0
"""Chains start at the point fit, clipped to this many prior sd around each prior's centre."""
SIGMA_PRIOR_SCALE = 0.1
"""HalfNormal scale of the per-target noise on log loss (0.1 = ~10% loss noise; real runs show ~1%)."""
POOL_SCALE_FRACTION = 0.5
"""Population spread prior of pooled parameters: HalfNormal(POOL_SCALE_FRACTION * the law's prior scale)."""
DENSE_MASS_MAX_SIZE = 64
"""NUTS adapts a dense mass matrix (exponent/coefficient correlations) up to this many latent elements."""
_PSIS_DRAWS = 1000
_INIT_JITTER = 0.1
_PROGRESS_SEGMENTS = 20
_LIKELIHOODS = {"student": "student", "student-t": "student", "t": "student", "normal": "normal"}
_RESERVED = ("u", "prior_free", "pop_loc", "pop_scale", "z_raw", "sigma", "tau", "log_loss")


@dataclass(frozen=True)
class _Spec:
    """Everything static about one model: law, joint layout, likelihood, pooling (hashable: keys compiles)."""

    law: Law
    layout: Layout
    likelihood: str
    pooled: tuple[int, ...]  # slot indices partially pooled across targets (empty: no pooling)
    shrunk: tuple[int, ...] = ()  # per-domain slot indices with a learned prior scale per target (empty: none)

    @property
    def n_targets(self) -> int:
        return len(self.layout.coords["target"])

    def shrunk_elements(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the shrunk elements and, for each, its scale group (shrunk slot x target)."""
        indices, groups = [], []
        for k, i in enumerate(self.shrunk):
            slot = self.layout.slots[i]
            per_target = slot.size // self.n_targets
            indices.append(np.arange(slot.start, slot.start + slot.size))
            groups.append(k * self.n_targets + np.arange(slot.size) // per_target)
        return (np.concatenate(indices), np.concatenate(groups)) if indices else (np.zeros(0, int), np.zeros(0, int))

    def shrunk_labels(self) -> list[str]:
        """One label per scale group: ``t[pile_cc]``."""
        return [f"{self.layout.slots[i].param.name}[{t}]" for i in self.shrunk for t in self.layout.coords["target"]]

    def pooled_elements(self) -> np.ndarray:
        return np.concatenate([np.arange(s.start, s.start + s.size) for i, s in enumerate(self.layout.slots) if i in self.pooled]).astype(int) if self.pooled else np.zeros(0, int)

    def free_elements(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.layout.size), self.pooled_elements())


def _spec(law: Law, coords, likelihood: str, hierarchical: bool, shrink_domains: bool = False) -> _Spec:
    if likelihood not in _LIKELIHOODS:
        raise FitError(f"unknown likelihood {likelihood!r}; choose student (Student-t, the default) or normal")
    likelihood = _LIKELIHOODS[likelihood]
    clash = sorted({p.name for p in law.params} & set(_RESERVED))
    if clash:
        raise FitError(f"law {law.name!r} names a parameter {clash[0]!r}, which the Bayesian model reserves; rename it")
    layout = law.layout(coords)
    pooled = ()
    if hierarchical:
        pooled = tuple(i for i, s in enumerate(layout.slots) if s.param.dims == ("target",))
        if len(coords["target"]) < 2 or not pooled:
            raise FitError(f"--hierarchical pools per-target parameters across targets; law {law.name!r} on "
                           f"{len(coords['target'])} target(s) has nothing to pool: fit without it")
    shrunk = ()
    if shrink_domains:
        shrunk = tuple(i for i, s in enumerate(layout.slots) if s.param.dims == ("target", "domain"))
        if not shrunk:
            raise FitError(f"--shrink-domains shrinks per-domain coefficients; law {law.name!r} has none: fit without it")
    return _Spec(law, layout, likelihood, pooled, shrunk)


def _likelihood(spec: _Spec, mean, noise):
    """Distribution of observed log loss around the law's prediction ``mean`` with scale ``noise``."""
    return dist.StudentT(STUDENT_DF, mean, noise) if spec.likelihood == "student" else dist.Normal(mean, noise)


@lru_cache(maxsize=16)
def _model(spec: _Spec):
    """The NumPyro model of ``spec``: ``model(inputs, whitening, observed_log_loss=None)``.

    The free (unpooled) unconstrained elements are sampled as ``z = shift + scale_matrix @ u`` with a flat
    density on ``u`` and the law's Normal prior added on ``z`` (a linear change of variables: the
    posterior of ``z`` is unchanged). ``whitening = (shift, scale_matrix)`` comes from the Laplace
    approximation at the point fit, so NUTS sees a near-isotropic posterior even where exponents and
    log-coefficients are correlated at 0.999 (Chinchilla's ``alpha`` and ``log A``); it is a model
    *argument*, so tables of the same shape reuse one compiled sampler.
    """
    loc, scale = (jnp.asarray(a) for a in spec.layout.prior_loc_scale())
    pooled, free = spec.pooled_elements(), spec.free_elements()
    pooled_slots = [spec.layout.slots[i] for i in spec.pooled]
    pop_loc_prior = jnp.asarray([s.param.prior[0] for s in pooled_slots])
    pop_scale_prior = jnp.asarray([s.param.prior[1] for s in pooled_slots])
    shrunk, scale_group = spec.shrunk_elements()
    tau_prior = jnp.asarray(scale)[shrunk][np.unique(scale_group, return_index=True)[1]]

    def model(inputs: Inputs, whitening, observed_log_loss=None):
        shift, scale_matrix = whitening
        u = numpyro.sample("u", dist.ImproperUniform(dist.constraints.real_vector, (), (free.size,)))
        z_free = shift + scale_matrix @ u
        prior_scale = scale
        if spec.shrunk:
            tau = numpyro.sample("tau", dist.HalfNormal(tau_prior).to_event(1))
            prior_scale = scale.at[shrunk].set(tau[scale_group])
        numpyro.factor("prior_free", dist.Normal(loc[free], prior_scale[free]).log_prob(z_free).sum())
        z = jnp.zeros(spec.layout.size).at[free].set(z_free)
        if spec.pooled:
            pop_loc = numpyro.sample("pop_loc", dist.Normal(pop_loc_prior, pop_scale_prior).to_event(1))
            pop_scale = numpyro.sample("pop_scale", dist.HalfNormal(POOL_SCALE_FRACTION * pop_scale_prior).to_event(1))
            z_raw = numpyro.sample("z_raw", dist.Normal(jnp.zeros((len(pooled_slots), spec.n_targets)), 1.0).to_event(2))
            z = z.at[pooled].set((pop_loc[:, None] + pop_scale[:, None] * z_raw).ravel())
        theta = spec.layout.unpack(z)
        for name, value in theta.items():
            numpyro.deterministic(name, value)
        sigma = numpyro.sample("sigma", dist.HalfNormal(SIGMA_PRIOR_SCALE * jnp.ones(spec.n_targets)).to_event(1))
        mean = spec.law.log_loss(theta, inputs)
        with numpyro.plate("rows", mean.shape[0]):
            numpyro.sample("log_loss", _likelihood(spec, mean, sigma[inputs.target]), obs=observed_log_loss)

    return model


@lru_cache(maxsize=16)
def _hessian(spec: _Spec):
    """Jitted Hessian of the negative log posterior in the free elements, noise held fixed."""
    loc, scale = spec.layout.prior_loc_scale()
    free = spec.free_elements()

    def negative_log_posterior(z_free, z, sigma, inputs, observed):
        mean = spec.law.log_loss(spec.layout.unpack(z.at[free].set(z_free)), inputs)
        log_lik = _likelihood(spec, mean, sigma[inputs.target]).log_prob(observed).sum()
        return -(log_lik + dist.Normal(loc[free], scale[free]).log_prob(z_free).sum())

    return jax.jit(lambda z, sigma, inputs, observed: jax.hessian(negative_log_posterior)(z[free], z, sigma, inputs, observed))


def _whitening(spec: _Spec, inputs, observed, z, sigma, laplace: bool):
    """``(shift, scale_matrix)`` for the free elements: the Laplace approximation of their posterior at
    ``z`` (noise fixed at ``sigma``; eigenvalues floored at the prior precision so flat directions keep the
    prior's width), or the prior scales when ``laplace`` is False."""
    loc, scale = spec.layout.prior_loc_scale()
    free = spec.free_elements()
    if not laplace or free.size == 0:  # no free elements: every parameter is pooled across targets
        return jnp.asarray(z[free]), jnp.diag(jnp.asarray(scale[free]))

    hessian = np.asarray(_hessian(spec)(jnp.asarray(z), jnp.asarray(sigma), inputs, observed))
    if not np.isfinite(hessian).all():  # a law with an undefined curvature at the point fit: whiten by the prior
        return _whitening(spec, inputs, observed, z, sigma, laplace=False)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    floor = 1.0 / np.max(scale[free]) ** 2
    eigenvalues = np.where(np.isfinite(eigenvalues), np.maximum(eigenvalues, floor), floor)
    return jnp.asarray(z[free]), jnp.asarray(vectors / np.sqrt(eigenvalues))


def _data(table, spec: _Spec):
    d = design(table.frame, spec.law, spec.layout.coords)
    inputs = Inputs(*(None if a is None else jnp.asarray(a) for a in d.inputs))
    return d, inputs, jnp.asarray(d.log_loss)


def _start(table, spec: _Spec, inputs, observed, init: str, seed: int):
    """Latent starting values ``{site: unconstrained array}``, the whitening of the free elements
    (:func:`_whitening`), and the point fit (None for ``init="prior"``)."""
    if not isinstance(init, Fit) and init not in ("point", "prior"):
        raise FitError(f"unknown init {init!r}; choose 'point' (start at the point fit) or 'prior' (prior medians)")
    loc, scale = spec.layout.prior_loc_scale()
    if init != "prior":
        point = init if isinstance(init, Fit) else fit_point(table, spec.law, seed=seed)
        z = np.asarray(spec.layout.pack({k: v[0] for k, v in point.draws.items()}))
        # a point fit that ran off along a ridge (a parameter at 0 or infinity) starts the chains where the
        # prior still has mass: at most START_PRIOR_SDS prior sd from the prior's centre
        z = np.clip(np.nan_to_num(z, nan=0.0), loc - START_PRIOR_SDS * scale, loc + START_PRIOR_SDS * scale)
        sigma = np.maximum(point.noise[0], 1e-3)
    else:
        point, z, sigma = None, loc.copy(), np.full(spec.n_targets, SIGMA_PRIOR_SCALE / 2)
    values = {"sigma": np.log(sigma), "u": np.zeros(spec.free_elements().size)}
    if spec.pooled:
        pooled = z[spec.pooled_elements()].reshape(len(spec.pooled), spec.n_targets)
        pop_loc = pooled.mean(axis=1)
        pop_scale = np.maximum(pooled.std(axis=1), 0.05 * scale[spec.pooled_elements()].reshape(pooled.shape)[:, 0])
        values.update(pop_loc=pop_loc, pop_scale=np.log(pop_scale), z_raw=(pooled - pop_loc[:, None]) / pop_scale[:, None])
    if spec.shrunk:  # each scale starts at its coefficients' spread about the prior centre, within [0.05, 1] prior sd
        shrunk, group = spec.shrunk_elements()
        spread = np.sqrt(np.bincount(group, (z[shrunk] - loc[shrunk]) ** 2) / np.bincount(group))
        prior = scale[shrunk][np.unique(group, return_index=True)[1]]
        values["tau"] = np.log(np.clip(spread, 0.05 * prior, prior))
    return values, _whitening(spec, inputs, observed, z, sigma, laplace=point is not None), point


def _jittered(values: dict, chains: int, seed: int) -> dict:
    """One starting point per chain (leading axis): the initial values plus a small seeded Gaussian jitter."""
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(values))
    out = {}
    for key, (name, value) in zip(keys, sorted(values.items())):
        noise = jax.random.normal(key, (chains, *np.shape(value)), dtype=jnp.float64)
        out[name] = jnp.asarray(value)[None] + _INIT_JITTER * noise
    return out


@lru_cache(maxsize=8)
def _nuts_program(spec: _Spec, chains: int, warmup: int, segment: int):
    """Compiled ``(start, advance)`` for NUTS on ``spec``'s model (NumPyro's ``hmc`` kernel, NUTS defaults:
    target acceptance 0.8, tree depth 10, step size and mass matrix adapted during ``warmup``).

    ``start(keys, z, args)`` initialises one state per chain; ``advance(state, args)`` runs ``segment``
    transitions and returns the new state and their trace. The data ``args`` are traced arguments, so
    every table of the same shape reuses one compiled program (calibration studies refit many simulated
    tables; NumPyro's ``MCMC(jit_model_args=True)`` recompiles its loop on every ``run``). Chains run in
    parallel across devices when there are enough, vectorised on one device otherwise.
    """
    model = _model(spec)
    start_kernel, sample_kernel = hmc(potential_fn_gen=lambda *args, **kwargs: partial(potential_energy, model, args, kwargs), algo="NUTS")
    dense = spec.layout.size <= DENSE_MASS_MAX_SIZE

    def start(key, z, args):
        return start_kernel(z, warmup, dense_mass=dense, model_args=args, rng_key=key)

    def advance(state, args):
        def transition(state, _):
            state = sample_kernel(state, model_args=args)
            stats = {"diverging": state.diverging, "n_steps": state.num_steps,
                     "acceptance_rate": state.accept_prob, "lp": -state.potential_energy}
            return state, (state.z, stats)

        return jax.lax.scan(transition, state, length=segment)

    if jax.local_device_count() >= chains > 1:
        return jax.pmap(start, in_axes=(0, 0, None)), jax.pmap(advance, in_axes=(0, None))
    return jax.jit(jax.vmap(start, in_axes=(0, 0, None))), jax.jit(jax.vmap(advance, in_axes=(0, None)))


@lru_cache(maxsize=8)
def _constrainer(spec: _Spec):
    """Compiled map from unconstrained latents ``[chains, draws, ...]`` to every named site (law
    parameters, ``sigma``, population mean/scale) in the constrained space."""
    model = _model(spec)

    def one(z, args):
        return constrain_fn(model, args, {}, z, return_deterministic=True)

    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(0, None)))


def _sample_nuts(spec: _Spec, args, init_params: dict, draws: int, warmup: int, seed: int, progress: bool):
    """``(posterior, stats)``: ``draws`` NUTS draws per chain after ``warmup`` (arrays ``[chains, draws, ...]``).

    The chains advance in ``_PROGRESS_SEGMENTS`` compiled segments so that a progress bar (stderr,
    ``progress=True``) can follow them; the few transitions past ``warmup + draws`` are dropped."""
    chains = next(iter(init_params.values())).shape[0]
    total = warmup + draws
    segment = -(-total // _PROGRESS_SEGMENTS)
    start, advance = _nuts_program(spec, chains, warmup, segment)
    state = start(jax.random.split(jax.random.PRNGKey(seed), chains), init_params, args)
    traces = []
    with tqdm(total=total, desc=f"nuts {chains} chains", unit="step", file=sys.stderr, disable=not progress) as bar:
        for done in range(0, total, segment):
            state, trace = advance(state, args)
            traces.append(trace)
            bar.update(min(segment, total - done))
    z, stats = jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=1)[:, warmup:total], *traces)
    posterior = {k: np.asarray(v) for k, v in _constrainer(spec)(z, args).items()}
    return posterior, {k: np.asarray(v) for k, v in stats.items()}


class _Setup(NamedTuple):
    """One Bayesian fit's model and data: the static ``spec``, the design ``d`` of the table, its jax
    ``inputs`` and ``observed`` log losses, the chains' starting ``values``, the ``whitening`` and the
    ``point`` fit the chains start from (None from the prior)."""

    spec: _Spec
    d: Any
    inputs: Inputs
    observed: Any
    values: dict
    whitening: tuple
    point: Fit | None

    @property
    def args(self) -> tuple:
        return self.inputs, self.whitening, self.observed


def _setup(table, law, likelihood: str, hierarchical: bool, init, seed: int, shrink_domains: bool = False) -> _Setup:
    spec = _spec(law, table_coords(table.frame, law), likelihood, hierarchical, shrink_domains)
    d, inputs, observed = _data(table, spec)
    return _Setup(spec, d, inputs, observed, *_start(table, spec, inputs, observed, init, seed))


def fit_nuts(table, law, *, chains: int = 4, draws: int = 1000, warmup: int = 1000, hierarchical: bool = False,
             likelihood: str = "student", seed: int = 0, progress: bool = False, init: str | Fit = "point",
             posterior_predictive: bool = False, shrink_domains: bool = False) -> Fit:
    """Posterior of ``law`` on ``table`` by NUTS: ``chains x draws`` draws after ``warmup`` adaptation steps.

    ``init="point"`` starts every chain (with a small seeded jitter) at the point fit (or at ``init``
    when it is a point :class:`Fit` of the same law and runs); ``"prior"`` at the prior medians.
    ``diagnostics`` holds ``divergences``, ``max_rhat``, ``per_parameter`` R-hat, bulk/tail ESS and a
    ``warning`` (also the ``warning`` column of ``Fit.summary()``), and ``warnings`` (also raised as
    Python warnings) on divergences, R-hat or ESS (:func:`scalemix.diagnostics.mcmc_warnings`).
    ``posterior_predictive=True`` adds replicated log losses to the ``InferenceData``; ``shrink_domains=True``
    learns a prior scale for the per-domain coefficients (module docstring; its draws are the site ``tau``).
    """
    check_settings(seed=seed, chains=chains, draws=draws, warmup=warmup)
    with float64():
        setup = _setup(table, law, likelihood, hierarchical, init, seed, shrink_domains)
        started = time.perf_counter()
        by_chain, stats = _sample_nuts(setup.spec, setup.args, _jittered(setup.values, chains, seed), draws, warmup, seed, progress)
        sampling_s = time.perf_counter() - started
        idata = _inference_data(setup, by_chain, seed, posterior_predictive, sample_stats=stats)
    diagnostics = _mcmc_diagnostics(setup.spec, idata, chains) | {"sampling_s": round(sampling_s, 3)}
    settings = _settings(likelihood, hierarchical, seed, init, chains=chains, draws=draws, warmup=warmup,
                         shrink_domains=shrink_domains)
    return _fit(setup, table, by_chain, "nuts", diagnostics, settings, idata)


def fit_svi(table, law, *, steps: int = 3000, draws: int = 1000, learning_rate: float = 0.01,
            hierarchical: bool = False, likelihood: str = "student", seed: int = 0, progress: bool = False,
            init: str | Fit = "point", shrink_domains: bool = False) -> Fit:
    """Approximate posterior of ``law`` on ``table`` by SVI: a multivariate-normal guide on the
    unconstrained latents (``AutoMultivariateNormal``), ``steps`` Adam steps on the ELBO (optax), then
    ``draws`` draws from the guide. Fast on big tables; intervals are approximate (no R-hat).
    ``diagnostics["pareto_k"]`` checks the guide against the posterior (:func:`_pareto_k`); above
    :data:`~scalemix.diagnostics.PARETO_K_LIMIT` it is a warning (also raised as a Python warning), as is
    an ELBO that is not finite."""
    check_settings(seed=seed, steps=steps, draws=draws, learning_rate=learning_rate)
    with float64():
        setup = _setup(table, law, likelihood, hierarchical, init, seed, shrink_domains)
        model = _model(setup.spec)
        constrained_start = {k: (jnp.exp(v) if k in ("sigma", "pop_scale", "tau") else jnp.asarray(v)) for k, v in setup.values.items()}
        guide = AutoMultivariateNormal(model, init_loc_fn=init_to_value(values=constrained_start), init_scale=0.01)
        svi = SVI(model, guide, optax.adam(learning_rate), Trace_ELBO())
        started = time.perf_counter()
        result = svi.run(jax.random.PRNGKey(seed), steps, *setup.args, progress_bar=progress)
        latent = guide.sample_posterior(jax.random.PRNGKey(seed + 1), result.params, sample_shape=(draws,))
        sites = Predictive(model, posterior_samples=latent, return_sites=_site_names(setup.spec))
        samples = sites(jax.random.PRNGKey(seed + 2), setup.inputs, setup.whitening)
        by_chain = {k: np.asarray(v)[None] for k, v in {**latent, **samples}.items()}
        sampling_s = time.perf_counter() - started
        idata = _inference_data(setup, by_chain, seed, False, sample_stats=None)
        pareto_k = _pareto_k(model, guide, result.params, setup.args, seed + 3)
    losses = np.asarray(result.losses)
    tail = losses[-max(steps // 10, 1):]
    diagnostics = {
        "elbo": float(-tail.mean()),
        "elbo_tail_sd": float(tail.std()),
        "steps": steps,
        "sampling_s": round(sampling_s, 3),
        "pareto_k": pareto_k,
        "warnings": checks.svi_warnings(losses, pareto_k, from_point=setup.point is not None),
    }
    settings = _settings(likelihood, hierarchical, seed, init, steps=steps, draws=draws, learning_rate=learning_rate,
                         shrink_domains=shrink_domains)
    return _fit(setup, table, by_chain, "svi", diagnostics, settings, idata)


def _site_names(spec: _Spec) -> list[str]:
    """The posterior's named sites: the law's parameters, the noise scales, the population and shrinkage sites."""
    return ([p.name for p in spec.law.params] + ["sigma"] + (["pop_loc", "pop_scale"] if spec.pooled else [])
            + (["tau"] if spec.shrunk else []))


def _pareto_k(model, guide, params, args, seed: int) -> float:
    """Pareto k of the importance weights ``p(y, z) / q(z)`` over draws ``z`` of the fitted guide (Yao,
    Vehtari, Simpson and Gelman 2018, "Yes, but did it work?"; ``arviz.psislw``): above 0.7 the guide
    misses mass the posterior has (:data:`~scalemix.diagnostics.PARETO_K_LIMIT`), and its intervals are not to
    be trusted. Both densities are of the
    constrained values (the guide's trace carries the Jacobians of its transforms)."""
    import arviz as az

    def log_weight(key):
        trace = handlers.trace(handlers.seed(handlers.substitute(guide, data=params), key)).get_trace(*args)
        sampled = {name: site for name, site in trace.items() if site["type"] == "sample"}
        log_q = sum(site["fn"].log_prob(site["value"]).sum() for site in sampled.values())
        log_p, _ = log_density(model, args, {}, {name: site["value"] for name, site in sampled.items() if not name.startswith("_")})
        return log_p - log_q

    log_weights = jax.jit(jax.vmap(log_weight))(jax.random.split(jax.random.PRNGKey(seed), _PSIS_DRAWS))
    _, k = az.psislw(np.asarray(log_weights))
    return float(k)


def _settings(likelihood: str, hierarchical: bool, seed: int, init, **method_settings) -> dict:
    """What a Bayesian fit records of how it was made: the method's own settings plus the model's."""
    return {**method_settings, "hierarchical": hierarchical, "likelihood": likelihood,
            "student_df": STUDENT_DF if likelihood == "student" else None, "sigma_prior_scale": SIGMA_PRIOR_SCALE,
            "seed": seed, "init": init if isinstance(init, str) else "point"}


def _fit(setup: _Setup, table, by_chain: dict, method: str, diagnostics: dict, settings: dict, idata) -> Fit:
    """The :class:`Fit` of a Bayesian method: its draws and noise, the rows fitted and set aside, the point
    fit it started from, and its warnings (raised as Python warnings too)."""
    spec, d, point = setup.spec, setup.d, setup.point
    diagnostics |= {"rows": int(d.frame.height), "rows_set_aside": int(d.set_aside.height)}
    if point is not None:
        diagnostics |= {"objective": point.diagnostics["objective"], "point": point.diagnostics}
    for message in diagnostics["warnings"]:
        warnings.warn(message, stacklevel=3)
    flat = {k: v.reshape(v.shape[0] * v.shape[1], *v.shape[2:]) for k, v in by_chain.items()}
    return Fit(
        law=spec.law,
        coords=spec.layout.coords,
        draws={p.name: flat[p.name] for p in spec.law.params},
        method=method,
        noise=flat["sigma"],
        noise_df=STUDENT_DF if spec.likelihood == "student" else None,
        diagnostics=diagnostics,
        provenance=provenance(table, spec.law, method, settings),
        inference_data=idata,
        set_aside=d.set_aside,
        fitted_range=fitted_range(d.frame, spec.law),
    )


@lru_cache(maxsize=8)
def _pointwise_log_likelihood(spec: _Spec):
    """Compiled ``(draws, inputs, whitening, observed) -> log p(observed_row | draw)``, ``[draws, rows]``
    (NumPyro's ``log_likelihood`` run op by op costs more than the sampling on small tables)."""
    model = _model(spec)
    return jax.jit(lambda flat, inputs, whitening, observed: log_likelihood(model, flat, inputs, whitening, observed)["log_loss"])


def _inference_data(setup: _Setup, by_chain: dict, seed: int, posterior_predictive: bool, sample_stats):
    """ArviZ InferenceData: posterior by parameter name and dims, log-likelihood, observed data."""
    import arviz as az

    spec, d, inputs, whitening, observed = setup.spec, setup.d, setup.inputs, setup.whitening, setup.observed
    chains, draws = next(iter(by_chain.values())).shape[:2]
    model = _model(spec)
    flat = {k: jnp.asarray(v.reshape(chains * draws, *v.shape[2:])) for k, v in by_chain.items()}
    pointwise = np.asarray(_pointwise_log_likelihood(spec)(flat, inputs, whitening, observed)).reshape(chains, draws, -1)
    names = _site_names(spec)
    dims = {p.name: list(p.dims) for p in spec.law.params}
    dims.update(sigma=["target"], pop_loc=["pooled"], pop_scale=["pooled"], tau=["shrunk"], log_loss=["row"])
    coords = {k: list(v) for k, v in spec.layout.coords.items() if any(k in ds for ds in dims.values())}
    coords.update(row=np.arange(observed.shape[0]), pooled=[spec.layout.slots[i].param.name for i in spec.pooled],
                  shrunk=spec.shrunk_labels())
    groups = {}
    if posterior_predictive:
        replicated = Predictive(model, posterior_samples=flat, return_sites=["log_loss"])(jax.random.PRNGKey(seed + 2), inputs, whitening)
        groups["posterior_predictive"] = {"log_loss": np.asarray(replicated["log_loss"]).reshape(chains, draws, -1)}
    return az.from_dict(
        posterior={k: by_chain[k] for k in names},
        sample_stats=sample_stats,
        log_likelihood={"log_loss": pointwise},
        observed_data={"log_loss": np.asarray(observed)},
        constant_data={"target_of_row": np.asarray(d.frame["target"].to_list(), dtype=str)},
        coords=coords,
        dims=dims | {"target_of_row": ["row"]},
        attrs={"law": spec.law.name, "likelihood": spec.likelihood},
        **groups,
    )


def _mcmc_diagnostics(spec: _Spec, idata, chains: int) -> dict:
    """Divergences, R-hat and bulk/tail ESS per scalar parameter (ArviZ), and plain-language warnings."""
    import arviz as az

    names = [p.name for p in spec.law.params]
    posterior = idata.posterior[names + ["sigma"]]
    rhat = az.rhat(posterior)
    ess_bulk = az.ess(posterior, method="bulk")
    ess_tail = az.ess(posterior, method="tail")
    element_names = spec.layout.element_names()
    per_parameter, offset = [], 0
    for slot in spec.layout.slots:
        name = slot.param.name
        values = [np.ravel(np.asarray(ds[name])) for ds in (rhat, ess_bulk, ess_tail)]
        for k in range(slot.size):
            rhat_k, bulk_k, tail_k = (float(v[k]) for v in values)
            per_parameter.append({"parameter": element_names[offset + k], "rhat": rhat_k, "ess_bulk": bulk_k,
                                  "ess_tail": tail_k, "warning": checks.parameter_warning(rhat_k, bulk_k, tail_k, chains)})
        offset += slot.size
    labelled_rhat = [(row["parameter"], row["rhat"]) for row in per_parameter]
    labelled_rhat += [(f"sigma[{t}]", float(r)) for t, r in zip(spec.layout.coords["target"], np.ravel(np.asarray(rhat["sigma"])))]
    if spec.shrunk:  # the learned prior scales converge or warn like the parameters they scale
        tau_rhat = np.ravel(np.asarray(az.rhat(idata.posterior[["tau"]])["tau"]))
        labelled_rhat += [(f"tau[{label}]", float(r)) for label, r in zip(spec.shrunk_labels(), tau_rhat)]
    divergences = int(np.asarray(idata.sample_stats["diverging"]).sum())
    worst, max_rhat = max(labelled_rhat, key=lambda item: item[1]) if chains > 1 else (None, None)
    min_ess = float(min(row["ess_bulk"] for row in per_parameter))
    low_ess = [row["parameter"] for row in per_parameter if min(row["ess_bulk"], row["ess_tail"]) < checks.ESS_PER_CHAIN * chains]
    messages = checks.mcmc_warnings(divergences, max_rhat, worst, chains, low_ess)
    return {"divergences": divergences, "max_rhat": max_rhat, "min_ess_bulk": min_ess, "chains": chains,
            "per_parameter": per_parameter, "warnings": messages}


__all__ = ["POOL_SCALE_FRACTION", "SIGMA_PRIOR_SCALE", "STUDENT_DF", "fit_nuts", "fit_svi"]
