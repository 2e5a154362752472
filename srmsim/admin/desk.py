"""Request streams in continuous time: a SimPy discrete-event simulation, advanced week by week.

Why continuous time: administrative waits of a few days matter (a certification that takes five
days against one that takes five weeks), and a weekly step cannot resolve them. Why week by week:
so that a stream can share staff with the student policies, whose allocation is weekly.

Time is in calendar days (7 a week). Staff of a role are SimPy resources (one per person, first
come first served). A person works ``hours_per_week`` of the week's 168 hours, modelled as working
continuously at that fraction of full speed (a fluid approximation of working hours), so a task of
``m`` staff minutes takes ``m / speed`` calendar minutes; an exponential task stays exponential,
which is what makes the M/M/c checks exact. With ``from_pool``, the speed each week is what the
trust pool's minutes of the role leave after the student cases, shared by every person of every
stream drawing on that role (each stream's staff get their share, not the whole pool's).

Every random draw comes from :class:`srmsim.rng.CRN`, keyed by the stream, the step, the attempt
and the request's number (requests are numbered in order of arrival, and arrivals never depend on
the policy), so paper and automated variants of the same seed see the same requests and the same
relative task sizes: paired comparisons cancel the shared noise.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import simpy
from scipy import special, stats

from srmsim.admin.config import DAYS_PER_WEEK, RequestStep, RequestStream
from srmsim.admin.events import EventLog
from srmsim.errors import SrmsimError
from srmsim.inputs import input_file_problem
from srmsim.rng import CRN

#: attempts of one step drawn in advance; a step reworked more often than this stops reworking
MAX_ATTEMPTS = 12
WEEKS_PER_CYCLE = 52  # seasonality is a calendar-year cycle
MINUTES_PER_DAY = 24 * 60
_MAX_ARRIVALS_FILE_BYTES = 100 * 2**20


def arrivals_in_run(path: Path, n_weeks: int) -> int:
    """How many of the arrivals file's days fall within a run of ``n_weeks`` (the file is
    sorted: :func:`read_arrival_days`), for the memory check before a run or a study: it
    counted ``per_week`` arrivals only, so `srmsim validate` called a file of millions of days
    fine and a study started, each run then refused in turn."""
    stat = path.stat()
    return _arrivals_in_run(str(path), stat.st_mtime_ns, stat.st_size, n_weeks)


@functools.lru_cache(maxsize=8)
def _arrivals_in_run(path: str, mtime_ns: int, size: int, n_weeks: int) -> int:
    """(cached by the file's path, time and size: a study checks each variant)"""
    return int(np.searchsorted(read_arrival_days(Path(path)), n_weeks * DAYS_PER_WEEK))


def read_arrival_days(path: Path) -> np.ndarray:
    """Arrival days (since the run's start) from a CSV with a ``day`` column, validated."""
    problem = input_file_problem(path)
    if problem:
        raise SrmsimError(f"{path}: {problem} (the arrivals file)")
    if path.stat().st_size > _MAX_ARRIVALS_FILE_BYTES:
        raise SrmsimError(f"{path}: arrivals file larger than 100 MB")
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    # pyarrow, not pandas: pandas read "True" as day 1, took the first of two 'day' columns,
    # and made the first field of a row with one field too many ("1,5", a decimal comma) the
    # index, so that day was 5; pyarrow refuses a ragged row and a value that is no number
    try:
        header = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, nrows=1)
        names = [str(h) for h in header.iloc[0]]
        if names.count("day") != 1:
            raise SrmsimError(f"{path}: needs one 'day' column (header: {str(names[:10])[:120]})")
        # blank lines read as rows (of no day): row numbers are then the file's lines, and a
        # blank line amid the arrivals is named, not dropped (a request whose day was lost)
        column = pa_csv.read_csv(
            path, parse_options=pa_csv.ParseOptions(ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                include_columns=["day"], column_types={"day": pa.float64()},
                null_values=[""])  # 'NA', 'null' or 'nan': a value named, not a blank
        ).column("day")
        days, empty = column.to_numpy(), column.is_null().to_numpy(zero_copy_only=False)
    except pd.errors.EmptyDataError:  # pandas' "No columns to parse from file"
        raise SrmsimError(f"{path}: the arrivals file is empty: it needs a 'day' column"
                          ) from None
    except (ValueError, pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError) as err:
        if "conversion error" in str(err):
            _name_the_row(path)
        raise SrmsimError(f"{path}: needs a numeric 'day' column ({str(err).strip()[:120]})"
                          ) from None
    except OSError as err:  # a regular file that cannot be read (/proc/self/mem, permissions)
        raise SrmsimError(f"{path}: cannot read the arrivals file: {err.strerror or err}"
                          ) from None
    blank = _blank_lines_at_end(path)
    trailing = int(np.argmin(empty[::-1])) if not empty.all() else len(days)
    days = days[:len(days) - min(blank, trailing)]
    if not len(days):  # a failed export, not "no request arrives" (which needs no file)
        raise SrmsimError(f"{path}: has a 'day' column but no rows: no arrivals (with no "
                          "arrivals.file and no per_week, none arrive)")
    bad = np.flatnonzero(~np.isfinite(days) | (days < 0))
    if len(bad):
        got = "nothing: a blank line or an empty day" if empty[bad[0]] else days[bad[0]]
        raise SrmsimError(f"{path}: row {int(bad[0]) + 2}: day must be a finite number >= 0 "
                          f"(got {got})")
    return np.sort(days)


def _blank_lines_at_end(path: Path) -> int:
    """How many lines at the end of the file are blank (an editor's or an export's trailing
    newlines: not arrivals), whatever the line endings (``\\n``, ``\\r\\n`` or ``\\r``, as the
    CSV reader takes them) and however many."""
    size, blocks = path.stat().st_size, []
    with open(path, "rb") as f:
        while size > 0:  # back from the end, a block at a time, to the last character
            step = min(size, 1 << 16)
            size -= step
            f.seek(size)
            blocks.append(f.read(step))
            if blocks[-1].strip(b" \t\r\n"):
                break
    tail = b"".join(reversed(blocks))
    space = tail[len(tail.rstrip(b" \t\r\n")):]
    breaks = space.count(b"\r\n") + space.replace(b"\r\n", b"").count(b"\r") \
        + space.replace(b"\r\n", b"").count(b"\n")
    return max(breaks - 1, 0)  # the first ends the last line of arrivals


def _name_the_row(path: Path) -> None:
    """Raise an error naming the first row whose day is no number (a second, slower read)."""
    try:
        text = pd.read_csv(path, usecols=["day"], dtype=str, keep_default_na=False,
                           skip_blank_lines=False)["day"]
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return
    bad = np.flatnonzero(pd.to_numeric(text, errors="coerce").isna().to_numpy())
    if len(bad):
        raise SrmsimError(f"{path}: row {int(bad[0]) + 2}: day must be a finite number >= 0 "
                          f"(got {str(text.iloc[bad[0]])[:40]!r})")


class StreamDesk:
    """One request stream: arrivals, the steps, the staff, and what happened to each request."""

    def __init__(self, name: str, config: RequestStream, crn: CRN, env: simpy.Environment,
                 n_weeks: int, base_dir: Path | None = None,
                 pool_people: dict[str, int] | None = None):
        self.name, self.config, self.crn, self.env, self.n_weeks = name, config, crn, env, n_weeks
        # people of every stream sharing each pool role's minutes (default: this stream's only)
        self.pool_people = {r: g.staff for r, g in config.staff.items() if g.from_pool}
        self.pool_people.update(pool_people or {})
        self.steps: list[RequestStep] = list(config.steps)
        self.automated = {s.name for s in config.automated_steps()}
        self.roles = sorted(config.staff)
        self.people = {r: simpy.Resource(env, capacity=g.staff) for r, g in config.staff.items()}
        # staff minutes one person does per calendar day at the current speed
        self.rate = {r: g.hours_per_week * 60 / DAYS_PER_WEEK for r, g in config.staff.items()}
        self.file_days = None
        self.after_run = 0
        if config.arrivals.file is not None:
            path = Path(config.arrivals.file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            self.file_days = read_arrival_days(path)
            # (the run's memory check counted them: srmsim.model's _run_size)
            in_run = int(np.searchsorted(self.file_days, n_weeks * DAYS_PER_WEEK))
            #: the file's arrivals on days after the run's last, not simulated (said, not lost
            #: without a word: days 1, 400 and 10000 on a 273-day run made one arrival)
            self.after_run = len(self.file_days) - in_run
        # one entry per request, in order of arrival
        self.arrival: list[float] = []
        self.finish: list[float] = []
        self.status: list[int] = []  # 0 open, 1 completed, 2 dropped
        self.queue_days: list[float] = []
        self.minutes: list[float] = []
        self.reworks: list[int] = []
        self.in_system = 0
        self._area = 0.0  # integral of the number in the system over time (Little's law)
        self._last = 0.0
        # staff minutes worked, by role and run week (a chunk of work never crosses a week)
        self._used: dict[str, dict[int, float]] = {r: {} for r in self.roles}
        self.weekly: list[dict[str, float | str]] = []
        self._week_counts = {"arrivals": 0, "completed": 0, "dropped": 0}
        self._week_waits: list[float] = []  # days in the system of the week's completions
        self.week = 0  # the run week being simulated
        self.log = EventLog()
        self._next_id = 0
        if config.backlog:
            self._admit(np.zeros(config.backlog), backlog=True)

    # ----------------------------------------------------------------- arrivals
    def _weekly_rate(self, week: int) -> float:
        a = self.config.arrivals
        s = a.seasonality
        return a.per_week * (1 + s.amplitude * math.cos(
            2 * math.pi * (week - s.peak_week) / WEEKS_PER_CYCLE))

    def _arrival_times(self, week: int) -> np.ndarray:
        start = week * DAYS_PER_WEEK
        if self.file_days is not None:
            lo, hi = np.searchsorted(self.file_days, [start, start + DAYS_PER_WEEK])
            return self.file_days[lo:hi]
        lam = self._weekly_rate(week)
        if lam <= 0:
            return np.zeros(0)
        u = self.crn.uniform(f"requests.{self.name}.count", week, np.zeros(1, dtype=np.int64))
        k = int(stats.poisson.ppf(u[0], lam))
        offsets = np.sort(self.crn.uniform(f"requests.{self.name}.time", week, np.arange(k)))
        return start + DAYS_PER_WEEK * offsets

    def _admit(self, times: np.ndarray, backlog: bool = False) -> None:
        """Create the requests arriving at ``times``, with all their random draws."""
        k = len(times)
        if k == 0:
            return
        ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        n_steps = len(self.steps)
        size = np.empty((k, n_steps, MAX_ATTEMPTS))
        rework = np.empty((k, n_steps, MAX_ATTEMPTS))
        drop = np.empty((k, n_steps))
        for j, step in enumerate(self.steps):
            drop[:, j] = self.crn.uniform(f"requests.{self.name}.{step.name}.dropout", 0, ids)
            for a in range(MAX_ATTEMPTS):
                u = self.crn.uniform(f"requests.{self.name}.{step.name}.service", a, ids)
                size[:, j, a] = _relative_size(step, u)
                rework[:, j, a] = self.crn.uniform(f"requests.{self.name}.{step.name}.rework",
                                                   a, ids)
        for i in range(k):
            self.arrival.append(float(times[i]))
            self.finish.append(math.nan)
            self.status.append(0)
            self.queue_days.append(0.0)
            self.minutes.append(0.0)
            self.reworks.append(0)
            # the arrays and the row, not views of the row: three numpy views per request were
            # some 450 of the ~2.4 kB a waiting request took (a backlog of millions)
            self.env.process(self._request(int(ids[i]), float(times[i]), size, rework, drop, i,
                                           "backlog" if backlog else "arrived"))

    # ----------------------------------------------------------------- one request
    def _count(self, delta: int) -> None:
        now = self.env.now
        self._area += self.in_system * (now - self._last)
        self._last = now
        self.in_system += delta

    def _request(self, rid: int, arrive: float, size: np.ndarray, rework: np.ndarray,
                 drop: np.ndarray, row: int, how: str):
        """One request's life; its draws are row ``row`` of ``size``, ``rework`` and ``drop``
        (the arrays of the requests admitted with it)."""
        env, log = self.env, self.log
        if arrive > env.now:
            yield env.timeout(arrive - env.now)
        self._count(+1)
        log.add(rid, how, env.now)
        for j, step in enumerate(self.steps):
            if drop[row, j] < step.dropout:
                self.status[rid] = 2
                self.finish[rid] = env.now
                self._week_counts["dropped"] += 1
                self._count(-1)
                log.add(rid, "dropped", env.now, j + 1)
                return
            automated = step.name in self.automated
            attempt = 0
            while True:
                a = min(attempt, MAX_ATTEMPTS - 1)
                auto = step.automated if automated else None
                work = size[row, j, a] * (auto.minutes if auto is not None else step.minutes)
                log.add(rid, "queued", env.now, j + 1, attempt + 1)
                if auto is not None and auto.delay_days > 0:
                    yield env.timeout(auto.delay_days)
                if work > 0:
                    queued = env.now
                    # not `with ...request()`: at the end of a run every request still queued
                    # cancelled itself as its generator was collected, each a search of the
                    # queue (200,000 queued requests took a minute to exit after the run)
                    people = self.people[step.role]
                    req = people.request()
                    yield req
                    self.queue_days[rid] += env.now - queued
                    log.add(rid, "started", env.now, j + 1, attempt + 1)
                    yield from self._work(rid, step.role, work)
                    people.release(req)
                attempt += 1
                log.add(rid, "finished", env.now, j + 1, attempt, work)
                if attempt < MAX_ATTEMPTS and rework[row, j, attempt - 1] < step.rework:
                    self.reworks[rid] += 1
                    log.add(rid, "reworked", env.now, j + 1, attempt)
                    continue
                break
        self.status[rid] = 1
        self.finish[rid] = env.now
        self._week_counts["completed"] += 1
        self._week_waits.append(env.now - arrive)
        self._count(-1)
        log.add(rid, "completed", env.now)

    def _work(self, rid: int, role: str, work: float):
        """Do ``work`` staff minutes at the role's speed, which may change at week boundaries;
        the request and the week are charged the minutes as they are worked."""
        env = self.env
        while work > 1e-9:
            boundary = (math.floor(env.now / DAYS_PER_WEEK) + 1) * DAYS_PER_WEEK
            rate = self.rate[role]
            if rate <= 0:
                yield env.timeout(boundary - env.now)
                continue
            dt = min(work / rate, boundary - env.now)
            done = min(work, dt * rate)
            # charged to the week the chunk is in before it runs: a chunk that ends exactly at
            # the week's end resumes only when the next week's run starts
            week = int(math.floor(env.now / DAYS_PER_WEEK))
            used = self._used[role]
            used[week] = used.get(week, 0.0) + done
            self.minutes[rid] += done
            yield env.timeout(dt)
            work -= done

    # ----------------------------------------------------------------- the week
    def begin_week(self, week: int, pool_minutes_left: dict[str, float] | None) -> None:
        """Set this week's staff speed and bring in this week's arrivals."""
        self.week = week
        self.log.begin_week(week)
        for role, group in self.config.staff.items():
            if group.from_pool:
                left = max(0.0, (pool_minutes_left or {}).get(role, 0.0))
                self.rate[role] = left / (self.pool_people[role] * DAYS_PER_WEEK)
        times = self._arrival_times(week)
        self._week_counts["arrivals"] += len(times)
        self._admit(times)

    def close_week(self, week: int) -> None:
        """Record the week's figures (after the clock has reached the week's end)."""
        self._count(0)
        row: dict[str, float | str] = {"stream": self.name, "run_week": week,
                                       **self._week_counts, "in_system": self.in_system}
        row["waiting_for_staff"] = sum(len(self.people[r].queue) for r in self.roles)
        waits = np.asarray(self._week_waits)
        row["wait_mean_days"] = float(waits.mean()) if len(waits) else math.nan
        row["wait_p90_days"] = float(np.quantile(waits, 0.9)) if len(waits) else math.nan
        for role in self.roles:
            available = self.rate[role] * DAYS_PER_WEEK * self.config.staff[role].staff
            row[f"staff_minutes_used_{role}"] = self._used[role].pop(week, 0.0)
            row[f"staff_minutes_available_{role}"] = available
        self.weekly.append(row)
        self._week_counts = {"arrivals": 0, "completed": 0, "dropped": 0}
        self._week_waits = []

    @property
    def time_average_in_system(self) -> float:
        """Mean number of requests in the system over the run so far (time-weighted)."""
        return self._area / self._last if self._last > 0 else math.nan

    def requests(self) -> pd.DataFrame:
        status = np.array(["open", "completed", "dropped"])[np.asarray(self.status, dtype=int)]
        arrival = np.asarray(self.arrival)
        finish = np.asarray(self.finish)
        return pd.DataFrame({
            "stream": self.name,
            "request": np.arange(len(arrival), dtype=np.int64),
            "arrival_day": arrival,
            "finish_day": finish,
            "status": pd.Categorical(status, ["open", "completed", "dropped"]),
            "days_in_system": finish - arrival,
            "queue_days": np.asarray(self.queue_days),
            "staff_minutes": np.asarray(self.minutes),
            "reworks": np.asarray(self.reworks, dtype=np.int16),
        })

    def events(self) -> pd.DataFrame:
        """The stream's event log (:mod:`srmsim.admin.events`), requests still open at the
        end included."""
        open_requests = np.flatnonzero(np.asarray(self.status, dtype=np.int8) == 0)
        return self.log.frame(self.name, self.steps, open_requests,
                              np.asarray(self.minutes)[open_requests], self.env.now, self.week)


def _relative_size(step: RequestStep, u: np.ndarray) -> np.ndarray:
    """Task size relative to the step's mean, from a uniform (inversion keeps CRN pairing)."""
    if step.service == "fixed":
        return np.ones_like(u)
    if step.service == "exponential":
        return -np.log1p(-u)
    sigma2 = math.log1p(step.cv ** 2)
    return np.exp(math.sqrt(sigma2) * special.ndtri(u) - sigma2 / 2)


def pool_people(streams: dict[str, RequestStream]) -> dict[str, int]:
    """People of each pool role over every stream with ``from_pool``: the minutes the student
    cases leave are one budget, so two streams drawing on it share it (each got all of it)."""
    people: dict[str, int] = {}
    for stream in streams.values():
        for role, group in stream.staff.items():
            if group.from_pool:
                people[role] = people.get(role, 0) + group.staff
    return people


class RequestDesk:
    """Every request stream of a scenario, on one SimPy clock."""

    def __init__(self, streams: dict[str, RequestStream], crn: CRN, n_weeks: int,
                 base_dir: Path | None = None):
        self.env = simpy.Environment()
        people = pool_people(streams)
        self.streams = {name: StreamDesk(name, cfg, crn, self.env, n_weeks, base_dir, people)
                        for name, cfg in streams.items()}
        self.pool_roles = set(people)

    def advance(self, week: int, pool_minutes_left: dict[str, float] | None = None) -> None:
        """One week of every stream, on the one clock."""
        for desk in self.streams.values():
            desk.begin_week(week, pool_minutes_left)
        self.env.run(until=(week + 1) * DAYS_PER_WEEK)
        for desk in self.streams.values():
            desk.close_week(week)

    @property
    def events_recorded(self) -> int:
        """Events logged so far, the backlog's too: reworks, dropouts and the staff's pace
        decide how many a request makes (a rework of 0.9 made six times those the check
        before the run counts), so the model checks them as the run goes."""
        return sum(len(d.log) for d in self.streams.values())

    def requests(self) -> pd.DataFrame:
        frames = [d.requests() for d in self.streams.values()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def weekly(self) -> pd.DataFrame:
        """What each stream did each week, as the simulation counted it (the deadline columns
        are added by :func:`srmsim.admin.weekly.stream_weekly`)."""
        return pd.DataFrame([row for d in self.streams.values() for row in d.weekly])

    def events(self) -> pd.DataFrame:
        """Every stream's event log, one table (categories merged across streams)."""
        frames = [d.events() for d in self.streams.values()]
        for col in ("stream", "step_name", "role"):
            union = list(dict.fromkeys(c for f in frames for c in f[col].cat.categories))
            for f in frames:
                f[col] = f[col].cat.set_categories(union)
        return pd.concat(frames, ignore_index=True)

