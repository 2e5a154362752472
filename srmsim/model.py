"""The trust as a Mesa model: school agents, a central pool agent, students as numpy columns.

Step order, once per school week (``TrustModel.PLAN`` lists it; ``step`` runs it):

1. ``latents``      engagement and wellbeing move (persistence + shock + action effects)
2. ``observe``      sessions attended, incidents, LMS logins, assignments; attainment and reading
                    grow; withdrawal hazard for the configured year groups
3. ``record``       run/year/term totals and the rolling windows the risk rules read
4. ``tests``        reading test at week 0 and each term's end; assessments and pulse at term end
5. ``policy``       the pool's refit at term ends (first, so the week's rules read the new
                    fit), risk rules on their cadence, workflow reviews and escalation, capacity
                    allocation (school agents' staff, then the pool agent's, or the other way
                    round, as the staff mode says), action effects for next week (only when the
                    scenario has a ``policy``)
   ``requests``     request streams (``srmsim.admin``) advance a week in continuous time, with
                    what the student cases left of the pool's staff (only with ``requests``)
6. ``report``       per-school weekly figures and the per-student history sample
7. ``year_end``     after week 38 (the 39th): exams and leavers, year groups move up, the new intake arrives
"""

from __future__ import annotations

import gc
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import mesa
import numpy as np
import pandas as pd

from srmsim import calendar, dynamics
from srmsim.argtypes import MAX_SEED
from srmsim.blocks import MIN_ROWS_PER_THREAD, BlockRunner
from srmsim.errors import DataError, SrmsimError
from srmsim.memory import (
    POLICY_EVENTS_ADVICE,
    REQUEST_EVENTS_ADVICE,
    check_events_fit,
    check_run_fits,
)
from srmsim.population import SchoolProfiles, cohort_layout, generate_schools, generate_students
from srmsim.rng import CRN
from srmsim.scenario import Scenario
from srmsim.students import ENROLLED, STATUS_NAMES, StudentTable, in_year_groups
from srmsim.week_processes import WeekHelpers, processes_available

if TYPE_CHECKING:
    from srmsim.results import RunResult, StudentsFile

HISTORY_AUTO_LIMIT = 20_000
_MESA_KEEPS_MODELS = tuple(int(cast(re.Match[str], re.match(r"\d*", p)).group() or 0)
                           for p in mesa.__version__.split(".")[:2]) < (3, 4)
HISTORY_AUTO_SAMPLE = 1_000

_HISTORY_FIELDS = (
    "school", "year_group", "status", "attended", "possible", "incidents", "logins",
    "assignments_set", "assignments_on_time", "engagement", "wellbeing", "attainment",
    "reading_age", "reading_gap", "assessment", "satisfaction", "eff_absence",
)


def history_share(scenario: Scenario, n: int) -> float:
    """Share of ``n`` students whose weeks ``outputs.history`` keeps."""
    h = scenario.outputs.history
    if h == "all":
        return 1.0
    if h == "none":
        return 0.0
    target = HISTORY_AUTO_SAMPLE if h == "auto" else int(h)
    if h == "auto" and n <= HISTORY_AUTO_LIMIT:
        return 1.0
    return min(1.0, target / max(n, 1))


def _run_size(scenario: Scenario, cohort_size: np.ndarray) -> tuple[int, int, int, int]:
    """(students, history rows, requests, request steps) of a run of ``scenario`` whose schools
    have these cohort sizes: what the memory estimate of :mod:`srmsim.memory` counts."""
    n_weeks = scenario.years * calendar.WEEKS_PER_YEAR
    cohorts = int(np.sum(cohort_size, dtype=np.int64))
    students = cohorts * (len(scenario.trust.year_groups) + scenario.years - 1)
    per_stream = [(r.backlog + _arrivals(r, n_weeks), len(r.steps))
                  for r in scenario.requests.values()]
    return (students, int(history_share(scenario, students) * students * n_weeks),
            int(sum(n for n, _ in per_stream)), int(sum(n * steps for n, steps in per_stream)))


def _arrivals(stream: Any, n_weeks: int) -> float:
    """A request stream's arrivals in a run of ``n_weeks``: at its busiest weekly rate, or its
    arrivals file's days within the run. A file that cannot be read counts none: its own
    error comes from the run, or before a study (``check_arrival_files``)."""
    if stream.arrivals.file is None:
        return stream.arrivals.per_week * (1 + stream.arrivals.seasonality.amplitude) * n_weeks
    from srmsim.admin.desk import arrivals_in_run

    try:
        return arrivals_in_run(Path(stream.arrivals.file), n_weeks)
    except (SrmsimError, OSError):
        return 0


def check_scenario_fits(scenario: Scenario, cohort_size: np.ndarray, what: str) -> int:
    """:func:`~srmsim.memory.check_run_fits` of a run of ``scenario`` whose schools have these
    cohort sizes (``SchoolProfiles.cohort_size``); returns the students the run will hold.
    One estimate for the run itself and for the studies and ``validate``, which check it before
    anything is written (see :func:`run_cohort_sizes`)."""
    students, history, requests, steps = _run_size(scenario, cohort_size)
    check_run_fits(students, history, what, requests, steps)
    return students


def run_cohort_sizes(scenario: Scenario, seed: int | None = None) -> np.ndarray:
    """The cohort size of each school a run of ``scenario`` with ``seed`` builds, drawn as
    :class:`TrustModel` draws them (the schools' profiles only, no student), or read from its
    records (cached by path): what :func:`check_scenario_fits` needs, cheaply."""
    crn = CRN(int(scenario.seed if seed is None else seed))
    if scenario.population.records:
        from srmsim.records import RecordPopulation

        return RecordPopulation.from_path(scenario.population.records).schools(
            scenario, crn).cohort_size
    return generate_schools(scenario, crn).cohort_size


def _size_digest(scenario: Scenario) -> str:
    """What a run's memory estimate reads of ``scenario`` (:func:`_run_size`, the cohort sizes
    of :func:`run_cohort_sizes`), as text: scenarios alike in it need the same memory, so a
    study's many scenarios (every replication's draws of its uncertain parameters) are sized
    once each."""
    import json

    parts = {"trust": scenario.trust.model_dump(mode="json"), "years": scenario.years,
             "records": str(scenario.population.records or ""),
             "history": scenario.outputs.history,
             "requests": {k: r.model_dump(mode="json") for k, r in scenario.requests.items()}}
    return json.dumps(parts, sort_keys=True, default=str)


class StudySize(NamedTuple):
    """What :func:`size_study` found: the local workers to run (``workers``), a note for the
    user or "", and the bytes of the study's largest run (``need``) and what that run is."""

    workers: int
    note: str
    need: int
    what: str


def check_study_fits(scenarios: dict[str, Scenario], seed: int, what: str,
                     workers: int = 1, local: bool = True) -> tuple[int, str]:
    """Refuse a study (an experiment's variants, a trial's runs) before anything is written
    when a run of one of ``scenarios`` cannot fit in memory: each of its runs would fail alike,
    after the results folder had been started. ``what`` names the study's kind of scenario.

    Returns how many of ``workers`` local processes can each hold a run of the largest at once
    (at least 1), and a note when that is fewer: two national runs side by side on a machine
    with room for one would be killed for memory, where one at a time finishes (the results do
    not depend on the number of workers). Not ``local``: ``workers`` as given (a Dask cluster's
    workers are checked by :func:`size_study` with its client)."""
    size = size_study(scenarios, seed, what, workers, local=local)
    return size.workers, size.note


def size_study(scenarios: dict[str, Scenario], seed: int, what: str, workers: int = 1,
               local: bool = True, cluster: Any = None) -> StudySize:
    """:func:`check_study_fits`, and the size of the study's largest run, for a Dask cluster's
    workers (:func:`srmsim.executors.runs_need`).

    With ``cluster`` (a Dask client) the runs are checked against its workers, not this
    machine, whose memory they do not use: a run that no worker's memory limit (or, where a
    worker has none, its machine's memory) can hold is refused, naming it, and the note says
    when the workers' memory holds fewer runs at once than their threads
    (:func:`srmsim.executors.check_cluster_fits`)."""
    from srmsim.executors import check_cluster_fits
    from srmsim.memory import amount, available_bytes, run_bytes, run_holds

    largest, described = 0, ""
    seen: set[str] = set()
    for name, scenario in scenarios.items():
        key = _size_digest(scenario)
        if key in seen:  # the same trust, years, history and requests: the same size
            continue
        seen.add(key)
        try:
            cohorts = run_cohort_sizes(scenario, seed)
        except DataError as err:  # records a study's variant names: say which variant
            if not scenario.population.records:
                raise
            from srmsim.records import records_error

            raise DataError(f"{what} {name!r}: {records_error(err)}") from None
        size = _run_size(scenario, cohorts)
        students, history, requests, steps = size
        if cluster is None:
            check_run_fits(students, history, f"{what} {name!r}", requests, steps)
        need = run_bytes(*size)
        if need > largest:
            largest = need
            described = f"{what} {name!r}, {run_holds(students, history, requests)}"
    if cluster is not None:
        return StudySize(workers, check_cluster_fits(cluster, largest, described), largest,
                         described)
    have = available_bytes() if local and workers > 1 else None
    if have is None or workers * largest <= have:
        return StudySize(workers, "", largest, described)
    fit = max(1, have // largest)
    return StudySize(fit, (f"{workers} workers would each hold a run of about {amount(largest)} "
                           f"(more with a policy's cases), {amount(workers * largest)} at once, "
                           f"and {amount(have)} is available: {fit} at a time instead (the "
                           "same results)"), largest, described)


class SchoolAgent(mesa.Agent):
    """A school: its slice of the trust's student table, its random effects and its staff.

    Its staff allocation runs for all schools in one vectorised pass
    (:meth:`~srmsim.policy.engine.PolicyEngine.allocate_schools`): a Python call per school per
    week cost more than the whole week's dynamics at 100 schools.
    """

    def __init__(self, model: TrustModel, index: int):
        super().__init__(model)
        self.index = index
        self.start = 0
        self.stop = 0

    @property
    def students(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def staff_minutes(self) -> dict[str, float]:
        """Minutes per week by role this school's own staff can give."""
        policy = self.model.policy
        if policy is None:
            return {}
        return dict(zip(policy.policy.roles, policy.school_capacity[self.index].tolist(),
                        strict=True))

    def profile(self) -> pd.DataFrame:
        """This school's students now, one row each (the columns of students.parquet)."""
        from srmsim.results import student_frame

        return student_frame(self.model.students.take(np.arange(self.start, self.stop)))


class PoolAgent(mesa.Agent):
    """The trust's central pool: pseudonymised records from member schools and shared staff."""

    def step(self) -> None:
        if self.model.policy is not None:
            self.model.policy.allocate_pool()


class TrustModel(mesa.Model):
    """A multi-school trust over one or more school years.

    >>> from srmsim.scenario import Scenario
    >>> m = TrustModel(Scenario(trust={"n_schools": 2, "students_per_year_group": 20}), seed=1)
    >>> m.run()
    >>> len(m.results().students) > 0
    True
    """

    PLAN: tuple[str, ...] = ("latents", "observe", "record", "tests", "policy", "requests",
                             "report", "year_end")

    def __init__(self, scenario: Scenario, seed: int | None = None, progress: bool = False,
                 threads: int = 1, block_rows: int | None = None):
        """``threads`` (the cores to use) and ``block_rows`` change how fast a week runs, never
        its results (see :mod:`srmsim.blocks` and :mod:`srmsim.week_processes`). A model on
        several cores holds helper processes: :meth:`release` stops them (so does the end of
        this process)."""
        if seed is not None and not 0 <= int(seed) <= MAX_SEED:
            raise SrmsimError(f"seed must be an integer from 0 to 2**63 - 1 (got {seed})")
        self.seed = int(scenario.seed if seed is None else seed)
        super().__init__(rng=self.seed)
        self.blocks = BlockRunner(threads, block_rows)
        #: the week's blocks when helper processes run them: each core runs one thread
        self._week_blocks = BlockRunner(1, block_rows)
        self._helpers: WeekHelpers | None = None
        # Not ``self.config``: Mesa 3.5 made that a property of its own (its Scenario class).
        self.config = scenario
        self.crn = CRN(self.seed)
        self.progress = progress
        self.week_index = 0  # run week (0-based), the ``step`` of every CRN draw
        self.n_weeks = scenario.years * calendar.WEEKS_PER_YEAR
        self.records = None
        if scenario.population.records:
            from srmsim.records import RecordPopulation

            self.records = RecordPopulation.from_path(scenario.population.records)
            self.school_profiles: SchoolProfiles = self.records.schools(scenario, self.crn)
        else:
            self.school_profiles = generate_schools(scenario, self.crn)
        students = check_scenario_fits(scenario, self.school_profiles.cohort_size,
                                       f"scenario {scenario.name!r}")
        self._start_helpers(students, block_rows)  # their start overlaps the generation
        self.schools = [SchoolAgent(self, i) for i in range(len(self.school_profiles))]
        self.pool = PoolAgent(self)
        school, year = cohort_layout(self.school_profiles, scenario.trust.year_groups)
        uid = np.arange(len(school), dtype=np.int64)
        self.next_uid = len(school)
        self.students = self._new_students(uid, school, year, 0, shared=True).sorted_by_school()
        self._finished: list[StudentTable] = []
        self._weekly: list[dict[str, np.ndarray]] = []
        self._history: list[dict[str, np.ndarray]] = []
        self._history_fraction = history_share(self.config, len(self.students))
        d = scenario.dynamics
        t = self.students
        in_years = in_year_groups(t.year_group, d.withdrawal_years)
        sample = t.engagement()[in_years]
        sample = sample[:: max(1, len(sample) // 20_000)]  # plenty for one intercept
        self._withdrawal_logit = dynamics.withdrawal_logit(
            d.withdrawal_annual, d.withdrawal_engagement, sample)
        self._runtime = 0.0
        self.policy = None
        if scenario.policy is not None:
            from srmsim.policy.engine import PolicyEngine

            self.policy = PolicyEngine(self, scenario.policy)
        self.requests = None
        if scenario.requests:
            from srmsim.admin.desk import RequestDesk

            self.requests = RequestDesk(scenario.requests, self.crn, self.n_weeks)
        #: events the policy and request streams recorded each week, and in all so far: their
        #: tables are made at the end (:meth:`_check_events_fit`)
        self._weekly_events: list[int] = []
        self._events_recorded = 0
        made = [(who, kind, advice) for source, who, kind, advice in (
            (self.policy, "its policy", "case", POLICY_EVENTS_ADVICE),
            (self.requests, "its request streams", "request", REQUEST_EVENTS_ADVICE))
            if source is not None]
        #: what made them, what they are and what to make smaller, for the check's message
        self._events_words = (" and ".join(m[0] for m in made) + " made",
                              " and ".join(m[1] for m in made) + " events",
                              "; or ".join(m[2] for m in made))
        self._layout_changed()

    def _new_students(self, uid: np.ndarray, school: np.ndarray, year: np.ndarray, step: int,
                      shared: bool = False) -> StudentTable:
        """New students; ``shared`` (the first table, already in the table's school order):
        generated on every core straight into the helpers' shared memory when the run has
        helpers and no records (students copying records are generated here, then shared)."""
        traits = (self.records.traits(self.crn, uid, school, self.config.population)
                  if self.records is not None else None)
        if shared and traits is None and self._helpers is not None:
            return self._helpers.generate(self.config, self.crn, self.school_profiles, uid,
                                          school, year, self._week_blocks.blocks(len(uid)))
        return generate_students(self.config, self.crn, self.school_profiles, uid, school, year,
                                 step=step, traits=traits, runner=self.blocks)

    # ----------------------------------------------------------------- calendar
    @property
    def year(self) -> int:
        return self.week_index // calendar.WEEKS_PER_YEAR

    @property
    def week(self) -> int:
        return self.week_index % calendar.WEEKS_PER_YEAR

    @property
    def done(self) -> bool:
        return self.week_index >= self.n_weeks

    # ----------------------------------------------------------------- layout
    def _layout_changed(self) -> None:
        """Recompute school slices and the tracked-history rows after the table changed."""
        t = self.students
        bounds = np.searchsorted(t.school, np.arange(len(self.schools) + 1))
        for agent in self.schools:
            agent.start, agent.stop = int(bounds[agent.index]), int(bounds[agent.index + 1])
        self._school_starts = bounds[:-1]
        self._school_sizes = np.diff(bounds)
        self._obs = dynamics.WeekObservation.empty(len(t))
        if self._helpers is not None:
            self._helpers.share(t, self._obs, self._school_starts, self._school_sizes)
        if self._history_fraction >= 1.0:
            self._tracked = np.arange(len(t))
        elif self._history_fraction <= 0.0:
            self._tracked = np.zeros(0, dtype=np.int64)
        else:
            u = self.crn.uniform("outputs.history", 0, t.uid)
            self._tracked = np.flatnonzero(u < self._history_fraction)
        if self.policy is not None:
            self.policy.layout_changed()

    def _start_helpers(self, students: int, block_rows: int | None) -> None:
        """Helper processes for the week's blocks (:mod:`srmsim.week_processes`), when the run
        has more than one core and enough students to share (else threads, or none)."""
        cores = self.blocks.threads
        smallest = min(MIN_ROWS_PER_THREAD, block_rows or MIN_ROWS_PER_THREAD)
        if cores > 1 and students >= cores * smallest and processes_available():
            try:
                self._helpers = WeekHelpers(cores - 1, self.config.dynamics, self.seed,
                                            students, students * self.n_weeks)
            except OSError as exc:  # no interpreter to start (an embedded Python, say)
                warnings.warn(f"srmsim: helper processes could not start ({exc}); the week's "
                              "blocks run on threads", RuntimeWarning, stacklevel=3)
            else:
                from srmsim import kernels

                # the compiled week loaded now, while the helpers' interpreters start up, not
                # at the first week, where the helpers (which load it during the generation)
                # waited for it: 0.5-1 s less of an England run on two cores (2026-12-03)
                kernels.week_kernel(students, students * self.n_weeks)

    def _week_helpers(self) -> WeekHelpers | None:
        """The helpers, after re-sharing the table if a column was replaced by a new array
        since the last layout (the helpers would not see it)."""
        h = self._helpers
        if h is not None and not h.still_shared(self.students, self._obs):
            h.share(self.students, self._obs, self._school_starts, self._school_sizes)
        return h

    # ----------------------------------------------------------------- the week
    def step(self) -> None:
        if self.done:
            raise SrmsimError("the run is finished: every configured school week has been run")
        t0 = time.perf_counter()
        t, d, crn = self.students, self.config.dynamics, self.crn
        step, week = self.week_index, self.week
        if step == 0:  # the compiled week, if the whole run pays for loading it
            from srmsim import kernels

            kernels.week_kernel(len(t), len(t) * self.n_weeks)
        if week in calendar.TERM_STARTS:
            dynamics.reset_term(t)
        if week == 0:
            t.year_possible[:] = 0
            t.year_attended[:] = 0
            # the term rates are of the latest year: a pupil who withdraws in a later year's
            # autumn must not keep the previous year's spring and summer (empty: no session)
            for term in calendar.TERM_NAMES:
                getattr(t, f"attendance_{term}")[:] = np.nan
        obs, wlogit = self._obs, self._withdrawal_logit
        reading_test = week in calendar.READING_TEST_WEEKS
        term_end = week in calendar.TERM_ENDS

        starts, sizes = self._school_starts, self._school_sizes

        def block(rows: slice) -> tuple[int, np.ndarray]:
            return dynamics.week_block(t, d, crn, step, week, wlogit, obs, starts, sizes,
                                       reading_test, term_end, rows)

        helpers = self._week_helpers()
        if helpers is not None:
            parts = helpers.run(block, self._week_blocks.blocks(len(t)),
                                ("week", step, week, wlogit, reading_test, term_end))
        else:
            parts = self.blocks.map(block, len(t))
        self._week_totals = self._add_block_totals(parts)
        if self.policy is not None:
            self.policy.step(obs)
            if self.policy.mode == "pool_first":
                self.pool.step()
                self.policy.allocate_schools()
            else:
                self.policy.allocate_schools()
                self.pool.step()
            self.policy.apply()
        if self.requests is not None:
            self.requests.advance(step, self._pool_minutes_left())
        self._check_events_fit()
        self._report(obs)
        if week == calendar.WEEKS_PER_YEAR - 1:
            self._year_end()
        if self.week_index + 1 == self.n_weeks and self.policy is not None:
            self.policy.finish()
        self.week_index += 1
        self._runtime += time.perf_counter() - t0

    def _check_events_fit(self) -> None:
        """:func:`~srmsim.memory.check_events_fit` of the policy's case events and the request
        streams' events together: both tables are made at the end, and each checked alone
        against all the memory left passed a run that needed more than there was."""
        sources = [s for s in (self.policy, self.requests) if s is not None]
        if not sources:
            return
        recorded = sum(s.events_recorded for s in sources)
        self._weekly_events.append(recorded - self._events_recorded)
        self._events_recorded = recorded
        check_events_fit(self._weekly_events, self.n_weeks - self.week_index - 1,
                         self.config.name, *self._events_words)

    def _pool_minutes_left(self) -> dict[str, float]:
        """Pool minutes of each role this week's student cases left for request streams."""
        policy = self.config.policy
        left = dict(policy.staff.pool) if policy is not None else {}
        if self.policy is not None:
            left.update(self.policy.pool_minutes_left())
        return left

    def _add_block_totals(self, parts: list[tuple[int, np.ndarray]]) -> np.ndarray:
        sums = np.zeros((len(dynamics.TOTALLED), len(self._school_starts)), dtype=np.int64)
        for first, part in parts:
            sums[:, first:first + part.shape[1]] += part
        return sums

    def _report(self, obs: dynamics.WeekObservation) -> None:
        t = self.students
        starts = self._school_starts
        sums = self._week_totals  # totalled block by block in the week's pass (no (8, N) stack)
        rec = {
            "run_week": np.full(len(starts), self.week_index), "year": np.full(len(starts), self.year),
            "week": np.full(len(starts), self.week), "school": np.arange(len(starts)),
            "enrolled": sums[0], "sessions_possible": sums[1], "sessions_attended": sums[2],
            "incidents": sums[3], "lms_logins": sums[4], "assignments_set": sums[5],
            "assignments_on_time": sums[6], "withdrawals": sums[7],
        }
        if self.policy is not None:
            rec.update(self.policy.weekly_report())
        self._weekly.append(rec)
        if len(self._tracked):
            i = self._tracked
            age = t.age_months[i]
            self._history.append({
                "run_week": np.full(len(i), self.week_index), "year": np.full(len(i), self.year),
                "week": np.full(len(i), self.week), "uid": t.uid[i], "school": t.school[i],
                "year_group": t.year_group[i], "status": t.status[i],
                "attended": obs.attended[i].astype(np.int16),
                "possible": obs.possible[i].astype(np.int16),
                "incidents": obs.incidents[i].astype(np.int16),
                "logins": obs.logins[i].astype(np.int16),
                "assignments_set": obs.set[i].astype(np.int16),
                "assignments_on_time": obs.on_time[i].astype(np.int16),
                "engagement": t.engagement(i), "wellbeing": t.wellbeing(i),
                "attainment": t.attainment[i], "reading_age": t.reading_age[i],
                "reading_gap": t.reading_obs[i] - t.reading_obs_age[i],
                "assessment": t.assessment[i], "satisfaction": t.satisfaction[i],
                "age_months": age, "eff_absence": t.eff_absence[i],
            })

    def _year_end(self) -> None:
        t, sc = self.students, self.config
        dynamics.sit_exams(t, sc.dynamics, self.crn, self.week_index, sc.trust.year_groups[-1])
        if self.policy is not None:
            self.policy.close_leavers()
        if self.year == sc.years - 1:
            return  # the run ends here; nobody moves up
        gone = t.status != ENROLLED
        if gone.any():
            self._finished.append(t.take(gone))
            t = t.take(~gone)
        t.year_group += 1
        n = self.school_profiles.cohort_size
        school = np.repeat(np.arange(len(n), dtype=np.int32), n)
        uid = np.arange(self.next_uid, self.next_uid + len(school), dtype=np.int64)
        self.next_uid += len(school)
        year = np.full(len(school), sc.trust.year_groups[0], dtype=np.int8)
        intake = self._new_students(uid, school, year, self.week_index + 1)
        self.students = t.concat(intake).sorted_by_school()
        self._layout_changed()

    # ----------------------------------------------------------------- running
    def run(self, progress: bool | None = None) -> None:
        """Run every remaining week, with a progress bar for runs longer than a few seconds."""
        show = self.progress if progress is None else progress
        if show:
            from srmsim.progress import progress_bar

            with progress_bar(total=self.n_weeks - self.week_index, unit="week", delay=2.0,
                              desc=self.config.name) as bar:
                while not self.done:
                    self.step()
                    bar.update(1)
        else:
            while not self.done:
                self.step()

    def all_students(self) -> StudentTable:
        """Every student seen in the run: those still here and those who left or withdrew."""
        table = self.students
        for old in self._finished:
            table = old.concat(table)
        return table

    def student(self, uid: int) -> pd.DataFrame:
        """One student's weekly history (a DataFrame, one row per week), when it was recorded."""
        hist = self.history()
        if hist.empty:
            raise SrmsimError("no weekly history was recorded (outputs.history is 'none')")
        rows = hist[hist["uid"] == uid]
        if rows.empty:
            known = self.all_students().uid
            if uid in known:
                raise SrmsimError(
                    f"student {uid} exists but was not in the history sample; set "
                    "outputs.history: all to record every student")
            raise SrmsimError(f"no student with uid {uid} in this run")
        return rows.reset_index(drop=True)

    def history(self) -> pd.DataFrame:
        if not self._history:
            return pd.DataFrame(columns=["run_week", "year", "week", "uid", *_HISTORY_FIELDS, "age_months"])
        keys = self._history[0].keys()
        df = pd.DataFrame({k: np.concatenate([h[k] for h in self._history]) for k in keys})
        df["status"] = pd.Categorical.from_codes(df["status"].astype(np.int8),
                                                 [STATUS_NAMES[i] for i in range(3)])
        return df

    def weekly(self) -> pd.DataFrame:
        if not self._weekly:
            return pd.DataFrame()
        keys = self._weekly[0].keys()
        df = pd.DataFrame({k: np.concatenate([r[k] for r in self._weekly]) for k in keys})
        with np.errstate(invalid="ignore", divide="ignore"):
            df.insert(7, "attendance_rate", df["sessions_attended"] / df["sessions_possible"])
        return df

    def results(self, final: bool = False):
        """The run's tables; ``final=True`` when the model will not step again (the students
        frame then shares the table's columns instead of copying them)."""
        from srmsim.results import RunResult

        return RunResult.from_model(self, final=final)

    def release(self) -> None:
        """Drop this model's agents so a long-lived worker does not keep it alive.

        Mesa before 3.4 kept every model alive through a class-level registry of agent ids
        (``mesa.Agent._ids``); on those versions only, this model's entry is removed too.
        """
        self.remove_all_agents()
        self.blocks.close()
        if self._helpers is not None:
            self._helpers.close()
        if _MESA_KEEPS_MODELS:
            ids = getattr(mesa.Agent, "_ids", None)
            if isinstance(ids, dict):
                ids.pop(self, None)


# A model is freed by the cycle collector (Mesa's agents refer back to it). From this many
# students its tables are worth a full collection at once; below it, the collection's pass over
# every object in the process (~70 ms with pandas and statsmodels loaded, as long as a small run
# itself) would cost more than the memory it returns, and Python's own collector frees them soon.
_COLLECT_FROM = 20_000


def run(
    scenario: Scenario | str | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    on_model: Callable[[TrustModel], None] | None = None,
    threads: int = 1,
):
    """Run a scenario (object, YAML path, or None for the built-in default) and return results.

    ``threads`` only changes the speed (see :mod:`srmsim.blocks`)."""
    from srmsim.scenario import default_scenario, load_scenario

    if scenario is None:
        scenario = default_scenario()
    elif not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if seed is not None and seed != scenario.seed:
        # the saved scenario.yaml must reproduce this run: it carries the seed actually used
        scenario = scenario.with_overrides({"seed": seed}, "the seed given")
    if out is not None:  # before the run, not after it
        from srmsim.records import check_out_of_records

        check_out_of_records(out, [scenario])
    model = TrustModel(scenario, seed=seed, progress=progress, threads=threads)
    model.run()
    if on_model is not None:
        on_model(model)
    if out is None:
        return _finish(model, None)
    from srmsim.results import RunResult, StudentsFile, run_folder

    private = model.records is not None  # a trust built from real records: owner-only
    with run_folder(Path(out), private) as folder:
        # students.parquet is encoded on a thread while the other tables are made and written
        students = StudentsFile.start(RunResult.students_of(model, final=True), folder, private)
        try:
            result = _finish(model, students)
        except BaseException:
            students.wait()
            raise
        result.write_files(folder, students)
    return result


def _finish(model: TrustModel, students: StudentsFile | None) -> RunResult:
    """The finished model's result tables; then the model is released and its memory freed."""
    from srmsim.results import RunResult

    frame = students.frame if students is not None else None
    result = RunResult.from_model(model, final=True, students=frame)
    model.release()
    big = len(model.students) >= _COLLECT_FROM
    del model
    if big:  # the student table goes before the files are written (less peak memory)
        gc.collect()
    return result
