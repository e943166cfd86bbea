"""Process, port, log and container plumbing, written once for the whole kit.

Private to mlkit: the library (serving, containers, loadtest), the lesson props and the
grader build on it; notebooks never import it. It imports nothing from mlkit but
`mlkit.errors` and `mlkit.settings`.

- `net`: loopback ports that nothing else takes, readiness polling, who owns a port;
- `process`: a command in its own session with its output in a log file, stopped with
  everything it started;
- `logs`: the end of a log file, without terminal colour codes;
- `docker`: the `docker` command line, and whether an engine answers.
"""
