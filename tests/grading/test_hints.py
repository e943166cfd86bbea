"""Hints point the way without giving the answer's code.

A learner sees each check's hint in `mlkit.check` and on the feedback page. A hint gives
the answer away when it holds a piece of the model answer's code, so the rule is: no run
of RUN consecutive code tokens of a solution region (`### BEGIN SOLUTION` ...
`### END SOLUTION`) of the same notebook appears in a hint, and no solution line of
LINE_CHARS or more non-space characters. Tokens are names, numbers, `...` and single
punctuation characters; comments are dropped, quotes unified and whitespace ignored. A
dotted name counts one token per part, so a hint may name an API (`skops.io.load`, 5
tokens) but not copy a call with its arguments (`skops.io.load(forest_path, trusted=...`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from mlkit.grading.assignment import cell_role, list_solutions, read_assignment
from mlkit.grading.markers import SOLUTION, has_region, split_regions
from mlkit.settings import repo_root

RUN = 6
LINE_CHARS = 15
TOKEN = re.compile(r"\.\.\.|\d[\d_]*(?:\.\d[\d_]*)*|\w+|[^\w\s]")
SOLUTIONS = list_solutions(repo_root() / "solutions")


def tokens(text: str) -> list[str]:
    """Code tokens of text, with ' and " the same token."""
    return [token.replace('"', "'") for token in TOKEN.findall(text)]


def without_comments(code: str) -> str:
    """code without its `# ...` comments."""
    return "\n".join(re.sub(r"#.*$", "", line) for line in code.splitlines())


def solution_code(path: Path) -> list[str]:
    """The solution regions of the code answer cells (a cell without markers is all answer)."""
    regions = []
    for cell in nbformat.read(path, as_version=4).cells:
        role = cell_role(cell) or {}
        if cell.cell_type != "code" or role.get("kind") != "code":
            continue
        if not has_region(cell.source, SOLUTION):
            regions.append(cell.source)
            continue
        for inside, lines, _indent in split_regions(cell.source, SOLUTION):
            if inside:
                regions.append("\n".join(lines))
    return regions


def hints(path: Path) -> list[tuple[str, str, str]]:
    """(question, test name, hint) of every public and hidden test of a solution notebook."""
    found = []
    for cell in read_assignment(path).test_cells:
        for source in (cell.public_source, cell.hidden_source):
            for node in ast.parse(source).body if source.strip() else []:
                if not isinstance(node, ast.FunctionDef):
                    continue
                for decorator in node.decorator_list:
                    keywords = getattr(decorator, "keywords", [])
                    for keyword in keywords:
                        if keyword.arg == "hint" and keyword.value is not None:
                            hint = ast.literal_eval(keyword.value)
                            if hint:
                                found.append((cell.question, node.name, hint))
    return found


def giveaways(hint: str, solutions: list[str]) -> list[str]:
    """The pieces of solution code that hint contains (empty when it only points the way)."""
    hint_tokens = tokens(hint)
    hint_runs = {tuple(hint_tokens[i : i + RUN]) for i in range(len(hint_tokens) - RUN + 1)}
    squeezed_hint = "".join(hint_tokens)
    found = []
    for code in map(without_comments, solutions):
        code_tokens = tokens(code)
        for i in range(len(code_tokens) - RUN + 1):
            run = tuple(code_tokens[i : i + RUN])
            if run in hint_runs:
                found.append(" ".join(run))
        for line in code.splitlines():
            squeezed = "".join(tokens(line))
            if len(squeezed) >= LINE_CHARS and squeezed in squeezed_hint:
                found.append(line.strip())
    return sorted(set(found))


def _solutions_of(module: str) -> list[str]:
    (path,) = [p for p in SOLUTIONS if p.name.startswith(f"{module}_")]
    return solution_code(path)


# Hints like those these labs once had, each the answer or most of it.
ANSWERS_AS_HINTS = [
    ("01", "forest_loaded = skops.io.load(forest_path, trusted=TRUSTED)"),
    ("01", "max_abs_diff = float(np.max(np.abs(onnx - sklearn))) on X_test."),
    ("01", "bentoml.models.export_model(v2_tag, str(exported_path)) before deleting."),
    ("02", "Return one probability per customer: predict_proba(frame)[:, 1].tolist()."),
    ("05", "ceiling = min(max_delay_s, base_delay_s * 2 ** (attempt - 1)), then random.uniform."),
    ("06", "Edges at np.quantile(reference, np.arange(1, bins) / bins)."),
    ("07", "A test counts once if any look is significant: (p < 0.05).any(axis=1)."),
    ("08", "hmac.new(key, data, hashlib.sha256).hexdigest(); load with joblib after it matches."),
]

# Hints that point the way: an API's name, a rule of the question, a unit.
POINTERS = [
    ("01", "TRUSTED should equal what skops.io.get_untrusted_types reports."),
    ("01", "Delete v2 (bentoml.models.delete) so that latest falls back to v1."),
    ("00", "numpy.percentile takes the percentile from 0 to 100, not 0 to 1."),
    ("08", "A key is valid only if it equals one of the non-empty keys: hmac.compare_digest."),
    ("03", "Pin each library with == to importlib.metadata.version(name)."),
]


@pytest.mark.parametrize(("module", "hint"), ANSWERS_AS_HINTS)
def test_a_hint_with_the_answers_code_is_caught(module, hint):
    assert giveaways(hint, _solutions_of(module)), f"not caught: {hint!r}"


@pytest.mark.parametrize(("module", "hint"), POINTERS)
def test_a_hint_that_names_an_api_or_a_rule_passes(module, hint):
    assert giveaways(hint, _solutions_of(module)) == []


def test_a_short_solution_line_is_caught_however_it_is_spaced():
    solution = ["    items = OrderedDict()  # least recently used first\n"]
    assert giveaways("Start with items=OrderedDict ( ) in __init__.", solution)
    assert giveaways("Keep the entries in an OrderedDict, oldest use first.", solution) == []


def test_every_lab_has_hints_to_check():
    assert len(SOLUTIONS) == 10
    assert all(hints(path) for path in SOLUTIONS)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_no_hint_gives_the_answer_away(path):
    solutions = solution_code(path)
    problems = [
        f"{question} {name}(): {hint!r} contains {pieces}"
        for question, name, hint in hints(path)
        if (pieces := giveaways(hint, solutions))
    ]
    assert not problems, f"{path.name}: hints that give the answer away:\n" + "\n".join(problems)
