"""mlkit.data's delivery set (module 09): determinism, ranges, the rule, drift of the size asked."""

import numpy as np
import pandas as pd
import pytest

from mlkit import data


@pytest.fixture(scope="module")
def deliveries() -> pd.DataFrame:
    return data.make_deliveries(20_000, seed=7)


def test_same_seed_same_rows_and_other_seed_other_rows():
    a, b = data.make_deliveries(400, seed=3), data.make_deliveries(400, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(data.make_deliveries(400, seed=4))


def test_schema_and_value_ranges(deliveries):
    assert list(deliveries.columns) == data.DELIVERY_FEATURES + [data.DELIVERY_TARGET]
    for name in data.DELIVERY_CATEGORICAL_FEATURES:
        assert set(deliveries[name].unique()) == set(data.DELIVERY_CATEGORIES[name])
    assert deliveries["distance_km"].between(0.2, 25).all()
    assert deliveries["n_items"].between(1, 40).all()
    assert deliveries["hour"].between(10, 22).all()
    assert deliveries["weekday"].between(0, 6).all()
    assert deliveries["courier_tenure_months"].between(0, 120).all()
    assert deliveries[data.DELIVERY_TARGET].ge(5).all()
    assert 25 < deliveries[data.DELIVERY_TARGET].mean() < 40


def test_target_is_the_rule_plus_noise_of_the_stated_size(deliveries):
    residual = deliveries[data.DELIVERY_TARGET] - data.expected_delivery_minutes(deliveries)
    assert abs(residual.mean()) < 0.1
    assert residual.std() == pytest.approx(data.DELIVERY_NOISE_MINUTES, rel=0.05)


def test_snow_slows_a_trip_by_the_stated_factor():
    trip = pd.DataFrame(
        {
            "distance_km": [5.0, 5.0],
            "n_items": [2, 2],
            "hour": [15, 15],
            "weekday": [1, 1],
            "courier_tenure_months": [120, 120],
            "weather": ["clear", "snow"],
            "vehicle": ["bike", "bike"],
        }
    )
    clear, snow = data.expected_delivery_minutes(trip)
    assert snow - clear == pytest.approx(5.0 * 4.0 * (1.6 - 1.0))


def test_farther_orders_take_longer_in_the_data(deliveries):
    near = deliveries.loc[deliveries["distance_km"] < 2, data.DELIVERY_TARGET].mean()
    far = deliveries.loc[deliveries["distance_km"] > 6, data.DELIVERY_TARGET].mean()
    assert far > near + 15


def test_numeric_shift_moves_the_mean_by_size_std_and_keeps_the_rest(deliveries):
    shifted = data.inject_delivery_shift(deliveries, "distance_km", size=0.5, seed=1)
    moved = shifted["distance_km"].mean() - deliveries["distance_km"].mean()
    assert moved == pytest.approx(0.5 * deliveries["distance_km"].std(), rel=1e-9)
    others = [c for c in data.DELIVERY_FEATURES if c != "distance_km"]
    pd.testing.assert_frame_equal(shifted[others], deliveries[others])
    assert shifted[data.DELIVERY_TARGET].mean() > deliveries[data.DELIVERY_TARGET].mean() + 3


def test_whole_number_shift_stays_in_range(deliveries):
    shifted = data.inject_delivery_shift(deliveries, ["hour", "weekday"], size=1.0, seed=1)
    assert shifted["hour"].max() == 23 and shifted["weekday"].max() == 6
    assert shifted["hour"].dtype == deliveries["hour"].dtype


def test_categorical_shift_gives_the_share_to_the_rarest(deliveries):
    shifted = data.inject_delivery_shift(deliveries, "weather", size=0.3, seed=1)
    before = deliveries["weather"].value_counts(normalize=True)["snow"]
    after = shifted["weather"].value_counts(normalize=True)["snow"]
    assert after == pytest.approx(before + 0.3 * (1 - before), abs=0.01)


def test_shift_draws_from_its_own_stream(deliveries):
    a = data.inject_delivery_shift(deliveries, "weather", size=0.3, seed=1)
    b = data.inject_delivery_shift(deliveries, "weather", size=0.3, seed=2)
    pd.testing.assert_frame_equal(a, data.inject_delivery_shift(deliveries, "weather", 0.3, 1))
    assert not np.array_equal(a["weather"], b["weather"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["age"]}, "features must name some of"),
        ({"features": "weather", "size": 1.5}, "between 0.0 and 1.0"),
        ({"features": "hour", "size": "big"}, "size must be a number"),
    ],
)
def test_bad_arguments_are_named(deliveries, kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.inject_delivery_shift(deliveries, **kwargs)


def test_a_churn_frame_is_refused_with_the_expected_columns():
    with pytest.raises(ValueError, match="make_deliveries"):
        data.expected_delivery_minutes(data.make_dataset(50))
    with pytest.raises(ValueError, match="n_rows"):
        data.make_deliveries(0)
