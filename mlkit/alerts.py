"""Alert rules with a hold, evaluated in Python (module 06): kept under this name for
notebooks that import it; the code lives in `mlkit.observability.alert_rules`."""

from mlkit.observability.alert_rules import AlertRule, evaluate_rules

__all__ = ["AlertRule", "evaluate_rules"]
