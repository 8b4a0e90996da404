"""splits: k-fold and "fit small, predict large" splits that never leak a run."""

from scalemix.evaluate import kfold, scale_split


def test_kfold_holds_each_run_out_exactly_once(chinchilla_table):
    held = []
    for train, test in kfold(chinchilla_table, k=5, seed=3):
        assert not set(train.runs) & set(test.runs)
        assert len(train) + len(test) == len(chinchilla_table)
        held += list(test.runs)
    assert sorted(held) == sorted(chinchilla_table.runs)
    assert [len(t) for _, t in kfold(chinchilla_table, k=5, seed=3)] == [48] * 5


def test_scale_split_fits_small_and_predicts_large(chinchilla_table):
    train, test = scale_split(chinchilla_table, by="compute", hold_out=0.2)
    compute = lambda t: (6 * t.frame["params"] * t.frame["tokens"]).to_numpy()  # noqa: E731
    assert compute(train).max() < compute(test).min()
    assert len(test) == 48  # 20% of the 240 distinct budgets
    train, test = scale_split(chinchilla_table, by="params", hold_out=3)
    assert train.frame["params"].max() < test.frame["params"].min() and test.frame["params"].n_unique() == 3
