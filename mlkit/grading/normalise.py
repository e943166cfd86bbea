"""Read a submitted notebook, whatever its nbformat version, and make it safe to run.

Reading upgrades any nbformat version to v4 and turns every way a file can be broken
(including JSON nested too deeply to parse) into UnreadableNotebookError; a lone
surrogate in a string (a `\\ud800` escape) becomes U+FFFD, so that what is read can
always be written as UTF-8. Then NORMALISE_STEPS apply, in order: learner-set tags
that change execution go, outputs go, cells are renumbered (duplicated cells are legal
input), and the kernelspec becomes the grading kernel's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat

from mlkit.grading.codec import SURROGATE, valid_text
from mlkit.grading.exceptions import CodecError, UnreadableNotebookError
from mlkit.grading.labs import Transform, apply_steps
from mlkit.grading.submissions import open_submission
from mlkit.grading.transforms import (
    clear_outputs,
    number_cells,
    set_grading_kernelspec,
    strip_execution_tags,
)

MAX_NOTEBOOK_BYTES = 32 * 2**20

NORMALISE_STEPS: tuple[Transform, ...] = (
    strip_execution_tags,
    clear_outputs,
    number_cells,
    set_grading_kernelspec,
)


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook at path as nbformat v4, or UnreadableNotebookError saying why not."""
    path = Path(path)
    try:
        with open_submission(path) as handle:  # a regular file, not a link: never blocks
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_NOTEBOOK_BYTES:
                raise UnreadableNotebookError(
                    str(path),
                    f"too large: {size} bytes, more than the {MAX_NOTEBOOK_BYTES} allowed",
                )
            text = handle.read().decode("utf-8")
        nb = nbformat.from_dict(nbformat.reads(text, as_version=4))  # v3 upgrades are Structs
        if SURROGATE.search(text):
            nb = nbformat.from_dict(valid_text(nb))
        nbformat.validate(nb)
    except UnreadableNotebookError:
        raise
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as err:
        raise UnreadableNotebookError(str(path), f"not valid JSON ({_first_line(err)})") from None
    except (RecursionError, CodecError):
        raise UnreadableNotebookError(str(path), "nested too deeply to read") from None
    except UnicodeDecodeError:
        raise UnreadableNotebookError(str(path), "not UTF-8 text") from None
    except nbformat.ValidationError as err:
        raise UnreadableNotebookError(
            str(path), f"not a valid notebook ({_first_line(err)})"
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UnreadableNotebookError(str(path), f"not a notebook ({_first_line(err)})") from None
    return nb  # type: ignore[no-any-return]  # nbformat's readers are unannotated


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Apply NORMALISE_STEPS to nb."""
    return apply_steps(nb, NORMALISE_STEPS)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
