"""What changed in a playbook's plan since a run, judged against the steps that ran (for `resume`)."""
from __future__ import annotations

from .runstate import RunState


def plan_changes(old: dict[str, dict], new: dict[str, dict], state: RunState) -> tuple[list[str], list[str]]:
    """(breaking, notes): what changed in the plan since the run, judged against the steps that ran."""
    breaking: list[str] = []
    notes: list[str] = []
    succeeded = {k for k, s in state.steps.items() if s.status == "succeeded"}
    for key in state.start_order:
        if key not in new:
            breaking.append(f"step '{key}' ran but is no longer in the playbook (so it could not be rolled back)")
            continue
        if key in succeeded and old.get(key, {}).get("fp") != new[key]["fp"]:
            breaking.append(f"step '{key}' succeeded, but its `uses`/`with` changed since")
        elif key not in succeeded and old.get(key, {}).get("fp") != new[key]["fp"]:
            notes.append(f"step '{key}' changed (it did not succeed, so it runs again as now written)")
        if old.get(key, {}).get("rollback_fp") != new[key]["rollback_fp"]:
            notes.append(f"step '{key}': its rollback changed; the new one is used")
    for key in sorted(succeeded & set(new)):
        late = [n for n in new[key]["needs"]
                if n not in succeeded and (n not in state.steps or state.steps[n].status != "skipped")]
        if late:
            breaking.append(f"step '{key}' already ran, but now needs '{late[0]}', which has not")
    for key in sorted(set(new) - set(old)):
        notes.append(f"step '{key}' is new")
    for key in sorted(set(old) - set(new) - set(state.start_order)):
        notes.append(f"step '{key}' (never started) was removed")
    return breaking, notes
