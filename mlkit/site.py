"""The course as a static site: course notebooks with their outputs, labs as released, and
the instructor guide, built by Sphinx with MyST-NB (`mlkit site`, `make site`).

Sphinx rather than mystmd or Jupyter Book 2: those fetch their web theme from the internet
at build time, so they cannot build on a machine that reaches only package registries;
Sphinx, MyST-NB and the book theme install from PyPI and build offline. Search is Sphinx's
own (a page and an index the browser reads; no server).

Outputs. Course notebooks are committed without outputs and take minutes to execute, and
CI executes each of them once already (nbval). A pytest plugin of the tests
(tests/support/executed_notebooks.py) saves what nbval ran as an executed copy,
`<scratch>/executed/NN_topic.ipynb`, stamped with the sha256 of the source notebook
(`save_executed_copy`). The site uses a copy whose stamp matches the source as it is now;
for any other notebook `build_site(execute=True)` runs it with nbclient, and without
`execute` the page is published without outputs and the build says so
(`SiteBuild.without_outputs`). Labs are published as released: no outputs, no solution.

Hygiene. Outputs are published only once they hold nothing of the machine that ran them:
the project folder, the scratch folder, the user's home, pytest's and tempfile's
temporary folders, and the host name are rewritten to placeholders (`<project>`,
`<scratch>`, `~`, `<tmp>`, `<host>`), date-times to `<timestamp>`; an output with a
private key is refused. Paths inside containers (`/home/bentoml/...`) are the course's
subject and are kept.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nbformat

from mlkit.course_outline import OutlineError, time_estimate
from mlkit.errors import MlkitError
from mlkit.grading.markers import HIDDEN_TESTS, SOLUTION
from mlkit.settings import repo_root, scratch_dir, solutions_dir

EXECUTED_STAMP = "source_sha256"
CELL_TIMEOUT_S = 900
SPHINX_TIMEOUT_S = 1800


class SiteError(MlkitError, ValueError):
    """The site cannot be built: a page would publish what it must not, or Sphinx failed."""


@dataclass(frozen=True)
class SitePage:
    """One page of the site: a course notebook, a lab or an instructor page."""

    kind: str  # "course", "lab" or "guide"
    name: str  # file name of the source, e.g. 02_serving.ipynb
    title: str
    docname: str  # page path inside the site, without .html, e.g. course/02_serving
    minutes: int | None = None
    with_outputs: bool = False


@dataclass
class SiteBuild:
    """What `build_site` wrote: the HTML folder and its pages."""

    html_dir: Path
    pages: list[SitePage] = field(default_factory=list)

    @property
    def without_outputs(self) -> list[str]:
        """Course notebooks published without outputs (no current executed copy)."""
        return [p.name for p in self.pages if p.kind == "course" and not p.with_outputs]


# --- executed copies -------------------------------------------------------------------


def executed_dir() -> Path:
    """Where executed copies of course notebooks are kept (`<scratch>/executed`)."""
    return scratch_dir("executed")


def source_sha256(path: Path) -> str:
    """The sha256 of a notebook file's bytes: the stamp an executed copy carries."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_executed_copy(nb: nbformat.NotebookNode, source: Path, folder: Path | None = None) -> Path:
    """Write nb (source executed, outputs in its cells) to folder/<name>, stamped with the
    source's sha256. tests/support/executed_notebooks.py calls it after nbval ran a course
    notebook with every cell passing."""
    folder = folder or executed_dir()
    folder.mkdir(parents=True, exist_ok=True)
    copy = nbformat.from_dict(dict(nb))
    copy.metadata.setdefault("mlkit", {})["executed"] = {EXECUTED_STAMP: source_sha256(source)}
    target = folder / Path(source).name
    temporary = target.with_suffix(".ipynb.part")
    nbformat.write(copy, temporary)
    temporary.replace(target)
    return target


def current_executed_copy(source: Path, folder: Path | None = None) -> Any:
    """The executed copy of source whose stamp matches the source as it is now, or None."""
    copy_path = (folder or executed_dir()) / Path(source).name
    if not copy_path.is_file():
        return None
    nb = nbformat.read(copy_path, as_version=4)
    stamp = nb.metadata.get("mlkit", {}).get("executed", {}).get(EXECUTED_STAMP)
    return nb if stamp == source_sha256(source) else None


def execute_notebook(source: Path, folder: Path | None = None) -> Any:
    """Run source top to bottom with nbclient in its own folder, save the executed copy
    and return it. The Docker modules need MLKIT_BASE_IMAGE and an engine."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    with tempfile.TemporaryDirectory(prefix="mlkit-site-kernel-") as sockets:
        # Unix sockets in a private folder, not TCP ports: the kernel answers only here.
        manager = KernelManager(
            kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel")
        )
        client = NotebookClient(
            nb,
            km=manager,
            timeout=CELL_TIMEOUT_S,
            resources={"metadata": {"path": str(Path(source).parent)}},
        )
        try:
            client.execute()
        except Exception as err:  # nbclient's CellExecutionError, a dead kernel, a timeout
            raise SiteError(
                f"{Path(source).name} failed while running for the site: {err}\nRun it in "
                "JupyterLab to see why (`mlkit doctor` checks the machine); the Docker "
                "modules need MLKIT_BASE_IMAGE and an engine."
            ) from err
        finally:  # nbclient stops only a kernel whose manager it made itself
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    save_executed_copy(nb, source, folder)
    return nb


# --- output hygiene ----------------------------------------------------------------------

# A folder pytest (pytest-of-USER/pytest-N) or tempfile (tmpXXXXXXXX) made in the temp dir.
TEMP_FOLDER = r"/(?:pytest-of-[^/\s'\"]+(?:/pytest-\d+)?|tmp[A-Za-z0-9_]{6,})"
TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
)
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


@dataclass(frozen=True)
class MachineFacts:
    """What is particular to the machine that ran a notebook, rewritten before publishing."""

    project: str
    scratch: str
    home: str
    host: str
    tmp: str

    @classmethod
    def here(cls) -> MachineFacts:
        """This machine's facts."""
        return cls(
            project=str(repo_root()),
            scratch=str(scratch_dir()),
            home=str(Path.home()),
            host=socket.gethostname(),
            tmp=tempfile.gettempdir(),
        )

    def rewrite(self, text: str) -> str:
        """text with this machine's paths, temporary folders, host name and date-times
        replaced by placeholders."""
        for path, placeholder in ((self.scratch, "<scratch>"), (self.project, "<project>")):
            if len(path) > 1:
                text = text.replace(path, placeholder)
        text = re.sub(re.escape(self.tmp) + TEMP_FOLDER, "<tmp>", text)
        if len(self.home) > 1:
            text = re.sub(re.escape(self.home) + r"(?=/|\b|$)", "~", text)
        if len(self.host) >= 4:
            text = re.sub(r"(?<![\w.-])" + re.escape(self.host) + r"(?![\w-])", "<host>", text)
        return TIMESTAMP.sub("<timestamp>", text)


def _output_texts(output: Any) -> Iterable[tuple[Any, str]]:
    """(container, key) of every text an output holds."""
    if output.get("output_type") == "stream":
        yield output, "text"
    elif output.get("output_type") == "error":
        yield output, "evalue"
        for i in range(len(output.get("traceback", []))):
            yield output["traceback"], i  # type: ignore[misc]
    else:
        data = output.get("data", {})
        for mime in list(data):
            if mime.startswith("text/") or mime in ("image/svg+xml", "application/json"):
                yield data, mime


def publishable_outputs(nb: Any, name: str, facts: MachineFacts | None = None) -> Any:
    """A copy of nb fit to publish: every output text rewritten by `MachineFacts.rewrite`,
    execution timings dropped; SiteError naming the cell if an output holds a private key."""
    facts = facts or MachineFacts.here()
    nb = nbformat.from_dict(dict(nb))
    nb.metadata.get("mlkit", {}).pop("executed", None)
    code_cell = -1
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        code_cell += 1
        for output in cell.get("outputs", []):
            for container, key in _output_texts(output):
                value = container[key]
                text = "".join(value) if isinstance(value, list) else value
                if not isinstance(text, str):
                    continue
                if PRIVATE_KEY.search(text):
                    raise SiteError(
                        f"{name}, code cell {code_cell}: an output holds a private key; the "
                        "site does not publish it. Print the key's fingerprint instead."
                    )
                container[key] = facts.rewrite(text)
    return nb


def without_outputs(nb: Any) -> Any:
    """A copy of nb with every code cell's outputs and execution count removed."""
    nb = nbformat.from_dict(dict(nb))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    return nb


def released_lab(nb: Any, name: str) -> Any:
    """A lab as learners get it, without outputs; SiteError if it holds a solution or
    hidden-test region (a lab is written by `mlkit assign`, never copied from solutions/)."""
    for cell in nb.cells:
        for markers in (SOLUTION, HIDDEN_TESTS):
            if any(line.strip() == markers.begin for line in cell.source.splitlines()):
                raise SiteError(
                    f"{name}: holds a '{markers.begin}' region; the site publishes labs as "
                    "released. Run `mlkit assign` and build from labs/."
                )
    return without_outputs(nb)


# --- pages -------------------------------------------------------------------------------


def notebook_title(nb: Any, name: str) -> str:
    """The first markdown heading of nb (`# 02 · Serving with BentoML`)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise SiteError(f"{name}: no '# title' heading in a markdown cell; every page needs one")


def linked_docs(guide: Path) -> list[Path]:
    """guide and every markdown file it links to by a relative path, transitively."""
    found: list[Path] = []
    todo = [guide.resolve()]
    while todo:
        page = todo.pop(0)
        if page in found:
            continue
        if not page.is_file():
            raise SiteError(f"{guide.name} links to {page}, which does not exist")
        found.append(page)
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                todo.append((page.parent / target).resolve())
    return found


CONF_PY = """\
project = "mlkit: ML deployment, hands on"
extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_title = "mlkit course"
html_theme_options = {"show_toc_level": 2, "use_download_button": False,
                      "use_fullscreen_button": False}
# The theme logs a console error for an empty mode: follow the reader's system setting.
html_context = {"default_mode": "auto"}
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_merge_streams = True
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "dollarmath"]
# Cell magics (%%writefile a Dockerfile) are not Python: Pygments falls back to plain text.
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]
html_static_path = ["_static"]
mathjax_path = "mathjax/tex-chtml.js"
exclude_patterns = ["_build"]
"""


# The browser asks every site for an icon; a 404 there is a console error.
FAVICON_SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">\
<rect width="16" height="16" rx="3" fill="#2b5d8a"/>\
<path d="M3 12V4l5 5 5-5v8" fill="none" stroke="#fff" stroke-width="2"/></svg>
"""


def _minutes(nb: Any, name: str) -> int | None:
    try:
        return time_estimate(nb, name).total_min
    except OutlineError:
        return None


def _min(minutes: int | None) -> str:
    return "—" if minutes is None else f"{minutes} min"


def _index(course: list[SitePage], labs: list[SitePage], guide: list[SitePage]) -> str:
    lab_by_module = {page.name[:2]: page for page in labs}
    rows = []
    for page in course:
        lab = lab_by_module.get(page.name[:2])
        lab_cell = f"[{lab.title}](<{lab.docname}>) · {_min(lab.minutes)}" if lab else "—"
        rows.append(f"| [{page.title}](<{page.docname}>) | {_min(page.minutes)} | {lab_cell} |")
    parts = [
        "# mlkit: take a scikit-learn model to production",
        "",
        "One model from a notebook to a load-tested, monitored, secured container, on your "
        "own machine. Each module has a course notebook (shown here with its outputs) and "
        "a lab (as learners get it: the answers are theirs to write). Each page opens with "
        "its learning objectives, prerequisites and a measured time estimate.",
        "",
        "| module | time | lab |",
        "|---|---|---|",
        *rows,
        "",
    ]
    parts += ["## For instructors", ""]
    parts += [f"- [{page.title}](<{page.docname}>)" for page in guide] + [""]
    for caption, pages in (("Course", course), ("Labs", labs), ("Instructors", guide)):
        parts += ["```{toctree}", f":caption: {caption}", ":maxdepth: 1", ":hidden:", ""]
        parts += [page.docname for page in pages] + ["```", ""]
    return "\n".join(parts)


MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "a11y", "sre", "ui")


def copy_mathjax(static: Path) -> None:
    """Copy MathJax (npm's `mathjax`, pinned in package.json, installed by `npm ci`) into
    static/mathjax: Sphinx's default loads it from a CDN, and the site loads nothing from
    other hosts."""
    es5 = repo_root() / "node_modules" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise SiteError(
            f"MathJax is not installed ({es5} has no tex-chtml.js); the site renders the "
            "course's formulas with it. Run `npm ci` in the project folder (`make site` does)."
        )
    for part in MATHJAX_PARTS:
        source, target = es5 / part, static / "mathjax" / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)


def write_sources(
    src: Path,
    course_dir: Path,
    labs_dir: Path,
    guide: Path,
    executed: Path | None = None,
    execute: bool = False,
    facts: MachineFacts | None = None,
) -> list[SitePage]:
    """Write the Sphinx project (conf.py, index.md, course/, labs/, instructors/) into src."""
    if src.exists():
        shutil.rmtree(src)
    for part in ("course", "labs", "instructors"):
        (src / part).mkdir(parents=True)
    solutions = {(repo_root() / "solutions").resolve(), solutions_dir().resolve()}
    if labs_dir.resolve() in solutions:
        raise SiteError(f"labs_dir is {labs_dir}: the site publishes labs/, never solutions/")
    course: list[SitePage] = []
    for source in sorted(course_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = current_executed_copy(source, executed)
        if nb is None and execute:
            nb = execute_notebook(source, executed)
        with_outputs = nb is not None
        nb = (
            publishable_outputs(nb, source.name, facts)
            if with_outputs
            else without_outputs(nbformat.read(source, as_version=4))
        )
        nbformat.write(nb, src / "course" / source.name)
        course.append(
            SitePage(
                "course",
                source.name,
                notebook_title(nb, source.name),
                f"course/{source.stem}",
                _minutes(nb, source.name),
                with_outputs,
            )
        )
    labs: list[SitePage] = []
    for source in sorted(labs_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = released_lab(nbformat.read(source, as_version=4), source.name)
        nbformat.write(nb, src / "labs" / source.name)
        title = notebook_title(nb, source.name)
        title = title if title.startswith("Lab") else f"Lab {title}"
        labs.append(
            SitePage("lab", source.name, title, f"labs/{source.stem}", _minutes(nb, source.name))
        )
    guides: list[SitePage] = []
    for page in linked_docs(guide):
        text = page.read_text()
        shutil.copyfile(page, src / "instructors" / page.name)
        heading = next((line[2:] for line in text.splitlines() if line.startswith("# ")), None)
        guides.append(
            SitePage("guide", page.name, heading or page.stem, f"instructors/{page.stem}")
        )
    if not course:
        raise SiteError(f"no course notebooks (NN_topic.ipynb) in {course_dir}")
    (src / "index.md").write_text(_index(course, labs, guides))
    (src / "conf.py").write_text(CONF_PY)
    copy_mathjax(src / "_static")
    (src / "_static" / "favicon.svg").write_text(FAVICON_SVG)
    return course + labs + guides


def run_sphinx(src: Path, html_dir: Path) -> None:
    """Build src into html_dir with Sphinx; a warning fails the build (a broken reference,
    a missing page), with Sphinx's own words in the SiteError."""
    if html_dir.exists():
        shutil.rmtree(html_dir)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going"]
    command += ["-d", str(src.parent / "doctrees"), str(src), str(html_dir)]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=SPHINX_TIMEOUT_S, env=env, check=False
    )
    if done.returncode != 0:
        raise SiteError(
            f"Sphinx could not build the site (exit {done.returncode}):\n"
            + (done.stderr or done.stdout)[-4000:]
        )


class _Links(html.parser.HTMLParser):
    """The links (href, src) and element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)
            if key in ("href", "src") and value:
                self.links.append((tag, value))


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return parser


def site_pages(html_dir: Path) -> list[Path]:
    """The built site's HTML pages (not the theme's templates under _static/)."""
    pages = html_dir.rglob("*.html")
    return sorted(page for page in pages if "_static" not in page.relative_to(html_dir).parts)


def broken_links(html_dir: Path) -> list[str]:
    """Every link of the built site that does not resolve, as 'page: link (why)': a
    relative link to a missing file or a missing #anchor, and any script, style sheet or
    image loaded from another host (the site must work offline)."""
    pages = {page: _parse(page) for page in site_pages(html_dir)}
    problems = []
    for page, parsed in pages.items():
        where = page.relative_to(html_dir)
        for tag, link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https") or link.startswith("//"):
                if tag in ("script", "link", "img", "iframe"):
                    problems.append(f"{where}: {link} (loads from another host)")
                continue
            if parts.scheme or link == "#":
                continue  # mailto:, data:, javascript:, a bare '#'
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{where}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where}: {link} (no such anchor)")
    return problems


def build_site(
    out: Path | None = None,
    course_dir: Path | None = None,
    labs_dir: Path | None = None,
    guide: Path | None = None,
    executed: Path | None = None,
    execute: bool = False,
) -> SiteBuild:
    """Build the course site into out/html (default `<scratch>/site`) and check its links.

    Course notebooks come with the outputs of a current executed copy (or, with execute,
    of a run made now), labs as released, and the instructor guide with the pages it links
    to. SiteError if a page would publish what it must not, Sphinx warns, or a link breaks.
    """
    root = repo_root()
    out = out or scratch_dir("site")
    pages = write_sources(
        out / "src",
        course_dir or root / "course",
        labs_dir or root / "labs",
        guide or root / "docs" / "instructor-guide.md",
        executed,
        execute,
    )
    html_dir = out / "html"
    run_sphinx(out / "src", html_dir)
    broken = broken_links(html_dir)
    if broken:
        raise SiteError("the built site has broken links:\n" + "\n".join(broken[:40]))
    return SiteBuild(html_dir, pages)
