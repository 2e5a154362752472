"""Attack review of "same seed, same results whatever the workers" and "a stopped job resumes
to the same result" for `srmsim optimise` (and the other commands beyond `experiment`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("optuna")

from srmsim.explore import optimise as optimise_module  # noqa: E402
from srmsim.explore.optimise import optimisation_from_dict, search, trials_table  # noqa: E402

TINY = {"name": "tiny", "trust": {"n_schools": 2, "students_per_year_group": 20, "size_cv": 0.0},
        "outputs": {"history": "none"},
        "policy": {"parameters": {"attendance_threshold": 0.9},
                   "rules": {"low_attendance": {"when": "attendance_rate < attendance_threshold",
                                                "cadence": "half_termly"}},
                   "workflows": {"attendance": {"trigger": "low_attendance", "steps": [
                       {"action": "parent_text", "weeks": 3, "goal": "attendance(3) >= 0.9"},
                       {"action": "parent_meeting", "weeks": 3}]}},
                   "staff": {"school": {"pastoral": 300, "attendance_officer": 300}}}}


def _optimisation(tmp: Path, sampler: str):
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "tiny_opt", "scenario": "tiny.yaml", "replications": 1, "seed": 5,
            "levers": {"policy.parameters.attendance_threshold": {"low": 0.8, "high": 0.98},
                       "policy.workflows.attendance.cooldown_weeks":
                           {"low": 2, "high": 12, "integer": True}},
            "budget": {"total": 600, "roles": {"pastoral": "policy.staff.school.pastoral",
                                               "attendance_officer":
                                                   "policy.staff.school.attendance_officer"}},
            "objectives": {"attendance": "maximise", "staff_hours": "minimise"}
            if sampler == "nsga2" else {"attendance": "maximise"},
            "search": {"sampler": sampler, "trials": 9, "batch": 3}}
    return optimisation_from_dict(data, "tiny_opt.yaml", tmp)


class Stop(KeyboardInterrupt):
    """Ctrl-C (or a kill) part way through asking Optuna for a batch's candidates."""


@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
@pytest.mark.parametrize("stop_at", [5, 6])  # 5: a candidate asked for without its levers
def test_a_search_stopped_while_asking_for_a_batch_resumes_to_the_same_candidates(
        tmp_path, monkeypatch, sampler, stop_at):
    """Stopped while the candidates of the second batch were being asked for (one asked with
    its levers, the next asked for without them, the last not at all), the resumed search used
    to ask for the missing ones with a fresh sampler: other candidates than an uninterrupted
    search's, and every later batch different."""
    opt = _optimisation(tmp_path, sampler)
    whole = trials_table(opt, search(opt, tmp_path / "whole", progress=False))

    calls = {"n": 0}
    suggest = type(opt).suggest

    def stopping(self, trial):
        calls["n"] += 1
        if calls["n"] == stop_at:
            if stop_at == 5:  # inside the candidate: its first lever drawn, the others not
                trial.suggest_float("policy.parameters.attendance_threshold", 0.8, 0.98)
            raise Stop
        suggest(self, trial)

    with monkeypatch.context() as m:
        m.setattr(type(opt), "suggest", stopping)
        with pytest.raises(Stop):
            search(opt, tmp_path / "stopped", progress=False)
    study = optimise_module.search(opt, tmp_path / "stopped", resume=True, progress=False)
    resumed = trials_table(opt, study)
    assert len(resumed) == len(whole) == 9
    assert resumed.equals(whole), (whole.compare(resumed) if whole.shape == resumed.shape
                                   else resumed)
