"""Privacy review 239: counts under 10 worked out from the report of a run of a trust built from
real records (``population.records``).

Found 2026-12-07: ``srmsim run SCENARIO --report`` (and ``srmsim report RUN``) of a trust
built from records showed "students 690" above "Severe absence 0.4%" (3 students), "SEN 11"
students at 9.1% persistent absence (1 student), "EAL 19" at 15.8% (3), "Withdrawal 0.0%" (0),
and a histogram of reading gaps and weekly referral bars whose bins and weeks count a few
students. A trial on the same records withholds all of these
(``srmsim.trial.groups.withhold_small_groups``); the run's report now applies that rule. A
run of a simulated trust keeps every count and picture.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from srmsim.cli import main

REPO = Path(__file__).resolve().parents[1]
#: the shares of students the report shows, by their label
SHARES = ("Persistent absence", "Severe absence", "Two or more years behind in reading",
          "Withdrawal", "Students served")
PAIRS = [("FSM", "not FSM"), ("SEN", "not SEN"), ("EAL", "not EAL")]


def records(folder: Path) -> Path:
    """Two schools of 150 and 120 pupils (Years 7-8) and one of 6; about 5 SEN and 10 EAL."""
    rng = np.random.default_rng(7)
    rows = []
    for school, n in (("URN100001", 150), ("URN100002", 120), ("URN100003", 6)):
        for _ in range(n):
            rows.append({"school": school, "year_group": int(rng.choice([7, 8])),
                         "sex": str(rng.choice(["F", "M"])), "fsm": bool(rng.random() < 0.3),
                         "sen": bool(rng.random() < 0.03), "eal": bool(rng.random() < 0.04)})
    path = folder / "records.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


def seven_records(folder: Path) -> Path:
    """One school's 7 Year 7 pupils: a trust of under 10 students."""
    path = folder / "records.parquet"
    pd.DataFrame({"school": ["URN100001"] * 7, "year_group": [7] * 7,
                  "sex": list("FMFMFMF"), "fsm": [True, False] * 3 + [True]}).to_parquet(path)
    return path


def escalation_scenario(folder: Path, recs: Path | None,
                        year_groups: list[int] | None = None) -> Path:
    """``scenario.yaml`` in ``folder``: attendance escalation for one year without history,
    its trust built from ``recs`` (None: a simulated trust of about the same size)."""
    scenario = yaml.safe_load((REPO / "scenarios" / "attendance_escalation.yaml").read_text())
    scenario.setdefault("outputs", {})["history"] = "none"
    scenario["years"] = 1
    if recs is not None:
        scenario.setdefault("population", {})["records"] = str(recs)
    else:
        scenario["trust"] = {**scenario.get("trust", {}), "n_schools": 3,
                             "students_per_year_group": 45}
    if year_groups is not None:
        scenario["trust"] = {**scenario.get("trust", {}), "year_groups": year_groups}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def run_report(folder: Path, from_records: bool) -> str:
    path = escalation_scenario(folder, records(folder) if from_records else None)
    out = folder / "run"
    assert main(["run", str(path), "--out", str(out), "--report", "--quiet"]) == 0
    return (out / "report.html").read_text()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {kind: run_report(tmp_path_factory.mktemp(kind), kind == "records")
            for kind in ("records", "simulated")}


def _text(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


def _number(text: str) -> float | None:
    m = re.fullmatch(r"([\d,]+(?:\.\d+)?)\s*%?", text)
    return float(m[1].replace(",", "")) if m else None


def page_numbers(page: str) -> dict[str, object]:
    """What the report shows, as a reader takes it: the trust's students, its headline
    values, the students served, and each group row's cells by column."""
    defs = {_text(k): _text(v) for k, v in
            re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", page)}
    rows = []
    for tr in re.findall(r"<tr>(<td.*?)</tr>", page, re.S):
        rows.append({col: _text(v) for col, v in
                     re.findall(r"<td[^>]*data-col='([^']*)'[^>]*>(.*?)</td>", tr, re.S)})
    headline = {r["outcome"]: r["value"] for r in rows if "outcome" in r and "value" in r}
    groups = {r["students"]: r for r in rows if "number" in r}
    return {"defs": defs, "headline": headline, "groups": groups}


def small_counts(page: str) -> list[str]:
    """Every count of students under 10 (zero included) the attacker works out: a count
    shown, a share times its group's students (and the students without it), a group as
    the trust minus its other group, a school as the trust minus the other schools."""
    shown = page_numbers(page)
    found = []
    trust = _number(str(shown["defs"].get("students", "")))  # type: ignore[union-attr]
    if trust is None:
        return found
    served = _number(str(shown["defs"].get("students who received any action", "")))  # type: ignore[union-attr]
    if served is not None and (served < 10 or trust - served < 10):
        found.append(f"students served {served:g} of {trust:g}")
    for label in SHARES:
        value = _number(str(shown["headline"].get(label, "")))  # type: ignore[union-attr]
        if value is not None:
            k = round(value / 100 * trust)
            if k < 10 or trust - k < 10:
                found.append(f"{label} {value:g}% of {trust:g} students: {k}")
    groups: dict[str, dict[str, str]] = shown["groups"]  # type: ignore[assignment]
    size = {g: _number(r["number"]) for g, r in groups.items()}
    for g, r in groups.items():
        n = size[g]
        if n is None:
            continue
        if n < 10:
            found.append(f"{g}: {n:g} students")
        for label in ("Persistent absence", "Students served"):
            value = _number(r.get(label, ""))
            if value is not None:
                k = round(value / 100 * n)
                if k < 10 or n - k < 10:
                    found.append(f"{g} {label} {value:g}% of {n:g}: {k}")
    for a, b in PAIRS:
        for x, y in ((a, b), (b, a)):
            if size.get(x) is not None and size.get(y) is None and trust - size[x] < 10:
                found.append(f"{y} = trust - {x}")
    schools = {g: n for g, n in size.items() if g.startswith("school ")}
    if schools and sum(v is None for v in schools.values()) == 1:
        rest = sum(v for v in schools.values() if v is not None)
        if trust - rest < 10:
            found.append("a school = trust - the others")
    return found


def test_a_run_report_from_records_gives_no_small_count(reports: dict[str, str]) -> None:
    page = reports["records"]
    assert small_counts(page) == [], small_counts(page)
    shown = page_numbers(page)
    # the rows are there, their small counts withheld as a trial on records withholds them
    assert shown["headline"]["Severe absence"] == "low"  # type: ignore[index]
    assert shown["groups"]["SEN"]["Persistent absence"] == "low"  # type: ignore[index]
    assert "population.records" in page and "<code>c</code>" in page
    # no histogram of a few students a bin, nor weekly counts of cases
    assert "Distribution of the reading gap" not in page
    assert "New referrals, open cases" not in page


def test_the_attack_finds_the_counts_a_report_shows(reports: dict[str, str]) -> None:
    """The attacker above works: on the simulated trust's report, which shows every count
    (its small groups and shares are no one's), it finds them; and that report keeps every
    count, share and picture."""
    page = reports["simulated"]
    assert small_counts(page), "the attack finds nothing: it could not fail"
    shown = page_numbers(page)
    assert "low" not in shown["headline"].values()  # type: ignore[union-attr]
    assert all(r["number"] != "c" for r in shown["groups"].values())  # type: ignore[union-attr]
    assert "Distribution of the reading gap" in page and "New referrals, open cases" in page
    assert "population.records" not in page


def test_a_trust_of_under_10_students_shows_none_of_its_values(tmp_path: Path) -> None:
    """One school's 7 year-7 records make a trust of 7: its report said "students 7", every
    share of them, "SEN ... not measured" (no SEN student: a count of 0) and their cost, and
    drew their weekly attendance. Now every value is withheld and nothing is drawn."""
    path = escalation_scenario(tmp_path, seven_records(tmp_path), year_groups=[7])
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--report", "--quiet"]) == 0
    page = (out / "report.html").read_text()
    shown = page_numbers(page)
    assert shown["defs"]["students"] == "c"  # type: ignore[index]
    assert set(shown["headline"].values()) == {"low"}  # type: ignore[union-attr]
    assert shown["defs"]["cost of actions"] == "low"  # type: ignore[index]
    assert {r["number"] for r in shown["groups"].values()} == {"c"}  # type: ignore[union-attr]
    assert "not measured" not in page and "<img" not in page
