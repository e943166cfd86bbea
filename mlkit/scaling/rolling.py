"""A rolling update behind the balancer: one replica at a time, drained before it stops.

Introduced in module 05. Each server line of the balancer is a slot. `rolling_update`
moves every slot, one after the other, from the replica it points at to a new replica
started with the new version's environment (`ReplicaService.env` of the new version):

1. start the new replica beside the old one; it is used only once its own `/readyz`
   answers 200. A new version that never gets ready (its model does not load, its
   readiness check fails) stops the rollout here: the old replica was not touched and
   goes on serving, and so do the slots not yet moved;
2. drain the slot in the balancer (`set server ... state drain`: no new requests go
   there) and wait until the requests it has in flight are answered;
3. point the slot at the new replica (`set server ... addr 127.0.0.1 port P`) and set it
   `ready`: new requests go to the new version;
4. stop the old replica (SIGTERM: it finishes what it has, then exits).

At every moment each slot has a ready replica behind it, so a load through the balancer
sees no failed request. Run it under load with
`run_under_faults(..., during=lambda note: rolling_update(..., note=note))`, with a
locustfile written by `write_locustfile(folder, by_version=True)`, and
`versions_per_second` shows the switch second by second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from mlkit.errors import MlkitError
from mlkit.loadtest import LoadTestResult
from mlkit.scaling.balancer import Balancer
from mlkit.scaling.faults import Note
from mlkit.scaling.replicas import Replica, ReplicaSet

__all__ = ["Rollout", "rolling_update", "versions_per_second"]


@dataclass
class Rollout:
    """What `rolling_update` did.

    `completed`: every slot moved; otherwise `reason` says why it stopped. `moved`: slot
    -> the new replica now behind it; `steps`: each step with its time (`t`, seconds since
    the epoch), `action` and `slot`.
    """

    version: str
    completed: bool = False
    reason: str = ""
    moved: dict[str, str] = field(default_factory=dict)
    steps: list[dict[str, object]] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The steps as a table, with `t_s` counted from the first step."""
        frame = pd.DataFrame(self.steps, columns=["t", "action", "slot", "detail"])
        if not frame.empty:
            frame.insert(0, "t_s", (frame["t"] - frame["t"].iloc[0]).round(2))
        return frame.drop(columns="t")


def rolling_update(
    balancer: Balancer,
    replicas: ReplicaSet,
    env: Mapping[str, str],
    *,
    version: str | None = None,
    drain_timeout: float = 10.0,
    note: Note | None = None,
) -> Rollout:
    """Move every slot of `balancer` to a new replica of `replicas` started with `env` on
    top of the set's environment, one slot at a time (module 05).

    `version` names the new version in the steps (default: `env["CHURN_MODEL_VERSION"]`).
    `drain_timeout`: seconds to wait for a drained slot's requests in flight. `note`
    receives each step as (action, slot), for a timeline under load. A slot whose replica
    was killed gets the new version without a drain. Once every slot has moved, `env` is
    the set's own: replicas started later (by an autoscaler) run the new version too.
    """
    if not isinstance(balancer, Balancer):
        raise TypeError(f"balancer: got {type(balancer).__name__}, expected a started Balancer.")
    if not isinstance(replicas, ReplicaSet):
        raise TypeError(f"replicas: got {type(replicas).__name__}, expected a ReplicaSet.")
    if not isinstance(env, Mapping):
        raise TypeError(
            f"env: got {type(env).__name__}, expected the new version's environment, e.g. "
            "write_replica_service(folder, model, version='v2').env."
        )
    if not (isinstance(drain_timeout, int | float) and drain_timeout > 0):
        raise ValueError(f"drain_timeout: got {drain_timeout!r}, expected seconds > 0.")
    rollout = Rollout(version or str(env.get("CHURN_MODEL_VERSION", "new")))

    def step(action: str, slot: str, detail: str = "") -> None:
        rollout.steps.append({"t": time.time(), "action": action, "slot": slot, "detail": detail})
        if note is not None:
            note(action, slot)

    for server in balancer.servers():
        slot = server.name
        old = _live_at(replicas, server.port)
        try:
            new = replicas.add(env)
        except (MlkitError, TimeoutError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            rollout.reason = f"{rollout.version} did not get ready on {slot}: {first}"
            step("stopped: new version not ready", slot, first)
            return rollout
        step(f"started {rollout.version}", slot, new.name)
        if old is not None:
            balancer.set_state(slot, "drain")
            step("drain", slot, old.name)
            balancer.wait_idle(slot, drain_timeout)
        balancer.set_address(slot, new.port)
        balancer.set_state(slot, "ready")
        step(f"switched to {rollout.version}", slot, new.name)
        if old is not None:
            replicas.stop_one(old.name)
            step("stopped old", slot, old.name)
        rollout.moved[slot] = new.name
    # The new version is now the set's: replicas started later (an autoscaler's) run it.
    replicas.env.update(env)
    rollout.completed = True
    return rollout


def _live_at(replicas: ReplicaSet, port: int) -> Replica | None:
    """The live replica behind a slot, or None when it is gone (killed): the rollout then
    puts the new version in its place without draining anything."""
    try:
        return replicas.by_port(port)
    except ValueError:
        return None


def versions_per_second(result: LoadTestResult) -> pd.DataFrame:
    """Requests per second answered by each model version, from the history of a Locust
    run whose locustfile names requests `/predict <version>` (write_locustfile(...,
    by_version=True)): index `second` from the run's first row, one column per version.
    The seconds before the first answer and after the last one are left out."""
    history = result.history
    if history.empty:
        return pd.DataFrame()
    named = history[history["Name"].str.startswith("/predict ")].copy()
    if named.empty:
        return pd.DataFrame()
    named["version"] = named["Name"].str.removeprefix("/predict ")
    named["second"] = (named["Timestamp"] - history["Timestamp"].iloc[0]).astype(int)
    table = named.pivot_table(
        index="second", columns="version", values="Requests/s", aggfunc="last"
    ).fillna(0.0)
    table.columns.name = None
    busy = table.index[table.sum(axis=1) > 0]
    if busy.empty:
        return table.iloc[0:0]
    return table.loc[busy[0] : busy[-1]]
