"""Query points and command options as a person meets them: `scalemix predict / evaluate / optimize / front /
fit / backtest` refuse a bad point or option value with one stderr line (exit 2) naming the option or the
point, column and value at fault, before any fitting or solving starts (the `_no_solving` guard fails a
case that gets that far). FIT arguments are templates: {point} is the saved Chinchilla point fit (target
massivetext, no mixture), {mixture} the saved multilingual bootstrap fit (targets and domains de, fr).
The Python entry points behind the options (fit_point, fit_bootstrap, optimize, front, the constraint
and objective builders) refuse the same values with a FitError or OptimizeError."""

from importlib import import_module

import pytest
from _support import mixing_fit, refused

import scalemix.evaluate
import scalemix.fit
from scalemix import laws
from scalemix.errors import FitError, OptimizeError, ScalemixError
from scalemix.fit import fit_bootstrap, fit_point
from scalemix.optimize import constraints, front, objective, optimize

SOLVERS = {"scalemix.optimize.optimal": "_per_draw_optima", "scalemix.optimize.front": "_front_optima",
           "scalemix.fit.point": "build"}  # import_module: the package's names front/optimize are functions

GOOD_POINT = "params=1e9,tokens=2e10"
GOOD_MIX = "params=1e9,w.de=0.5,w.fr=0.5"
FIT = ("fit", "chinchilla", "--law", "chinchilla", "--out", "{tmp}/fit")
BACKTEST = ("backtest", "chinchilla", "--law", "chinchilla")


def case(argv, *named, id):
    """One refusal: ``argv`` (a string split on spaces, or a tuple) and the texts its error line must name."""
    return pytest.param(tuple(argv.split()) if isinstance(argv, str) else argv, named, id=id)


CASES = [
    # predict: query points (--at), each checked as the reader checks a run's row
    case("predict {point} --at params=-1e9,tokens=2e10", "--at point 1", "'params'", "-1e+09", "not positive", id="predict-params-negative"),
    case("predict {point} --at params=0,tokens=2e10", "--at point 1", "'params'", "value 0", "not positive", id="predict-params-zero"),
    case("predict {point} --at params=nan,tokens=2e10", "'params'", "nan", "not a finite number", id="predict-params-nan"),
    case("predict {point} --at params=inf,tokens=2e10", "'params'", "inf", "not a finite number", id="predict-params-inf"),
    case("predict {point} --at params=abc,tokens=2e10", "'params'", "'abc'", "not a number", id="predict-params-text"),
    case("predict {point} --at params=true,tokens=2e10", "'params'", "True", "not a number", id="predict-params-boolean"),
    case("predict {point} --at params=1e9,tokens=-5", "'tokens'", "-5", "not positive", id="predict-tokens-negative"),
    case("predict {point} --at params=1e21,tokens=2e10", "'params'", "MAX_COUNT", id="predict-params-above-max-count"),
    case("predict {point} --at params=1e-25,tokens=2e10", "'params'", "MIN_COUNT", id="predict-params-below-min-count"),
    case(f"predict {{point}} --at {GOOD_POINT} --at params=-1,tokens=2e10", "--at point 2", "'params'", id="predict-second-point"),
    case(f"predict {{point}} --at {GOOD_POINT},foo=3", "--at column 'foo'", "not an input", "params, tokens, target", id="predict-unknown-column"),
    case(f"predict {{point}} --at {GOOD_POINT},param=3", "'param'", "not an input", id="predict-misspelt-column"),
    case(f"predict {{point}} --at {GOOD_POINT},target=xx", "'target'", "'xx'", "not a target", "massivetext", id="predict-unknown-target-column"),
    case(f"predict {{point}} --at {GOOD_POINT} --target xx", "--target 'xx'", "massivetext", id="predict-unknown-target-option"),
    case(f"predict {{point}} --at {GOOD_POINT},target=massivetext --target massivetext", "leave out --target", id="predict-target-twice"),
    case(f"predict {{point}} --at {GOOD_POINT},w.de=1", "'w.de'", "names no domain", "none", id="predict-domain-of-no-mixture-fit"),
    case("predict {point} --at params", "--at 'params' is not KEY=VALUE", id="predict-not-key-value"),
    case("predict {point}", "give the query points", id="predict-no-points"),
    case("predict {point} --grid {tmp}/points.txt", "--grid", "points.txt", ".csv", id="predict-grid-suffix"),
    case("predict {point} --grid {tmp}/negative.csv", "--grid", "negative.csv row 2", "'params'", "-5", id="predict-grid-row"),
    case("predict {point} --grid {tmp}/runs.csv", "--grid", "'run_id'", "not an input", id="predict-grid-extra-column"),
    # predict: mixture weights on the simplex, non-negative, of known domains
    case("predict {mixture} --at params=1e9,w.de=0.8,w.fr=0.8", "'w.de', 'w.fr'", "sum to 1.6", "0.01", id="predict-weights-sum-1.6"),
    case("predict {mixture} --at params=1e9,w.de=0.3", "'w.de', 'w.fr'", "sum to 0.3", id="predict-weights-sum-0.3"),
    case("predict {mixture} --at params=1e9,w.de=0,w.fr=0", "sum to 0", id="predict-weights-all-zero"),
    case("predict {mixture} --at params=1e9,w.de=-0.2,w.fr=1.2", "'w.de'", "-0.2", "negative weight", id="predict-weight-negative"),
    case("predict {mixture} --at params=1e9,w.de=abc,w.fr=1", "'w.de'", "'abc'", "not a number", id="predict-weight-text"),
    case("predict {mixture} --at params=1e9,w.de=nan,w.fr=1", "'w.de'", "nan", "not a finite number", id="predict-weight-nan"),
    case("predict {mixture} --at params=1e9,w.xx=1", "'w.xx'", "names no domain", "de, fr", id="predict-unknown-domain"),
    # predict / evaluate: interval levels in (0, 1)
    case(f"predict {{point}} --at {GOOD_POINT} --levels 1.5", "--levels", "1.5", id="predict-level-above-1"),
    case(f"predict {{point}} --at {GOOD_POINT} --levels 0", "--levels", "got 0", id="predict-level-0"),
    case(f"predict {{point}} --at {GOOD_POINT} --levels abc", "--levels 'abc'", id="predict-level-text"),
    case("evaluate {point} --on chinchilla --levels 1", "--levels", "got 1", id="evaluate-level-1"),
    case("evaluate {point} --on chinchilla --levels -0.5", "--levels", "-0.5", id="evaluate-level-negative"),
    case("evaluate {mixture} --on chinchilla", "chinchilla", "none of this fit's targets", id="evaluate-unknown-targets"),
    case("evaluate {point}", "Missing option '--on'", id="evaluate-no-runs"),
    # optimize: scale, bounds, KL, caps, ceilings, target weights, baseline
    case("optimize {mixture} --params -1", "--params", "-1", id="optimize-params-negative"),
    case("optimize {mixture} --params 0", "--params", "'0'", id="optimize-params-zero"),
    case("optimize {mixture} --params nan", "--params", "nan", id="optimize-params-nan"),
    case("optimize {mixture} --params abc", "--params", "'abc'", id="optimize-params-text"),
    case("optimize {mixture} --params 1e25", "params=1e+25", "MAX_COUNT", id="optimize-params-above-max-count"),
    case("optimize {mixture} --params 1e9 --tokens -5", "--tokens", "-5", id="optimize-tokens-negative"),
    case("optimize {mixture}", "give params (--params)", id="optimize-no-params"),
    case("optimize {mixture} --params 1e9 --max w.de=1.5", "--max", "de=1.5", "[0, 1]", id="optimize-max-above-1"),
    case("optimize {mixture} --params 1e9 --min w.de=-0.1", "--min", "de=-0.1", id="optimize-min-negative"),
    case("optimize {mixture} --params 1e9 --min w.de=0.6 --max w.de=0.5", "infeasible", "min 0.6 > max 0.5", id="optimize-min-above-max"),
    case("optimize {mixture} --params 1e9 --min w.de=0.6 --min w.fr=0.6", "infeasible", "1.2 > 1", id="optimize-minimums-above-1"),
    case("optimize {mixture} --params 1e9 --min w.xx=0.1", "--min", "'xx'", "de, fr", id="optimize-min-unknown-domain"),
    case("optimize {mixture} --params 1e9 --max de", "--max 'de' is not KEY=VALUE", id="optimize-max-not-key-value"),
    case("optimize {mixture} --params 1e9 --kl -1", "--kl", "-1", id="optimize-kl-negative"),
    case("optimize {mixture} --params 1e9 --kl nan", "--kl", "nan", id="optimize-kl-nan"),
    case("optimize {mixture} --params 1e9 --kl 1", "--kl-to", id="optimize-kl-without-prior"),
    case("optimize {mixture} --params 1e9 --max-epochs 0", "--max-epochs", "'0'", id="optimize-max-epochs-zero"),
    case("optimize {mixture} --params 1e9 --baseline w.de=0.3,w.fr=0.3", "baseline mixture", "0.6", id="optimize-baseline-sum"),
    case("optimize {mixture} --params 1e9 --ceiling de=-1", "ceiling", "de=-1", id="optimize-ceiling-negative"),
    case("optimize {mixture} --params 1e9 --ceiling xx=2", "ceiling", "'xx'", id="optimize-ceiling-unknown-target"),
    case("optimize {mixture} --params 1e9 --target-weights de=-1", "target weights", "-1", id="optimize-target-weight-negative"),
    case("optimize {mixture} --params 1e9 --objective xx", "'xx'", "de, fr", id="optimize-unknown-objective"),
    case("optimize {point} --params 1e9 --tokens 2e10", "does not depend on the mixture", id="optimize-no-mixture-law"),
    # front
    case("front {mixture} --targets de,fr --params -1", "params=-1", "--params", id="front-params-negative"),
    case("front {mixture} --targets de,fr --params 1e9,nan", "params=nan", id="front-second-params-nan"),
    case("front {mixture} --targets de,fr --params 1e9,abc", "--params '1e9,abc'", id="front-params-text"),
    case("front {mixture} --targets de,fr --params 1e9,2e9 --tokens 1e10,2e10,3e10", "one per model size", id="front-scales-mismatch"),
    case("front {mixture} --targets de,fr --params 1e9 --points 1", "--points", "'1'", id="front-points-1"),
    case("front {mixture} --targets de --params 1e9", "two or more targets", id="front-one-target"),
    case("front {mixture} --targets de,xx --params 1e9", "'xx'", "de, fr", id="front-unknown-target"),
    case("front {mixture} --targets de,fr --params 1e9 --max w.fr=2", "--max", "fr=2", id="front-max-above-1"),
    # fit: method options, checked before the runs are read
    case((*FIT, "--method", "bootstrap", "--n-boot", "0"), "--n-boot", "'0'", id="fit-n-boot-0"),
    case((*FIT, "--method", "bootstrap", "--n-boot", "-5"), "--n-boot", "'-5'", id="fit-n-boot-negative"),
    case((*FIT, "--method", "bootstrap", "--n-boot", "abc"), "--n-boot", "'abc'", id="fit-n-boot-text"),
    case((*FIT, "--delta", "-1"), "--delta", "'-1'", id="fit-delta-negative"),
    case((*FIT, "--delta=0"), "--delta", "'0'", id="fit-delta-zero"),
    case((*FIT, "--delta", "nan"), "--delta", "'nan'", id="fit-delta-nan"),
    case((*FIT, "--delta", "inf"), "--delta", "'inf'", id="fit-delta-inf"),
    case((*FIT, "--seed", "-1"), "--seed", "'-1'", id="fit-seed-negative"),
    case((*FIT, "--method", "nuts", "--chains", "0"), "--chains", "'0'", id="fit-chains-0"),
    case((*FIT, "--method", "nuts", "--draws", "0"), "--draws", "'0'", id="fit-draws-0"),
    case((*FIT, "--method", "nuts", "--warmup", "-1"), "--warmup", "'-1'", id="fit-warmup-negative"),
    case((*FIT, "--method", "svi", "--steps", "0"), "--steps", "'0'", id="fit-steps-0"),
    case((*FIT, "--method", "svi", "--learning-rate", "0"), "--learning-rate", "'0'", id="fit-learning-rate-0"),
    case((*FIT, "--method", "svi", "--learning-rate", "nan"), "--learning-rate", "'nan'", id="fit-learning-rate-nan"),
    case((*FIT, "--n-boot", "5"), "fit method 'point' does not take --n-boot", id="fit-option-of-another-method"),
    case((*FIT, "--method", "magic"), "unknown fit method 'magic'", id="fit-unknown-method"),
    case((*FIT, "--bogus"), "No such option: --bogus", "scalemix fit --help", id="fit-unknown-option"),
    case(("fit", "chinchilla", "--out", "{tmp}/fit"), "Missing option '--law'", id="fit-no-law"),
    case(("fit", "--law", "chinchilla"), "Missing argument", id="fit-no-source"),
    case((*FIT, "--n-boot"), "'--n-boot' requires an argument", id="fit-option-without-value"),
    # backtest and the rest
    case((*BACKTEST, "--cuts", "0"), "--cuts", "'0'", id="backtest-cuts-0"),
    case((*BACKTEST, "--method", "bootstrap", "--n-boot", "0"), "--n-boot", "'0'", id="backtest-n-boot-0"),
    case((*BACKTEST, "--seed", "-3"), "--seed", "'-3'", id="backtest-seed-negative"),
    case((*BACKTEST, "--n-boot", "3"), "does not take --n-boot", id="backtest-option-of-another-method"),
    case(("sweep", "--preset", "cpu-tiny", "--workers", "0"), "--workers", "'0'", id="sweep-workers-0"),
    case(("fitt",), "No such command 'fitt'", id="unknown-command"),
]


@pytest.fixture(scope="module")
def paths(saved_point_fit, saved_mixture_fit, tmp_path_factory):
    """What the templates name: the two saved fits and a folder with query-point files."""
    folder = tmp_path_factory.mktemp("queries")
    (folder / "negative.csv").write_text("params,tokens\n1e9,2e10\n-5,2e10\n")
    (folder / "runs.csv").write_text("run_id,params,tokens\nr1,1e9,2e10\n")
    (folder / "points.txt").write_text("params=1e9\n")
    return {"point": saved_point_fit, "mixture": saved_mixture_fit, "tmp": folder}


@pytest.fixture(autouse=True)
def _no_solving(monkeypatch):
    """Fail any case that gets as far as fitting, backtesting or running the mixture solver."""
    def started(*args, **kwargs):
        raise AssertionError("a refusal case started a fit or a solve")

    monkeypatch.setattr(scalemix.fit, "fit", started)
    monkeypatch.setattr(scalemix.evaluate, "backtest", started)
    for module, solver in SOLVERS.items():
        monkeypatch.setattr(import_module(module), solver, started)


@pytest.mark.parametrize("argv, named", CASES)
def test_refused_with_one_line_naming_the_fault(capsys, paths, argv, named):
    refused(capsys, [arg.format(**paths) for arg in argv], *named)


def test_the_battery_is_broad():
    commands = {argv[0] for argv, _ in (case.values for case in CASES)}
    assert len(CASES) >= 40 and {"predict", "evaluate", "optimize", "front", "fit", "backtest"} <= commands


def _chinchilla(method, **settings):
    return lambda table: method(table, laws.get("chinchilla"), **settings)


def _mixing(call, **settings):
    return lambda table: call(mixing_fit([[-1.0, 0.0]]), **settings)


DOMAINS = ("a", "b")
# (what is called on the Chinchilla run table, the error, the texts its message must name)
ENTRY_POINTS = [
    pytest.param(_chinchilla(fit_point, delta=-1.0), FitError, ("delta=-1.0", "finite number > 0"), id="fit_point-delta-negative"),
    pytest.param(_chinchilla(fit_point, delta=0), FitError, ("delta=0",), id="fit_point-delta-zero"),
    pytest.param(_chinchilla(fit_point, delta=float("nan")), FitError, ("delta=nan",), id="fit_point-delta-nan"),
    pytest.param(_chinchilla(fit_point, delta="1e-3"), FitError, ("delta='1e-3'",), id="fit_point-delta-text"),
    pytest.param(_chinchilla(fit_point, seed=-1), FitError, ("seed=-1", ">= 0"), id="fit_point-seed-negative"),
    pytest.param(_chinchilla(fit_point, max_iter=0), FitError, ("max_iter=0", ">= 1"), id="fit_point-max-iter-0"),
    pytest.param(_chinchilla(fit_point, random_starts=0), FitError, ("random_starts=0",), id="fit_point-random-starts-0"),
    pytest.param(_chinchilla(fit_point, shrinkage=-1e-3), FitError, ("shrinkage=-0.001", "finite number >= 0"), id="fit_point-shrinkage-negative"),
    pytest.param(_chinchilla(fit_bootstrap, shrinkage="ridge"), FitError, ("shrinkage='ridge'",), id="fit_bootstrap-shrinkage-text"),
    pytest.param(_chinchilla(fit_bootstrap, n_boot=0), FitError, ("n_boot=0", ">= 1"), id="fit_bootstrap-n-boot-0"),
    pytest.param(_chinchilla(fit_bootstrap, n_boot=-5), FitError, ("n_boot=-5",), id="fit_bootstrap-n-boot-negative"),
    pytest.param(_chinchilla(fit_bootstrap, n_boot=2.5), FitError, ("n_boot=2.5", "whole number"), id="fit_bootstrap-n-boot-fraction"),
    pytest.param(_chinchilla(fit_bootstrap, delta=float("inf")), FitError, ("delta=inf",), id="fit_bootstrap-delta-inf"),
    pytest.param(_mixing(optimize, params=-1.0), OptimizeError, ("params=-1", "--params"), id="optimize-params-negative"),
    pytest.param(_mixing(optimize, tokens=float("inf")), OptimizeError, ("tokens=inf",), id="optimize-tokens-inf"),
    pytest.param(_mixing(optimize, steps=0), OptimizeError, ("steps=0",), id="optimize-steps-0"),
    pytest.param(_mixing(optimize, baseline={"a": float("nan"), "b": 0.5}), OptimizeError, ("a=nan",), id="optimize-baseline-nan"),
    pytest.param(_mixing(front, targets=["y0", "y0"]), OptimizeError, ("two or more targets",), id="front-one-target"),
    pytest.param(lambda table: front(mixing_fit([[-1.0, 0.0], [0.0, -1.0]]), ["y0", "y1"], params=[1e9, float("nan")]),
                 OptimizeError, ("params=nan",), id="front-second-size-nan"),
    pytest.param(lambda table: front(mixing_fit([[-1.0, 0.0], [0.0, -1.0]]), ["y0", "y1"], levels=(1.5,)),
                 ScalemixError, ("levels", "1.5"), id="front-level-1.5"),
    pytest.param(lambda table: constraints.build(DOMAINS, maximum={"a": 1.5}), OptimizeError, ("--max", "a=1.5", "[0, 1]"), id="bounds-max-1.5"),
    pytest.param(lambda table: constraints.build(DOMAINS, minimum={"w.b": -0.1}), OptimizeError, ("--min", "b=-0.1"), id="bounds-min-negative"),
    pytest.param(lambda table: constraints.build(DOMAINS, kl=float("nan"), kl_to={"a": 1.0}), OptimizeError, ("kl=nan",), id="kl-nan"),
    pytest.param(lambda table: constraints.build(DOMAINS, available_tokens={"a": 1e9}, tokens=1e9, max_epochs=0.0),
                 OptimizeError, ("max_epochs=0",), id="caps-max-epochs-0"),
    pytest.param(lambda table: objective.build(("x", "y"), ceilings={"x": -1.0}), OptimizeError, ("ceiling", "x=-1"), id="ceiling-negative"),
    pytest.param(lambda table: objective.build(("x", "y"), target_weights={"x": float("nan")}), OptimizeError,
                 ("target weights", "nan"), id="target-weight-nan"),
]


@pytest.mark.parametrize("call, error, named", ENTRY_POINTS)
def test_python_entry_points_refuse_the_same_values(chinchilla_table, call, error, named):
    with pytest.raises(error) as stopped:
        call(chinchilla_table)
    for name in named:
        assert name in str(stopped.value), (name, str(stopped.value))
