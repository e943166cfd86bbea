"""`feedback/<learner>.html`: a page the learner can read, with no hidden test source.

It shows the score, the run's status in a sentence, and for each question its points
and what each check said (the check's description, its message and hint). The code of
the tests is never shown, nor are tracebacks from the grader's side, nor the grader's
own folders: every absolute path of two or more parts in a text is cut to its last part
(`…/model.onnx`), so no scratch folder, run id or temporary path reaches a learner.
(Paths in the notebook's working folder are already relative: mlkit.grading.job.)
A reason several checks of one question share is written once.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from mlkit.grading.assignment import Assignment

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }
.pass { color: #1a7f37; } .fail { color: #b42318; } .muted { color: #666; }
.status { padding: .6rem; background: #f5f5f5; border-left: 4px solid #888; }
ul { margin: 0; padding-left: 1.1rem; }
"""
# An absolute path: a slash that starts a word, then two or more parts. URLs (`//`) and
# one-part API routes such as /predict are left alone.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~/-])(?:/[^\s/'\"`<>|:;,()\[\]{}]+){2,}/?")


def feedback_html(assignment: Assignment, learner: str, entry: dict[str, Any]) -> str:
    """The feedback page of one learner (entry as in results.json)."""
    rows = "\n".join(
        _question_row(question, entry["questions"][question.id])
        for question in assignment.questions.values()
    )
    pending = entry["pending"]
    pending_note = f" ({', '.join(pending)} still to be graded by hand)" if pending else ""
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(assignment.name)}: feedback for {escape(learner)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{escape(assignment.name)} · feedback for {escape(learner)}</h1>
<p><strong>Score: {entry["score"]:g} / {entry["max"]:g}</strong>{escape(pending_note)}</p>
<p class="status">Status: <strong>{escape(entry["status"])}</strong>. {text(entry["summary"])}</p>
<table>
<tr><th>question</th><th>points</th><th>what the checks found</th></tr>
{rows}
</table>
<p class="muted">Checks marked "hidden" are the grader's hidden tests: you see what they
found, not their code. Each question's points are the sum of the checks it passed.</p>
</body>
</html>
"""


def text(value: str) -> str:
    """value as HTML text, with absolute paths cut to their last part."""
    return escape(
        ABSOLUTE_PATH.sub(lambda m: "…/" + m.group().rstrip("/").rsplit("/", 1)[1], value)
    )


def _question_row(question: Any, result: dict[str, Any]) -> str:
    if question.manual:
        points = "pending" if result["points"] is None else f"{result['points']:g}"
        body = text(result["message"])
    else:
        points = f"{result['points']:g}"
        said: set[str] = set()
        items = [_check_item(test, said) for test in result["tests"]]
        body = f"<ul>{''.join(items)}</ul>" if items else text(result["message"])
    return (
        f"<tr><td>{escape(question.id)}</td><td>{points} / {question.points:g}</td>"
        f"<td>{body}</td></tr>"
    )


def _check_item(test: dict[str, Any], said: set[str]) -> str:
    """One check; a failure's message only the first time the question's checks give it."""
    label = " <span class='muted'>(hidden)</span>" if test["hidden"] else ""
    worth = f" <span class='muted'>{test['max_points']:g} pt</span>" if test["max_points"] else ""
    if test["passed"]:
        return f"<li class='pass'>✓ {text(test['description'])}{label}{worth}</li>"
    hint = f"<br><em>Hint: {text(test['hint'])}</em>" if test["hint"] else ""
    if test["message"] in said:
        message = "<span class='muted'>(the same reason as above)</span>"
    else:
        said.add(test["message"])
        message = text(test["message"])
    return f"<li class='fail'>✗ {text(test['description'])}{label}{worth}<br>{message}{hint}</li>"
