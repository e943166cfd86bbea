"""mlkit.data: determinism, a learnable signal, and injected drift of the size asked for."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlkit import data


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return data.make_dataset(20_000, seed=7)


def _model(df: pd.DataFrame):
    pre = make_column_transformer(
        (StandardScaler(), data.NUMERIC_FEATURES), (OneHotEncoder(), data.CATEGORICAL_FEATURES)
    )
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(
        df[data.FEATURES], df[data.TARGET]
    )


def test_same_seed_same_rows_and_other_seed_other_rows():
    a, b = data.make_dataset(500, seed=3), data.make_dataset(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(data.make_dataset(500, seed=4))


def test_schema(reference):
    assert list(reference.columns) == data.FEATURES + [data.TARGET]
    assert set(reference[data.TARGET].unique()) == {0, 1}
    for name in data.CATEGORICAL_FEATURES:
        assert set(reference[name].unique()) == set(data.CATEGORIES[name])
    assert reference[data.NUMERIC_FEATURES].ge(0).all().all()
    assert 0.15 < reference[data.TARGET].mean() < 0.35


def test_target_is_learnable(reference):
    train, test = reference.iloc[:15_000], reference.iloc[15_000:]
    auc = roc_auc_score(test[data.TARGET], _model(train).predict_proba(test[data.FEATURES])[:, 1])
    assert auc > 0.75


def test_split_is_stratified_and_sized(reference):
    x_train, x_test, y_train, y_test = data.split(reference, test_size=0.2)
    assert len(x_test) == 4000 and len(x_train) == 16_000
    assert abs(y_train.mean() - y_test.mean()) < 0.005
    assert data.TARGET not in x_train.columns


@pytest.mark.parametrize("size", [0.5, -1.0])
def test_covariate_shift_moves_numeric_feature_by_size_std(reference, size):
    shifted = data.inject_covariate_shift(reference, ["income"], size=size, seed=1)
    moved = shifted["income"].mean() - reference["income"].mean()
    assert moved == pytest.approx(size * reference["income"].std(), rel=1e-9)
    untouched = [c for c in data.FEATURES if c != "income"]
    pd.testing.assert_frame_equal(shifted[untouched], reference[untouched])


@pytest.mark.parametrize("name", ["support_calls", "age", "last_login_days"])
@pytest.mark.parametrize("size", [0.1, 0.3, 0.4, 0.8, 1.7])
def test_covariate_shift_moves_whole_numbers_by_size_std_on_average(reference, name, size):
    shifted = data.inject_covariate_shift(reference, [name], size=size, seed=1)
    step = size * reference[name].std()
    moves = shifted[name] - reference[name]
    assert shifted[name].dtype == reference[name].dtype
    # every row moves by the whole units of the step, a share of them by one unit more
    assert set(moves.unique()) <= {np.floor(step), np.floor(step) + 1}
    share = (moves > np.floor(step)).mean()
    standard_error = np.sqrt(0.25 / len(reference))
    assert share == pytest.approx(step - np.floor(step), abs=5 * standard_error)
    assert moves.mean() == pytest.approx(step, abs=5 * standard_error)


def test_covariate_shift_moves_whole_numbers_even_when_small(reference):
    """0.2 sd of support calls is less than one call: a share of customers calls once more."""
    shifted = data.inject_covariate_shift(reference, ["support_calls"], size=0.2, seed=3)
    assert 0.1 < (shifted["support_calls"] != reference["support_calls"]).mean() < 0.4


def test_covariate_shift_moves_categorical_share_to_rarest(reference):
    shifted = data.inject_covariate_shift(reference, "plan", size=0.3, seed=1)
    before = reference["plan"].value_counts(normalize=True)["premium"]
    after = shifted["plan"].value_counts(normalize=True)["premium"]
    assert after == pytest.approx(before + 0.3 * (1 - before), abs=0.01)


def test_covariate_shift_keeps_the_rule(reference):
    shifted = data.inject_covariate_shift(reference, ["support_calls"], size=1.0, seed=2)
    expected = data.churn_probability(shifted).mean()
    assert shifted[data.TARGET].mean() == pytest.approx(expected, abs=0.015)
    assert shifted[data.TARGET].mean() > reference[data.TARGET].mean() + 0.03


def test_prior_shift_sets_the_rate_and_keeps_class_looks(reference):
    shifted = data.inject_prior_shift(reference, positive_rate=0.6, seed=1)
    assert len(shifted) == len(reference)
    assert shifted[data.TARGET].mean() == pytest.approx(0.6, abs=1e-4)
    for label in (0, 1):
        a = reference.loc[reference[data.TARGET] == label, "support_calls"].mean()
        b = shifted.loc[shifted[data.TARGET] == label, "support_calls"].mean()
        assert b == pytest.approx(a, rel=0.05)


def test_concept_drift_keeps_inputs_and_breaks_the_old_model(reference):
    drifted = data.inject_concept_drift(reference, strength=1.0, seed=1)
    pd.testing.assert_frame_equal(drifted[data.FEATURES], reference[data.FEATURES])
    model = _model(reference)
    proba = model.predict_proba(reference[data.FEATURES])[:, 1]
    before = roc_auc_score(reference[data.TARGET], proba)
    after = roc_auc_score(drifted[data.TARGET], proba)
    assert after < before - 0.2
    none = data.inject_concept_drift(reference, strength=0.0, seed=1)
    assert roc_auc_score(none[data.TARGET], proba) == pytest.approx(before, abs=0.03)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.make_dataset(0), "n_rows must be a positive whole number"),
        (lambda: data.make_dataset(2.5), "n_rows must be a positive whole number"),
        (lambda: data.inject_prior_shift(data.make_dataset(50), 1.5), "positive_rate"),
        (lambda: data.inject_covariate_shift(data.make_dataset(50), ["height"]), "height"),
        (lambda: data.inject_concept_drift(pd.DataFrame({"a": [1]})), "missing the column"),
        (lambda: data.inject_concept_drift([1, 2]), "pandas DataFrame"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_probabilities_are_probabilities(reference):
    p = data.churn_probability(reference, concept=0.5)
    assert p.shape == (len(reference),)
    assert np.all((p > 0) & (p < 1))


def test_drift_with_the_data_seed_does_not_replay_the_feature_draws():
    df = data.make_dataset(20_000, seed=5)
    relabelled = data.inject_concept_drift(df, strength=0.0, seed=5)
    # Under the unchanged rule, fresh labels agree with the old ones only as often as
    # two independent draws from the same probabilities do.
    p = data.churn_probability(df)
    expected = np.mean(p**2 + (1 - p) ** 2)
    agreement = np.mean(relabelled[data.TARGET].to_numpy() == df[data.TARGET].to_numpy())
    assert agreement == pytest.approx(expected, abs=0.01)
