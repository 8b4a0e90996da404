"""Active experiment design: which runs to train next, chosen over a fit's draws.

``suggest(fit, candidates, goal=..., at=..., batch=8)`` (:mod:`scalemix.active.suggest`) ranks candidate
runs (:mod:`scalemix.active.candidates`) by what their outcome is expected to tell about the goal per unit
cost (:mod:`scalemix.active.gain`).
"""

from scalemix.active.candidates import generate
from scalemix.active.suggest import GOALS, Suggestions, suggest

__all__ = ["GOALS", "Suggestions", "generate", "suggest"]
