"""Exceptions meant for people: each message names what is wrong and how to fix it."""


class ScalemixError(Exception):
    """Base class of every error scalemix raises on purpose (the CLI prints these as one line)."""


class RunTableError(ScalemixError, ValueError):
    """Run logs that cannot be read as a run table (names file, row, column, value and the fix)."""


class FitError(ScalemixError, ValueError):
    """A law that cannot be fitted or evaluated on the given runs (says what is missing)."""


class OptimizeError(ScalemixError, ValueError):
    """A mixture optimisation that cannot be solved as asked (infeasible bounds, unknown domain)."""


class SuggestError(ScalemixError, ValueError):
    """A request for the runs to train next that cannot be answered (a fit without draws, no candidates,
    an unknown goal): says what to give instead."""
