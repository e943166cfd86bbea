"""Small notebook transforms, one a module, composed by `mlkit assign` and `mlkit grade`.

Each is a function `transform(nb) -> nb` that edits the notebook it is given and
returns it, so that a pipeline is a list of functions (see assign_steps in
mlkit.grading.labs and NORMALISE_STEPS in mlkit.grading.normalise). Two take more:
`limit_output(nb, max_bytes) -> (nb, cut)` also takes a size and says what it cut (the
grader applies it to each executed notebook), and `add_rubric(nb, assignment)` takes the
parsed solution, whose questions and tests it writes as the lab's rubric table.
"""

from mlkit.grading.transforms.add_rubric import add_rubric
from mlkit.grading.transforms.clear_hidden_tests import clear_hidden_tests
from mlkit.grading.transforms.clear_outputs import clear_outputs
from mlkit.grading.transforms.clear_solutions import clear_solutions
from mlkit.grading.transforms.limit_output import limit_output
from mlkit.grading.transforms.lock_cells import lock_cells
from mlkit.grading.transforms.number_cells import number_cells
from mlkit.grading.transforms.set_kernelspec import set_grading_kernelspec
from mlkit.grading.transforms.strip_execution_tags import strip_execution_tags

__all__ = [
    "add_rubric",
    "clear_hidden_tests",
    "clear_outputs",
    "clear_solutions",
    "limit_output",
    "lock_cells",
    "number_cells",
    "set_grading_kernelspec",
    "strip_execution_tags",
]
