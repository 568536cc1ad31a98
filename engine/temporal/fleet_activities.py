"""The activity a fleet's rollback needs beyond a run's: a finished cluster run's step results, read through
that run's `results` query (the worker replays the finished run to answer it), so its compensations can run."""
from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from .fleet_workflow import RUN_STATE


class FleetActivities:
    """Activities of the fleet workflows, beside a worker's run activities (activities.py)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=RUN_STATE)
    async def run_state(self, run_id: str) -> dict:
        """{playbook, started, results, ...} of the cluster run `run_id`, as its workflow holds them."""
        return await self._client.get_workflow_handle(run_id).query("results")

    def all(self) -> list:
        return [self.run_state]
