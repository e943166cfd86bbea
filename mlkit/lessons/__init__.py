"""Props that one lesson or lab needs, one module each; the library never imports them.

- `service_calls` (labs 02 and 09): serve a learner's service and call it step by step;
- `churn_project` (module 03 and its lab, module 08, lab 09): the churn service as a
  project to build and run in a container;
- `flaky_server` (module 05): a local HTTP server that fails on purpose, to try retries on;
- `security_lab` (lab 08): the attacks on a learner's service, the probes of signed loading;
- `capstone` (module 09): the delivery-time project, its baseline and container check.

A lesson prop may import the library (`mlkit.serving`, `mlkit.containers`, ...); the
library, the runtime and the grader never import a lesson prop (the import contracts in
pyproject.toml, checked by `lint-imports` in `make lint`).
"""
