"""Alert rules fire after the condition held for the hold duration, and resolve."""

import math

import pandas as pd
import pytest

from mlkit.alerts import AlertRule, evaluate_rules


def series(values, times=None) -> pd.DataFrame:
    return pd.DataFrame({"psi": values}, index=times if times is not None else range(len(values)))


def events(frame: pd.DataFrame) -> list[tuple]:
    return list(frame[["rule", "state", "at"]].itertuples(index=False, name=None))


def test_hold_zero_fires_at_once_and_resolves():
    rule = AlertRule("drift", "psi", ">", 0.2)
    got = evaluate_rules(rule, series([0.1, 0.3, 0.25, 0.1, 0.3]))
    assert events(got) == [
        ("drift", "firing", 1.0),
        ("drift", "resolved", 3.0),
        ("drift", "firing", 4.0),
    ]
    assert got["value"].tolist() == [0.3, 0.1, 0.3]


def test_hold_suppresses_short_blips():
    rule = AlertRule("drift", "psi", ">", 0.2, hold=2)
    # a 2-point blip (times 1-2) never holds for 2 units; the run from 4 fires at 6
    got = evaluate_rules(rule, series([0.1, 0.3, 0.3, 0.1, 0.3, 0.3, 0.3, 0.3, 0.1]))
    assert events(got) == [("drift", "firing", 6.0), ("drift", "resolved", 8.0)]
    assert got.loc[0, "pending_since"] == 4 and got.loc[0, "value"] == 0.3


def test_hold_is_measured_in_time_not_rows():
    rule = AlertRule("slow", "psi", ">=", 1.0, hold=10)
    got = evaluate_rules(rule, series([1, 1, 1, 1], times=[0.0, 4.0, 9.0, 10.5]))
    assert events(got) == [("slow", "firing", 10.5)]


def test_missing_values_break_the_hold():
    rule = AlertRule("drift", "psi", ">", 0.2, hold=2)
    got = evaluate_rules(rule, series([0.3, 0.3, math.nan, 0.3, 0.3, 0.3]))
    assert events(got) == [("drift", "firing", 5.0)]


def test_several_rules_come_out_in_time_order():
    frame = pd.DataFrame({"psi": [0.1, 0.3, 0.3], "accuracy": [0.6, 0.6, 0.9]})
    rules = [AlertRule("drift", "psi", ">", 0.2), AlertRule("bad", "accuracy", "<", 0.7)]
    got = evaluate_rules(rules, frame)
    assert events(got) == [
        ("bad", "firing", 0.0),
        ("drift", "firing", 1.0),
        ("bad", "resolved", 2.0),
    ]


def test_the_time_axis_can_be_a_column():
    frame = pd.DataFrame({"t": [5, 6, 7], "psi": [0.5, 0.5, 0.5]})
    got = evaluate_rules(AlertRule("d", "psi", ">", 0.2, hold=1), frame, time="t")
    assert events(got) == [("d", "firing", 6.0)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"op": "=="}, "op must be one of"),
        ({"hold": -1}, "hold must be >= 0"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"metric": ""}, "metric must name a column"),
    ],
)
def test_bad_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AlertRule(**{"name": "r", "metric": "psi", "op": ">", "threshold": 0.2, **kwargs})


def test_bad_series_are_refused():
    rule = AlertRule("r", "psi", ">", 0.2)
    with pytest.raises(ValueError, match="no column"):
        evaluate_rules(rule, pd.DataFrame({"accuracy": [1.0]}))
    with pytest.raises(ValueError, match="increase strictly"):
        evaluate_rules(rule, series([0.1, 0.2], times=[1, 1]))
    with pytest.raises(TypeError, match="convert timestamps"):
        evaluate_rules(rule, series([0.1], times=pd.to_datetime(["2024-01-01"])))
