"""Every lab grades as designed: every copy of the solution full marks, the blank lab zero, and
a half-right copy (the solution with a few answers broken) exactly the partial credit its case
states.

All of a lab's submissions are graded in one run with two workers, so servers, kernels and
learner services start at the same time and take ports side by side: a correct submission
must never lose a point by chance. The solution is graded three times in every lab; a port
race or a flaky hidden test shows up as a lost point in one copy.

Each submission really runs in the grading sandbox. What the hidden tests do:
- 00 compare its churn rate, percentiles and model with their own on the same data;
- 01 read the files and the model store the notebook left, through its kernel;
- 02 serve the notebook's service.py in a fresh process and probe it over HTTP, and its
  flask_app.py under Gunicorn;
- 03 build a bento and an image from the submission's build configuration with the grader's
  own Docker engine (the sandbox has none, so the notebook says what it skipped), run the
  container and ask it for predictions; call its ldd parser (q6) and its Azure ML
  scoring functions (q7, in its kernel) with cases of their own;
- 04 serve a fresh copy of its service and run its locustfile against it with Locust;
- 05 drive its retry function and circuit breaker against a flaky local server, start its
  tuned service and load it with Locust next to the baseline;
- 06, 07 call its functions with cases of their own and compare with mlkit.drift,
  mlkit.experiments and mlkit.rollout; 06 also runs promtool on its Prometheus rules with
  series of its own, and its rule unit tests against broken rules; 07's registry gate runs
  against the lab's own MLflow registry (SQLite) in its kernel;
- 08 serve its service.py once and attack it over HTTP (no key, wrong keys, malformed and
  hostile input, a viewer's key on the admin endpoint, a burst), probe its signed and its
  encrypted loading and its fixed report tool, check its STRIDE mapping against what the
  course builds, and feed its build gate pip-audit reports of known pins;
- 09 rebuild its project (bundle, key-protected service, build configuration) and run the
  container with the grader's Docker engine; the half-right build configuration fails the
  safety check before any build, so the half-right copy builds no image.
"""

from __future__ import annotations

import pytest
from support.lab_scores import LabCase, check_lab_grades

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

CASES = [
    LabCase(
        "00",
        # Another sample of customers, and p95 and p99 taken as the maximum.
        half_right={
            "q1": ("seed=7)", "seed=8)"),
            "q2": (
                "float(np.percentile(values, q))",
                "float(np.percentile(values, q) if q == 50 else values.max())",
            ),
        },
        auto={"q1": 2, "q2": 3, "q3": 3},
        by_hand=("q4",),
        # q1 keeps "a share"; q2 keeps the median only.
        half_right_points={"q1": 1, "q2": 1},
        feedback={"q1": "not the share of churners", "q2": "p95 is not the 95th percentile"},
    ),
    LabCase(
        "01",
        # The solution trusting one type too many, and a load_bundle that never checks the hash.
        half_right={
            "q1": (
                'TRUSTED = ["sklearn.tree._tree.Tree"]',
                'TRUSTED = ["sklearn.tree._tree.Tree", "builtins.exec"]',
            ),
            "q2": ("    if found != expected:\n", "    if False:\n"),
            # A signature reader that keeps -1 for "any size" instead of None.
            "q6": (
                "shape = tuple(None if dim == -1 else dim for dim in dims)",
                "shape = tuple(dims)",
            ),
        },
        auto={"q1": 2, "q2": 4, "q3": 3, "q4": 3, "q6": 4},
        by_hand=("q5",),
        # q1 loses "exactly the types needed"; q2 keeps the round trip and the manifest only;
        # q6 keeps the request (its width check reads shape[1]), loses both readings.
        half_right_points={"q1": 1, "q2": 2, "q6": 2},
        feedback={
            "q2": "raised UntrustedTypesFoundException, not TamperedBundleError",
            "q6": "got {'features': ('float32', (-1, 16))}",
        },
    ),
    LabCase(
        "02",
        # Without `extra="forbid"`, with a readiness check that is always True, and a Flask
        # app that reads any media type as JSON.
        half_right={
            "q1": ('ConfigDict(extra="forbid", strict=True', "ConfigDict(strict=True"),
            "q4": ('return not Path(__file__).with_name("draining").exists()', "return True"),
            "q7": ('if request.mimetype != "application/json":', "if False:"),
        },
        auto={"q1": 3, "q2": 2, "q3": 3, "q4": 2, "q5": 2, "q7": 3},
        by_hand=("q6",),
        # q1 loses the extra-field point; q4 keeps only "draining ends and keeps serving";
        # q7 loses the point for refusing like the contract (text/plain is answered 200).
        half_right_points={"q1": 2, "q4": 1, "q7": 2},
        feedback={
            "q1": "extra field 'tenure': expected status 400, got 200",
            "q7": "JSON sent as text/plain: expected status 415, got 200",
        },
    ),
    LabCase(
        "03",
        # Without the allow-list (q1, and so q3's image ships the clutter), with comments not
        # stripped (q2), with a memory limit equal to the request (q4), skipping a library
        # that is not found (q6) and letting bad JSON and bad customers raise (q7).
        half_right={
            "q1": ('    "include": ["service.py", "api_guard.py", "model.skops"],\n', ""),
            "q2": ('text = line.split("#", 1)[0].strip()', "text = line.strip()"),
            "q4": ('memory_limit=f"{2 * request_mib}Mi"', 'memory_limit=f"{request_mib}Mi"'),
            "q6": (
                'raise ValueError(f"{name} is not found: the image could not load it")',
                "continue",
            ),
            "q7": (
                "except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as err:",
                "except KeyError as err:",
            ),
        },
        auto={"q1": 3, "q2": 2, "q3": 2, "q4": 3, "q6": 2, "q7": 2},
        by_hand=("q5",),
        half_right_points={"q1": 2, "q2": 1, "q3": 1, "q4": 2, "q6": 1, "q7": 1},
        feedback={
            "q3": "the image ships {'secret': ['src/.env']",
            "q4": "the limit should be",
            "q6": "should raise ValueError",
            "q7": "not JSON: run() raised",
        },
        needs_docker=True,
    ),
    LabCase(
        "04",
        # Tasks weighted 1:1 instead of 4:1, and a capacity that ignores the first broken step.
        half_right={
            "q1": ("    @task(4)\n", "    @task(1)\n"),
            "q3": (
                "before_first_break = meets.cumprod().astype(bool)",
                "before_first_break = meets",
            ),
        },
        auto={"q1": 3, "q2": 2, "q3": 3, "q4": 2},
        by_hand=("q5",),
        # q1 loses the 4:1 point; q3 loses the "stop at the first broken step" point.
        half_right_points={"q1": 2, "q3": 2},
        feedback={"q1": "expected about 4 requests to /predict per page"},
    ),
    LabCase(
        "05",
        # Backoff without jitter, and a breaker whose successes do not reset its failure count.
        half_right={
            "q1": (
                "return random.uniform(0, min(max_delay_s, base_delay_s * 2 ** (attempt - 1)))",
                "return min(max_delay_s, base_delay_s * 2 ** (attempt - 1))",
            ),
            "q2": (
                '        self.state = "closed"\n        self.failures = 0\n        return result',
                '        self.state = "closed"\n        return result',
            ),
        },
        auto={"q1": 3, "q2": 3, "q3": 2, "q4": 3, "q5": 2},
        by_hand=("q6",),
        # q1 loses the jitter point; q2 loses the "failures in a row" point.
        half_right_points={"q1": 2, "q2": 2},
        feedback={"q1": "expected random draws over"},
    ),
    LabCase(
        "06",
        # PSI without the eps floor, a challenger promoted when the interval merely reaches 0,
        # and an alert rule held for 1 minute instead of 10.
        half_right={
            "q1": ("    r, c = np.clip(r, eps, None), np.clip(c, eps, None)\n", ""),
            "q6": (
                "return float(low), float(high), bool(low > 0)",
                "return float(low), float(high), bool(high > 0)",
            ),
            "q8": ("for: 10m", "for: 1m"),
        },
        auto={"q1": 3, "q2": 2, "q3": 2, "q4": 2, "q5": 2, "q6": 2, "q8": 3},
        by_hand=("q7",),
        # q1 loses the empty-bin point; q6 keeps the interval, not the decisions; q8 keeps
        # the recording rule (promtool passes it), loses the alert and its own unit test.
        half_right_points={"q1": 2, "q6": 1, "q8": 1},
        feedback={
            "q6": "an equally good challenger was promoted",
            "q8": "your RULE_TESTS fail on your RULES",
        },
    ),
    LabCase(
        "07",
        # A one-sided p-value, and a canary that waits for MIN_REQUESTS before counting errors.
        half_right={
            "q1": (
                "p_value = 2 * (1 - NormalDist().cdf(abs(z)))",
                "p_value = 1 - NormalDist().cdf(abs(z))",
            ),
            "q4": (
                "    if errors > allowed:\n",
                "    if errors > allowed and requests >= MIN_REQUESTS:\n",
            ),
            # A registry gate without the margin: a model only as good as the champion wins.
            "q7": (
                "promoted = candidate_auc >= champion_auc + MARGIN",
                "promoted = candidate_auc >= champion_auc",
            ),
        },
        auto={"q1": 3, "q2": 2, "q3": 2, "q4": 3, "q5": 2, "q7": 3},
        by_hand=("q6",),
        # q1 loses the two-sided p-value; q4 keeps holding and promoting, not the early rollback;
        # q7 keeps the first and the refused version, not the margin.
        half_right_points={"q1": 2, "q4": 2, "q7": 2},
        feedback={
            "q4": "decide(0.05, 10, 1, 5.0): expected ('rollback', 0.0)",
            "q7": "it must win by MARGIN",
        },
    ),
    LabCase(
        "08",
        # A key check that accepts a prefix of a key, a lax schema, a loader that lets a
        # missing signature file raise FileNotFoundError, a role check on one exact path
        # instead of the /admin/ prefix, a key reader that lets Fernet fail on an empty key,
        # a STRIDE row that names a rate limit against sniffing, and a build gate that lets
        # a package pip-audit skipped pass.
        half_right={
            "q1": (
                "matches = [hmac.compare_digest(given, key) for key in self.keys]",
                "matches = [bool(given) and key.startswith(given) for key in self.keys]",
            ),
            "q3": ('extra="forbid", strict=True, allow_inf_nan=False', 'extra="forbid"'),
            "q4": ("    if not signature_path.is_file():\n", "    if False:\n"),
            "q7": (
                "if not request.url.path.startswith(ADMIN_PREFIX):",
                'if request.url.path != "/admin/stats":',
            ),
            "q8": ("    if not key:\n", "    if False:\n"),
            "q9": ('"sniffed-key": ["tls"],', '"sniffed-key": ["tls", "rate-limit"],'),
            "q10": ('        if "skip_reason" in dependency:\n', "        if False:\n"),
        },
        auto={"q1": 3, "q2": 3, "q3": 3, "q4": 4, "q5": 4, "q7": 3, "q8": 3, "q9": 3, "q10": 3},
        by_hand=("q6",),
        # q1 loses "near-miss keys"; q3 loses "hostile values"; q4 loses "missing signature";
        # q7 loses "every /admin/ path"; q8 loses "the missing key named"; q9 loses the
        # doors-and-traffic rows; q10 loses "fails closed".
        half_right_points={"q1": 2, "q3": 2, "q4": 3, "q7": 2, "q8": 2, "q9": 2, "q10": 2},
        feedback={
            "q1": "'the key without its last character': 200",
            "q3": "'age as a numeric string': 200",
            "q4": "no signature file: expected ModelSignatureError, got FileNotFoundError",
            "q7": "the viewer key on /admin/reload (no such endpoint yet): expected 403, got 404",
            "q8": "without the variable: expected ModelKeyMissing, got ValueError",
            "q9": "'sniffed-key': ['rate-limit', 'tls']",
            "q10": "a skipped package must block",
        },
    ),
    LabCase(
        "09",
        # A model of 3 boosting rounds (q1 misses the MAE target), a middleware that lets any
        # key through (q2b keeps "no key gets 401", loses "only the right key"; q2a, checked
        # with the course's middleware, keeps its points), libraries left unpinned (q3 fails
        # the safety check, before any build), an alert rule without a hold (q5 pages on a
        # one-window blip) and an autoscaler without a scale-down window (q8: the balancer
        # still fails over, the policy drops replicas in a dip).
        half_right={
            "q1": (
                "HistGradientBoostingRegressor(max_iter=100,",
                "HistGradientBoostingRegressor(max_iter=3,",
            ),
            "q2b": ("if not hmac.compare_digest(sent, self.key):", "if not sent:"),
            "q3": ('f"{name}=={version(name)}"', "name"),
            "q5": ('"n_drifted", ">", 0, hold=1)', '"n_drifted", ">", 0, hold=0)'),
            "q8": ('"scale_down_window_s": 300', '"scale_down_window_s": 0'),
        },
        auto={"q1": 3, "q2a": 2, "q2b": 2, "q3": 2, "q4": 3, "q5": 3, "q8": 3},
        by_hand=("q6", "q7"),
        half_right_points={"q1": 2, "q2b": 1, "q3": 0, "q5": 2, "q8": 2},
        feedback={
            "q2b": "'wrong key': 200",
            "q3": "is not 'name==version'",
            "q1": "the target is below 3.2",
            "q5": "should not alert",
            "q8": "scale down only after 5 minutes",
        },
        needs_docker=True,
    ),
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case, id=f"lab{case.assignment}", marks=[pytest.mark.docker] * case.needs_docker
        )
        for case in CASES
    ],
)
def test_solutions_full_marks_blank_lab_zero_half_right_partial(case, tmp_path, request):
    if case.needs_docker:
        request.getfixturevalue("docker_engine")
    check_lab_grades(case, tmp_path)
