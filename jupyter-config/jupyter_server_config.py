# The kit's Jupyter configuration: `make lab` (and the browser test's start_jupyterlab) put this
# folder on JUPYTER_CONFIG_PATH, after the user's own ~/.jupyter, which still wins.
# labconfig/default_setting_overrides.json next to it holds JupyterLab setting defaults.
c = get_config()  # noqa: F821 (traitlets provides get_config)

# The Lab opens at the project folder, so that course/ and labs/ are both in its file
# browser. Instructor material is left out of the listings: solutions and their hidden
# tests, the test suite, the benchmarks, collected submissions and grading output (and
# the package metadata that `pip install -e` leaves behind).
# Hiding is not protection: a learner's copy of the kit carries none of these folders
# (.gitattributes marks them export-ignore; see "For instructors" in README.md).
# Dot folders (.venv, .scratch, .git) stay hidden as well (allow_hidden is False).
c.ContentsManager.hide_globs.extend(
    ["solutions", "tests", "bench", "submissions", "grading-out", "*.egg-info"]
)
c.ContentsManager.allow_hidden = False

# Kernels run on 127.0.0.1 over TCP. The python3 kernelspec declares CurveZMQ support,
# so the kernel manager hands each kernel encryption keys: its traffic is encrypted, and
# ipykernel does not warn "Kernel is running over TCP without encryption" on every start.
c.KernelManager.transport_encryption = "auto"

# Nothing reaches the internet: no news feed, no update check, no extension catalogue.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
