"""Request streams in a scenario: ``requests:``, validated like every other section.

A stream is a flow of administrative requests (certifications, EHC needs assessments, admissions
appeals) through a sequence of steps done by staff of given roles. Each step has a paper form
(``minutes`` of staff time) and may have an automated form (``automated``: fewer or no staff
minutes, possibly a fixed system delay); ``automate`` says which steps run automated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from srmsim.labels import Prose, check_distinct, file_name_problem

Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
#: the most staff minutes one task may take on average (about 8 years of one person's full-time
#: work): above it a drawn task size overflowed to inf minutes (``minutes: 1e308``)
MAX_TASK_MINUTES = 1e6
#: staff minutes of a task, paper or automated
TaskMinutes = Annotated[float, Field(ge=0.0, le=MAX_TASK_MINUTES, allow_inf_nan=False)]
#: calendar days in a simulated week: request streams run in calendar time
DAYS_PER_WEEK = 7.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Seasonality(_Strict):
    """Arrival rate ``per_week * (1 + amplitude * cos(2 pi (week - peak_week) / 52))``."""

    amplitude: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = 0.0
    peak_week: Annotated[int, Field(ge=0, le=51)] = 0


class Arrivals(_Strict):
    """How requests arrive: a Poisson process at ``per_week`` (with seasonality), or the dates
    in ``file`` (a CSV with a ``day`` column: days since the start of the run)."""

    per_week: Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)] = 0.0
    seasonality: Seasonality = Field(default_factory=Seasonality)
    file: str | None = None

    @field_validator("file")
    @classmethod
    def _file_name(cls, v: str | None) -> str | None:
        """An empty name or a control character (a NUL made path resolution crash) is a typo,
        never a file."""
        problem = None if v is None else file_name_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Arrivals:
        if self.file is not None and self.per_week > 0:
            raise ValueError("give either per_week or file, not both")
        if self.file is not None and self.seasonality.amplitude > 0:
            raise ValueError("seasonality shapes per_week arrivals; the days in file are used "
                             "as they are (remove seasonality)")
        return self


class Automation(_Strict):
    """The automated form of a step."""

    minutes: TaskMinutes = Field(0.0, description="staff minutes left per request (0: none)")
    delay_days: NonNeg = Field(0.0, description="fixed system delay per request, days")


class RequestStep(_Strict):
    name: Name
    role: Name
    minutes: Annotated[float, Field(gt=0.0, le=MAX_TASK_MINUTES, allow_inf_nan=False)] = Field(
        description="mean staff minutes per request, paper form")
    service: Literal["exponential", "fixed", "lognormal"] = "exponential"
    cv: Annotated[float, Field(gt=0.0, le=5.0, allow_inf_nan=False)] = 0.5
    automated: Automation | None = None
    rework: Annotated[float, Field(ge=0.0, le=0.9, allow_inf_nan=False)] = Field(
        0.0, description="probability the step has to be done again")
    dropout: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = Field(
        0.0, description="probability the requester drops out before this step")


class StaffGroup(_Strict):
    """Staff of one role serving the stream: ``staff`` people working ``hours_per_week`` each,
    or, with ``from_pool``, sharing what the trust pool's minutes of that role leave after the
    student policies' cases each week (``policy.staff.pool``)."""

    staff: Annotated[int, Field(ge=1, le=100_000)]
    hours_per_week: Annotated[float, Field(gt=0.0, le=168.0, allow_inf_nan=False)] = 37.5
    from_pool: bool = False


class RequestStream(_Strict):
    description: Prose = ""
    arrivals: Arrivals
    backlog: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        0, description="requests already waiting at the start")
    steps: list[RequestStep] = Field(min_length=1, max_length=50)
    staff: dict[Name, StaffGroup]
    automate: Literal["none", "all"] | list[Name] = "none"
    deadline_days: Positive | None = Field(None, description="target time from arrival to "
                                           "completion, days (e.g. 140 for a 20-week EHC needs "
                                           "assessment)")

    @model_validator(mode="after")
    def _consistent(self) -> RequestStream:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique")
        check_distinct(names, "step")  # rows of the requests tables and report
        check_distinct(self.staff, "staff role")
        for step in self.steps:
            if step.role not in self.staff:
                raise ValueError(f"step {step.name!r} needs role {step.role!r}, which has no "
                                 f"staff (staff: {sorted(self.staff)})")
        if isinstance(self.automate, list):
            for name in self.automate:
                if name not in names:
                    raise ValueError(f"automate names step {name!r}, which does not exist")
        if self.automate == "all" and not self.automated_steps():
            raise ValueError("automate: all, but no step has an 'automated' form")
        for step in self.automated_steps():
            if step.automated is None:
                raise ValueError(f"step {step.name!r} is to be automated but has no "
                                 f"'automated' form")
        return self

    def automated_steps(self) -> list[RequestStep]:
        if self.automate == "none":
            return []
        if self.automate == "all":
            return [s for s in self.steps if s.automated is not None]
        return [s for s in self.steps if s.name in self.automate]
