"""The course data set: seeded synthetic customer-churn data, with drift of known kind and size.

Introduced in module 00 and used by every module. No downloads: the data are generated,
so the same seed always gives the same rows, and every drift exercise (module 06) has a
ground truth because the drift is injected on purpose:

- `inject_covariate_shift`: the inputs move, the rule that maps inputs to churn stays;
- `inject_prior_shift`: the share of churners changes, each class looks the same;
- `inject_concept_drift`: the inputs stay, the rule that maps them to churn changes.

Module 09's capstone uses a second, different problem: `make_deliveries`, a regression
of food-delivery times from distance, basket size, hour, weather, vehicle and courier
experience, with `inject_delivery_shift` for its drift exercise.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

NUMERIC_FEATURES: list[str] = [
    "age",
    "income",
    "tenure_months",
    "monthly_spend",
    "support_calls",
    "last_login_days",
]
CATEGORICAL_FEATURES: list[str] = ["plan", "region", "device"]
FEATURES: list[str] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
TARGET = "churned"

CATEGORIES: dict[str, list[str]] = {
    "plan": ["basic", "standard", "premium"],
    "region": ["north", "south", "east", "west"],
    "device": ["mobile", "desktop", "tablet"],
}
_CATEGORY_PROBS: dict[str, list[float]] = {
    "plan": [0.5, 0.35, 0.15],
    "region": [0.3, 0.25, 0.25, 0.2],
    "device": [0.55, 0.35, 0.10],
}

# The churn rule: log-odds = intercept + sum(weight * standardised feature) + plan effect.
# `concept_drift` interpolates from the first rule to the second.
_RULES: dict[str, dict[str, float]] = {
    "reference": {
        "intercept": -1.45,
        "support_calls": 0.9,
        "last_login_days": 0.8,
        "tenure_months": -0.9,
        "monthly_spend": 0.3,
        "age": -0.2,
        "plan_basic": 0.6,
        "plan_premium": -0.6,
    },
    "drifted": {
        "intercept": -1.45,
        "support_calls": -0.4,
        "last_login_days": 0.1,
        "tenure_months": 0.6,
        "monthly_spend": 1.2,
        "age": 0.5,
        "plan_basic": -0.6,
        "plan_premium": 0.8,
    },
}
# Fixed standardisation constants so the rule does not depend on the sample drawn.
_SCALE = {
    "support_calls": (1.6, 1.3),
    "last_login_days": (12.0, 12.0),
    "tenure_months": (30.0, 25.0),
    "monthly_spend": (60.0, 30.0),
    "age": (42.0, 13.0),
}


# Drift injection draws from its own random stream, so `inject_*(df, seed=s)` on data made
# with `make_dataset(seed=s)` does not replay the draws that made the features.
_DRIFT_STREAM = 0xD41F7


def _drift_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([_DRIFT_STREAM, seed])


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}.")


def _check_fraction(name: str, value: float, low: float = 0.0, high: float = 1.0) -> None:
    if not isinstance(value, int | float) or not (low <= float(value) <= high):
        raise ValueError(f"{name} must be a number between {low} and {high}, got {value!r}.")


def _check_frame(
    df: pd.DataFrame,
    columns: Iterable[str],
    maker: str = "make_dataset",
    expected: list[str] | None = None,
) -> None:
    expected = FEATURES + [TARGET] if expected is None else expected
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame from {maker}(), got {type(df)}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"df is missing the column(s) {missing}; expected the columns of {maker}(): {expected}."
        )


def churn_probability(df: pd.DataFrame, concept: float = 0.0) -> np.ndarray:
    """The true probability of churn for each row under the data's rule.

    `concept` = 0 is the rule of `make_dataset`; 1 is the fully drifted rule of
    `inject_concept_drift`; values between blend the two. Knowing the truth lets a
    lesson compare a model with the best possible one.
    """
    _check_frame(df, FEATURES)
    _check_fraction("concept", concept)
    ref, new = _RULES["reference"], _RULES["drifted"]
    rule = {k: (1 - concept) * ref[k] + concept * new[k] for k in ref}
    logit = np.full(len(df), rule["intercept"], dtype=float)
    for col, (mean, std) in _SCALE.items():
        logit += rule[col] * (df[col].to_numpy(dtype=float) - mean) / std
    plan = df["plan"].astype(str).to_numpy()
    logit += rule["plan_basic"] * (plan == "basic") + rule["plan_premium"] * (plan == "premium")
    return 1.0 / (1.0 + np.exp(-logit))


def _draw_features(n_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    cats = {
        name: rng.choice(CATEGORIES[name], size=n_rows, p=_CATEGORY_PROBS[name])
        for name in CATEGORICAL_FEATURES
    }
    plan_level = pd.Series(cats["plan"]).map({"basic": 0, "standard": 1, "premium": 2}).to_numpy()
    age = np.clip(rng.normal(42, 13, n_rows), 18, 90).round()
    income = np.round(rng.lognormal(np.log(48_000) + 0.004 * (age - 42), 0.45), -2)
    tenure = np.clip(rng.exponential(30, n_rows), 1, 120).round()
    spend = np.round(25 + 22 * plan_level + 0.0002 * income + rng.gamma(2.0, 6.0, n_rows), 2)
    support = rng.poisson(1.2 + 0.4 * (plan_level == 0) + 0.01 * np.maximum(0, 24 - tenure))
    last_login = np.clip(rng.exponential(10, n_rows), 0, 180).round()
    return pd.DataFrame(
        {
            "age": age.astype(int),
            "income": income,
            "tenure_months": tenure.astype(int),
            "monthly_spend": spend,
            "support_calls": support.astype(int),
            "last_login_days": last_login.astype(int),
            **{name: pd.Categorical(cats[name], categories=CATEGORIES[name]) for name in cats},
        }
    )


def _draw_labels(df: pd.DataFrame, concept: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(len(df)) < churn_probability(df, concept)).astype(int)


def make_dataset(n_rows: int = 5000, seed: int = 42) -> pd.DataFrame:
    """A seeded churn data set: 6 numeric and 3 categorical features and the target `churned`.

    About a quarter of customers churn; support calls, days since last login, short
    tenure and the basic plan raise the odds. Same seed, same rows.
    """
    _check_positive_int("n_rows", n_rows)
    rng = np.random.default_rng(seed)
    df = _draw_features(n_rows, rng)
    df[TARGET] = _draw_labels(df, 0.0, rng)
    return df


def split(
    df: pd.DataFrame, test_size: float = 0.25, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Split into X_train, X_test, y_train, y_test, stratified on the target."""
    from sklearn.model_selection import train_test_split

    _check_frame(df, FEATURES + [TARGET])
    _check_fraction("test_size", test_size, 0.01, 0.99)
    return train_test_split(
        df[FEATURES], df[TARGET], test_size=test_size, random_state=seed, stratify=df[TARGET]
    )


def inject_covariate_shift(
    df: pd.DataFrame, features: Iterable[str], size: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """Move the named inputs and relabel under the unchanged rule (module 06).

    A numeric feature's mean moves by `size` of its standard deviation (negative moves
    down). A float column moves every row by that amount; a whole-number column (age,
    counts) stays whole: every row moves by the whole units in it and a random share of
    rows by one unit more, the share being the fraction left over, so the mean moves by
    `size` standard deviations in expectation (0.39 units: 39% of rows move by one). Whole
    numbers stay non-negative, which holds a downward move back near zero. A categorical
    feature gives a share `size` (0 to 1) of its rows to its rarest category.
    """
    features = [features] if isinstance(features, str) else list(features)
    _check_frame(df, FEATURES + [TARGET])
    unknown = [f for f in features if f not in FEATURES]
    if not features or unknown:
        raise ValueError(f"features must name some of {FEATURES}, got {features!r}.")
    if not isinstance(size, int | float):
        raise ValueError(f"size must be a number, got {size!r}.")
    rng = _drift_rng(seed)
    out = _shift_columns(df, features, NUMERIC_FEATURES, size, rng)
    out[TARGET] = _draw_labels(out, 0.0, rng)
    return out


def _shift_columns(
    df: pd.DataFrame,
    features: list[str],
    numeric: list[str],
    size: float,
    rng: np.random.Generator,
    upper: dict[str, float] | None = None,
) -> pd.DataFrame:
    """A copy of `df` with `features` moved as `inject_covariate_shift` describes.

    Whole-number columns stay whole (a random share of rows takes the fractional unit),
    at least 0 and at most `upper[name]` when given.
    """
    out = df.copy()
    for name in features:
        if name in numeric:
            col = df[name].astype(float)
            step = size * col.std()
            if pd.api.types.is_integer_dtype(df[name]):
                # whole units for every row, one more for a share equal to the fraction left
                whole = np.floor(step)
                extra = rng.random(len(df)) < step - whole
                moved = (col + whole + extra).clip(0, (upper or {}).get(name))
                out[name] = moved.astype(df[name].dtype)
            else:
                out[name] = col + step
        else:
            _check_fraction("size (for a categorical feature)", size)
            rarest = df[name].value_counts().idxmin()
            hit = rng.random(len(df)) < size
            out.loc[hit, name] = rarest
    return out


def inject_prior_shift(df: pd.DataFrame, positive_rate: float, seed: int = 0) -> pd.DataFrame:
    """Resample rows (same count) so that a share `positive_rate` churns (module 06).

    Each class keeps its own look: only how often each class occurs changes.
    """
    _check_frame(df, FEATURES + [TARGET])
    _check_fraction("positive_rate", positive_rate)
    rng = _drift_rng(seed)
    pos = np.flatnonzero(df[TARGET].to_numpy() == 1)
    neg = np.flatnonzero(df[TARGET].to_numpy() == 0)
    n_pos = int(round(positive_rate * len(df)))
    if (n_pos and not len(pos)) or (len(df) - n_pos and not len(neg)):
        raise ValueError("df needs rows of both classes to shift the churn rate.")
    rows = np.concatenate(
        [rng.choice(pos, n_pos, replace=True), rng.choice(neg, len(df) - n_pos, replace=True)]
    )
    rng.shuffle(rows)
    return df.iloc[rows].reset_index(drop=True)


def inject_concept_drift(df: pd.DataFrame, strength: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Keep the inputs and relabel under a changed rule (module 06).

    `strength` 0 keeps the original rule, 1 uses the fully drifted one (long-tenure,
    high-spend premium customers now churn). A model trained before the drift
    loses accuracy while every input distribution stays the same.
    """
    _check_frame(df, FEATURES + [TARGET])
    _check_fraction("strength", strength)
    rng = _drift_rng(seed)
    out = df.copy()
    out[TARGET] = _draw_labels(out, float(strength), rng)
    return out


# --- Module 09: delivery times -------------------------------------------------------------

DELIVERY_NUMERIC_FEATURES: list[str] = [
    "distance_km",
    "n_items",
    "hour",
    "weekday",
    "courier_tenure_months",
]
DELIVERY_CATEGORICAL_FEATURES: list[str] = ["weather", "vehicle"]
DELIVERY_FEATURES: list[str] = DELIVERY_NUMERIC_FEATURES + DELIVERY_CATEGORICAL_FEATURES
DELIVERY_TARGET = "delivery_minutes"
_DELIVERY_COLUMNS = DELIVERY_FEATURES + [DELIVERY_TARGET]
DELIVERY_CATEGORIES: dict[str, list[str]] = {
    "weather": ["clear", "rain", "snow"],
    "vehicle": ["bike", "scooter", "car"],
}
_DELIVERY_CATEGORY_PROBS: dict[str, list[float]] = {
    "weather": [0.7, 0.22, 0.08],
    "vehicle": [0.4, 0.35, 0.25],
}
# The delivery rule, in minutes: preparation, then travel at the vehicle's pace slowed by
# the weather, plus rush hours, weekends and a courier's first months; noise on top.
MINUTES_PER_KM: dict[str, float] = {"bike": 4.0, "scooter": 2.8, "car": 2.4}
WEATHER_SLOWDOWN: dict[str, float] = {"clear": 1.0, "rain": 1.25, "snow": 1.6}
RUSH_HOURS = (12, 13, 18, 19, 20)
DELIVERY_NOISE_MINUTES = 3.0
_OPENING_HOURS = np.arange(10, 23)
_HOUR_WEIGHTS = np.array([2, 4, 6, 6, 3, 2, 2, 3, 6, 7, 6, 4, 2], dtype=float)
_DELIVERY_UPPER: dict[str, float] = {"hour": 23, "weekday": 6, "n_items": 40}


def expected_delivery_minutes(df: pd.DataFrame) -> np.ndarray:
    """The true mean delivery time of each row (module 09): the rule without the noise.

    8 minutes' preparation plus 1.2 a item, distance times the vehicle's minutes per km
    (`MINUTES_PER_KM`) times the weather's slowdown (`WEATHER_SLOWDOWN`), 7 minutes in
    `RUSH_HOURS`, 3 at weekends (weekday 5 and 6) and up to 6 for a new courier (fading
    with a 12-month time constant). No model can beat it on average.
    """
    _check_frame(df, DELIVERY_FEATURES, "make_deliveries", _DELIVERY_COLUMNS)
    pace = df["vehicle"].astype(str).map(MINUTES_PER_KM).to_numpy(dtype=float)
    slowdown = df["weather"].astype(str).map(WEATHER_SLOWDOWN).to_numpy(dtype=float)
    hour = df["hour"].to_numpy()
    return (
        8.0
        + 1.2 * df["n_items"].to_numpy(dtype=float)
        + df["distance_km"].to_numpy(dtype=float) * pace * slowdown
        + 7.0 * np.isin(hour, RUSH_HOURS)
        + 3.0 * (df["weekday"].to_numpy() >= 5)
        + 6.0 * np.exp(-df["courier_tenure_months"].to_numpy(dtype=float) / 12.0)
    )


def _draw_delivery_minutes(df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, DELIVERY_NOISE_MINUTES, len(df))
    return np.round(np.maximum(5.0, expected_delivery_minutes(df) + noise), 1)


def make_deliveries(n_rows: int = 5000, seed: int = 42) -> pd.DataFrame:
    """A seeded delivery-time data set (module 09): 5 numeric and 2 categorical features
    and the target `delivery_minutes` (about half an hour on average).

    Distance, weather and vehicle drive most of the time; rush hours, weekends, basket
    size and new couriers add to it (`expected_delivery_minutes` is the rule). Same
    seed, same rows.
    """
    _check_positive_int("n_rows", n_rows)
    rng = np.random.default_rng(seed)
    cats = {
        name: rng.choice(DELIVERY_CATEGORIES[name], size=n_rows, p=_DELIVERY_CATEGORY_PROBS[name])
        for name in DELIVERY_CATEGORICAL_FEATURES
    }
    df = pd.DataFrame(
        {
            "distance_km": np.round(np.clip(rng.gamma(2.0, 1.6, n_rows), 0.2, 25.0), 2),
            "n_items": np.minimum(1 + rng.poisson(2.0, n_rows), 40),
            "hour": rng.choice(_OPENING_HOURS, size=n_rows, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()),
            "weekday": rng.integers(0, 7, n_rows),
            "courier_tenure_months": np.clip(rng.exponential(18.0, n_rows), 0, 120).astype(int),
            **{
                name: pd.Categorical(cats[name], categories=DELIVERY_CATEGORIES[name])
                for name in cats
            },
        }
    )
    df[DELIVERY_TARGET] = _draw_delivery_minutes(df, rng)
    return df


def inject_delivery_shift(
    df: pd.DataFrame, features: Iterable[str], size: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """Move the named delivery inputs and redraw the times under the unchanged rule (module 09).

    As `inject_covariate_shift`: a numeric feature moves by `size` of its standard
    deviation (whole numbers stay whole and within their range: hour at most 23,
    weekday at most 6); a categorical feature gives a share `size` (0 to 1) of its rows
    to its rarest category (snow, or car).
    """
    features = [features] if isinstance(features, str) else list(features)
    _check_frame(df, _DELIVERY_COLUMNS, "make_deliveries", _DELIVERY_COLUMNS)
    unknown = [f for f in features if f not in DELIVERY_FEATURES]
    if not features or unknown:
        raise ValueError(f"features must name some of {DELIVERY_FEATURES}, got {features!r}.")
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise ValueError(f"size must be a number, got {size!r}.")
    rng = _drift_rng(seed)
    out = _shift_columns(df, features, DELIVERY_NUMERIC_FEATURES, size, rng, _DELIVERY_UPPER)
    out[DELIVERY_TARGET] = _draw_delivery_minutes(out, rng)
    return out
