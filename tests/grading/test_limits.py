"""GradingLimits: validation that names the field, and one type per field."""

import pytest

from mlkit.grading import GradingLimits


def test_equal_limits_are_equal_whatever_number_type_was_given():
    assert GradingLimits(timeout=600.0, memory_mb=2048.0) == GradingLimits()
    assert GradingLimits(timeout=5).to_dict()["timeout"] == 5.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"timeout": 0}, r"timeout=...\): expected a positive number, got 0"),
        ({"memory_mb": 1.5}, r"memory_mb=...\): expected a positive whole number, got 1.5"),
        ({"cpus": True}, r"cpus=...\): expected a positive number, got True"),
        ({"memory_mb": 128}, "a Python kernel needs at least 256 MB"),
        ({"output_kb": 4}, r"output_kb=...\): an executed notebook needs at least 16 KB"),
    ],
)
def test_bad_limits_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradingLimits(**kwargs)
