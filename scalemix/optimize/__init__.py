"""Optimal training mixtures and trade-off fronts, computed over a fit's parameter draws.

``optimize(fit, params=N, tokens=D, objective="mean", maximum={"github": 0.2}, ...)`` returns an
:class:`Optimum`: the distribution of per-draw optimal mixtures, the mixture minimising the posterior
expected objective, the losses it reaches and the probability that it beats a baseline mixture.
``front(fit, ["a", "b"], params=[...])`` traces the Pareto front between targets with credible bands.
"""

from scalemix.optimize.constraints import Constraints, project
from scalemix.optimize.front import front
from scalemix.optimize.optimal import Optimum, optimize

__all__ = ["Constraints", "Optimum", "front", "optimize", "project"]
