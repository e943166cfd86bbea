"""DockerSpawner for a class hub on one machine: one container per learner.

Each learner's server runs in its own container of the learner image
(`deploy/learner-image/Dockerfile`, built by `hub/image.py`) as the unprivileged user
`learner`, with its own volume as home, memory and CPU caps, every capability dropped
and no way to gain privileges. No other learner's volume and no Docker socket is ever
mounted. The Docker engine here has no bridge network, so the container shares the host's
network and its server listens on 127.0.0.1 on a port of its own, chosen by the hub; a
learner cannot use another's server because the hub's per-server OAuth grants the
`access:servers` scope of a server to its owner only (and admins).

The hub imports this module (`c.JupyterHub.spawner_class`); it runs in the hub process.
"""

from __future__ import annotations

from typing import Any

from dockerspawner import DockerSpawner

from mlkit._runtime.net import LOCALHOST, free_port


class LearnerSpawner(DockerSpawner):
    """A learner's server in a container on the host network, on 127.0.0.1:<own port>."""

    async def start(self) -> Any:
        """Pick this server's port on 127.0.0.1, then create and start its container."""
        self.port = free_port()  # the hub's free_port never hands the same port out twice
        return await super().start()

    async def get_ip_and_port(self) -> tuple[str, int]:
        """Where the proxy reaches the server: the host's loopback, the port from start()."""
        return LOCALHOST, int(self.port)
