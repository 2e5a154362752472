"""A small descriptive table of an imported dataset, with small counts suppressed.

Why suppression is not optional here: this table is what people paste into reports, and it is
built from real pupil records. Counts below the threshold become ``c``, rates built on them
``low``, and secondary suppression hides further cells until no small count can be worked out
from the Total row or from one count being part of another (see :mod:`srmsim.privacy`). Rows
may be labelled only by fields the schema declares as breakdowns (school, year group, sex, FSM,
SEN, EAL): never by a name, UPN, date of birth or student id.
"""

from __future__ import annotations

from itertools import combinations, product
from pathlib import Path

import numpy as np
import pandas as pd

from srmsim.data.dataset import LEDGER_FILE, META_FILE, Dataset, pupils_own_values
from srmsim.data.schema import STUDENTS, TABLES
from srmsim.errors import DataError
from srmsim.inputs import load_json, whole
from srmsim.labels import cut, printable
from srmsim.outputs import json_dumps
from srmsim.privacy import DEFAULT_THRESHOLD, Symbols, suppress_small_counts, suppression_masks
from srmsim.results import PERSISTENT_ABSENCE_DENOMINATOR  # as simulated runs count it

COUNTS = ["students", "fsm", "sen", "eal", "with_sessions", "persistently_absent"]
#: the count columns that are also breakdowns: each a flag of a pupil
FLAGS = ("fsm", "sen", "eal")
#: most groups a crossed table may have (every combination of its columns' values is a row)
MAX_GROUPS = 1000
#: most counts under the threshold a table and its smaller breakdowns may hold together: each is
#: audited against all the others, at a cost that grows faster than their number (1,953 in the
#: sample's --by school,year_group,sex,fsm: about 1.5 minutes on a slow core)
MAX_SMALL_COUNTS = 2500
#: which audit decided the cells a summary hides, recorded in the ledger: a table audited by
#: another one (2: empty combinations printed, one-column rows known to hold a pupil) hides
#: other cells, and the two are not audited together. Raise it when the hidden cells change,
#: or the counts (3: persistent absence at exactly 90% counted, attendance over calibrate's rows:
#: an earlier summary's 114 persistently absent beside this one's 115 is the pupil at 90%)
AUDIT_VERSION = 3
#: the students columns a summary may be grouped by (categories, not identifiers or measures)
GROUPABLE = ("school", "year_group", "sex", "fsm", "sen", "eal")
#: each rate or mean and the counts it is shown with: hidden (``low``) when any of them is.
#: A group's mean attendance bounds its persistently absent pupils, whose absence is at least
#: 10% of their sessions: 40 pupils of equal sessions at 99.4% miss 0.6% of 40 pupils' sessions,
#: so at most 2 of them are persistently absent (and at 30%, at most 13 are not). So it is shown
#: only beside a shown persistently absent count (of a shown with_sessions)
RATES = {"fsm_pct": ["fsm", "students"], "sen_pct": ["sen", "students"],
         "eal_pct": ["eal", "students"],
         "attendance_pct": ["with_sessions", "persistently_absent"],
         "persistent_absence_pct": ["persistently_absent", "with_sessions"]}


def _named(columns: list[str]) -> str:
    """Column names as typed (``upn,name``), not a Python list's repr, each cut and with any
    control character escaped: the names come from the command line."""
    return ",".join(printable(cut(str(c), 40)) for c in columns)


#: labels the table gives rows of its own: a group's value equal to one (any case) would
#: print two rows alike
RESERVED_LABELS = {"total": "their total row", "(missing)": "pupils with no value recorded"}


def describe_counts(ds: Dataset, by: list[str] | None = None) -> pd.DataFrame:
    """The unsuppressed table: one row per group and a Total row. Not for printing."""
    by = list(by or ["school"])
    st = ds.students
    allowed = breakdown_fields()
    refused = [b for b in by if b not in allowed]
    if refused:
        raise DataError(f"--by {_named(refused)}: only declared non-identifying categories may label "
                        f"rows of a published table: {', '.join(allowed)}")
    if len(set(by)) != len(by):
        raise DataError(f"--by {_named(by)}: a column is repeated")
    missing = [b for b in by if b not in st.columns]
    if missing:
        raise DataError(f"--by {_named(missing)}: not a column of the students table "
                        f"(groupable: {', '.join(GROUPABLE)})")
    wrong = [b for b in by if b not in GROUPABLE]
    if wrong or len(set(by)) != len(by):
        raise DataError(f"--by {wrong or by}: group by one or more distinct of "
                        f"{', '.join(GROUPABLE)} (identifiers and measurements are not groups)")
    att = _attendance(ds)
    # a breakdown that is also a count (fsm, sen, eal) gets its label column renamed
    names = [f"{b}_group" if b in COUNTS else b for b in by]
    frame = st[["student_id", *by]].copy()
    frame.columns = ["student_id", *names]
    for flag in ("fsm", "sen", "eal"):
        frame[flag] = (st[flag].astype("boolean") if flag in st.columns
                       else pd.Series(pd.NA, index=st.index, dtype="boolean"))
    frame = frame.merge(att, on="student_id", how="left")
    frame["with_sessions"] = frame["possible"].notna() & (frame["possible"] > 0)
    has_sessions = bool(frame["with_sessions"].any())
    frame["pa"] = frame["with_sessions"] & ((frame["possible"] - frame["attended"])
                                            * PERSISTENT_ABSENCE_DENOMINATOR
                                            >= frame["possible"])

    recorded = {flag: bool(frame[flag].notna().any()) for flag in FLAGS}

    def summarise(g: pd.DataFrame) -> dict[str, float]:
        row: dict[str, float] = {"students": len(g)}
        for flag in ("fsm", "sen", "eal"):
            # pupils with the flag recorded as yes; "not available" only when no pupil of the
            # trust has it recorded (per group, an empty group's x would tell it apart)
            row[flag] = float(g[flag].sum()) if recorded[flag] else np.nan
        if has_sessions:
            row["with_sessions"] = int(g["with_sessions"].sum())
            row["persistently_absent"] = int(g["pa"].sum())
        else:  # the school supplied no attendance: "not available", not a count of zero
            row["with_sessions"] = row["persistently_absent"] = np.nan
        pos = g["possible"].sum()
        row["attendance_pct"] = 100 * g["attended"].sum() / pos if pos > 0 else np.nan
        return row

    def labelled(key: tuple) -> tuple[str, ...]:
        return tuple("(missing)" if pd.isna(k) else str(k) for k in key)

    groups = {labelled(k if isinstance(k, tuple) else (k,)): g
              for k, g in frame.groupby(names, sort=True, dropna=False)}
    # every combination of the columns' values is a row, an empty one too: a combination
    # left out says it has no pupil (no FSM pupil at A), a count --by school hides
    levels = [labelled(tuple(pd.Series(frame[c].unique()).sort_values(na_position="last")))
              for c in names]
    for c, column in zip(names, by, strict=True):  # a school called Total read as the total
        for value in frame[c].dropna().unique():
            meant = RESERVED_LABELS.get(str(value).strip().casefold())
            if meant:
                raise DataError(f"a {column} is called {str(value)!r}, as summary tables "
                                f"label {meant} (every summary is audited by {column} too); "
                                "rename it in the export or the mapping and import again")
    for c, column in zip(names, by, strict=True):
        _check_groups_not_pupils(frame[c], column)
    size = int(np.prod([len(v) for v in levels], dtype=float))
    if size > MAX_GROUPS:
        raise DataError(f"--by {_named(by)}: {size:,} groups (every combination of the "
                        f"columns' values is a row); at most {MAX_GROUPS:,} can be audited "
                        "for small counts: group by fewer or coarser columns")
    rows = []
    for labels in product(*levels):
        g = groups.get(labels, frame.iloc[:0])
        rows.append({**dict(zip(names, labels, strict=True)), **summarise(g)})
    rows.append({**{b: ("Total" if i == 0 else "") for i, b in enumerate(names)},
                 **summarise(frame)})
    table = pd.DataFrame(rows)
    for b in names:
        table[b] = table[b].astype("str")
    for c in COUNTS:
        table[c] = table[c].astype("Int64")

    def pct(num: str, den: str) -> pd.Series:
        base = table[den].astype("float64")
        return 100 * table[num].astype("float64") / base.where(base > 0)

    for flag in ("fsm", "sen", "eal"):
        table[f"{flag}_pct"] = pct(flag, "students")
    table["persistent_absence_pct"] = pct("persistently_absent", "with_sessions")
    return table[[*names, *COUNTS, *RATES]]


def _check_groups_not_pupils(values: pd.Series, column: str) -> None:
    """Refuse a breakdown whose values are pupils' own (:func:`srmsim.data.dataset.
    pupils_own_values`): a school column holding the pupils' names or ids (a shifted export, a
    wrong mapping) published one row a pupil, labelled by the name, counts suppressed but the
    names printed. How many is never said (it would be a count of pupils)."""
    if pupils_own_values(values):
        raise DataError(f"--by {_named([column])}: most of its values are each one pupil's own "
                        "(at least 10 of them): these look like pupils' names or ids, not "
                        f"groups, and are not published; check the export's {column} column "
                        "and the mapping, and import again")


def breakdown_fields() -> list[str]:
    """Students fields the schema declares fit to label published rows (``Field.breakdown``)."""
    return [f.name for f in STUDENTS.fields if f.breakdown]


#: Each count is part of another in its row: an attacker can use that, so the audit does too.
SUBSETS = {"fsm": "students", "sen": "students", "eal": "students",
           "with_sessions": "students", "persistently_absent": "with_sessions"}

#: ... and the rest of the whole is a count too (the non-FSM pupils, those not persistently
#: absent, those without attendance records: 3 such pupils of one school is a count of pupils)
COMPLEMENTS = ("fsm", "sen", "eal", "persistently_absent", "with_sessions")
#: remainders that may be worked out when they are 0: "every pupil has attendance records" is
#: how complete the export is, and protecting it would hide a column of nearly every row
ZERO_REMAINDER_OK = ("with_sessions",)


def _attendance(ds: Dataset) -> pd.DataFrame:
    """Sessions attended and possible per student, over the rows ``srmsim calibrate`` measures
    (:func:`srmsim.calibrate.moments.attendance_rows`: weekly rows if any hold sessions, else
    termly ones). Summing weeks and terms counted a pupil's sessions twice, and a pupil with
    sessions only in termly rows was "with sessions" here but not in calibrate's ``n``: the
    difference of the two commands' counts gave such pupils away."""
    from srmsim.calibrate.moments import attendance_rows

    ob = ds.observations
    if (not len(ob) or "sessions_possible" not in ob.columns
            or "sessions_attended" not in ob.columns):
        return pd.DataFrame({"student_id": pd.Series([], dtype="str"),
                             "attended": pd.Series([], dtype="float64"),
                             "possible": pd.Series([], dtype="float64")})
    _, rows = attendance_rows(ob)
    use = ob.loc[rows, ["student_id", "sessions_attended", "sessions_possible"]].dropna()
    agg = use.groupby("student_id", as_index=False).agg(
        attended=("sessions_attended", "sum"), possible=("sessions_possible", "sum"))
    agg["attended"] = agg["attended"].astype("float64")
    agg["possible"] = agg["possible"].astype("float64")
    return agg


def describe(ds: Dataset, by: list[str] | None = None, threshold: int = DEFAULT_THRESHOLD,
             symbols: Symbols | None = None) -> pd.DataFrame:
    """The descriptive table with small counts suppressed: safe to print or write.

    Safe also beside the tables of every smaller breakdown (``--by school`` and ``--by sex``
    for ``--by school,sex``): a row of those is the sum of rows of this one, so the cells they
    show and hide are audited with this table's (:func:`linked_masks`). The cells hidden do
    not depend on the order of ``by``: two layouts of one table give nothing more together.
    """
    by = list(by or ["school"])
    table = describe_counts(ds, by)
    canon = sorted(by, key=GROUPABLE.index)
    small, tables = small_counts(ds, canon, threshold)
    if small > MAX_SMALL_COUNTS:
        # how many is not said: it counts small remainders too, which are never printed
        raise DataError(f"--by {_named(by)}: this table and its {tables - 1} smaller breakdowns "
                        f"hold more than {MAX_SMALL_COUNTS:,} counts under {threshold}, each "
                        "audited against all the others so that none can be worked out, too "
                        "many to audit in minutes: group by fewer or coarser columns")
    cache: dict = {}
    ref, primary, secondary = linked_masks(ds, canon, threshold, cache)
    order = _row_order(ref, table, [_label(b) for b in canon])
    masks = tuple(m.iloc[order].set_axis(table.index) for m in (primary, secondary))
    out = suppress_small_counts(table, count_columns=COUNTS, symbols=symbols,
                                rate_columns=RATES, threshold=threshold, masks=masks)
    if attendance_pins_severe(ds, canon, threshold, cache):
        low = out.attrs["suppression"]["symbols"]
        out["attendance_pct"] = out["attendance_pct"].where(
            out["attendance_pct"] == low["withheld"], low["low"])
    return out


def attendance_pins_severe(ds: Dataset, by: list[str], threshold: int = DEFAULT_THRESHOLD,
                           _cache: dict | None = None) -> bool:
    """Whether the mean attendances the table of ``by`` (one or more of :data:`GROUPABLE`,
    in their order) and its smaller breakdowns show (each
    beside its shown ``with_sessions`` and ``persistently_absent``) pin the records' severely
    absent pupils, or the persistently but not severely absent ones, to fewer than
    ``threshold`` values when that count is under ``threshold``.

    Why: ``srmsim calibrate`` prints the severely absent pupils of the same records (hidden
    when under 10), and with one calendar a group's mean is the mean of its pupils' rates: a
    persistently absent pupil misses at least 10% of their sessions and a severely absent one
    at least 50%, so ``0.1 absent + 0.4 severe <= (1 - mean) pupils``. 200 pupils at 97.1%
    with 40 persistently absent shown have at most 4 severely absent; the rows of a
    breakdown bound the sum of theirs. Each group's severe count is an unknown of the audit
    (the sum of the finest groups'), its printed mean a bound to 1 decimal (in whole sessions
    with one calendar, :func:`srmsim.calibrate.disclosure.mean_inequalities`); every group's
    persistently absent count is taken as known, shown or hidden, so the audit can only be
    stricter than an attacker.

    When the records' severely absent pupils are at least ``threshold`` calibrate prints
    their number, so the audit takes it as known; then, and always, no group's severely
    absent count (or persistently but not severely absent count) under ``threshold`` may be
    pinned exactly (means of FSM and non-FSM pupils bounding theirs to at most 7 and 5
    beside calibrate's 12 made them 7 and 5). Exactly, not to fewer than ``threshold``
    values as for the total: a group's high mean bounds its count to a few, and that rule
    would withhold most tables' means."""
    from srmsim.calibrate.disclosure import mean_inequalities, one_calendar
    from srmsim.privacy import feasible_ranges

    cache: dict = {} if _cache is None else _cache
    finest, _, _ = linked_masks(ds, by, threshold, cache)
    att = _attendance(ds)
    if not len(att):
        return False
    sessions = one_calendar(att[att["possible"] > 0])
    severe_of = dict(zip(att["student_id"], (att["possible"] > 0)
                         & ((att["possible"] - att["attended"]) * 2 >= att["possible"]),
                         strict=True))
    names = [_label(b) for b in by]
    fine = finest[names].iloc[:-1].to_numpy()
    where = {tuple(r): i for i, r in enumerate(fine.tolist())}
    cells = len(fine)
    severe = np.zeros(cells)
    frame = ds.students[list(by)].copy()  # grouped and labelled as describe_counts does
    frame["severe"] = ds.students["student_id"].map(severe_of).fillna(False).astype(float)
    for key, g in frame.groupby(list(by), sort=True, dropna=False):
        label = tuple("(missing)" if pd.isna(k) else str(k)
                      for k in (key if isinstance(key, tuple) else (key,)))
        severe[where[label]] = float(g["severe"].sum())
    finest_absent = finest["persistently_absent"].astype("float64").to_numpy()
    # cells: the finest groups' severe counts, then per group: severe, absent, with sessions
    values: list[float] = [float(v) for v in severe]
    hidden = [True] * cells
    unit = len(values)
    values.append(1.0)
    hidden.append(False)
    equations: list[dict[int, float]] = []
    inequalities: list[dict[int, float]] = []

    def add(value: float, hide: bool) -> int:
        values.append(value)
        hidden.append(hide)
        return len(values) - 1

    absent_of = dict(enumerate(finest_absent.tolist()))  # each group cell's absent pupils
    for c in range(cells):  # a group's severe pupils are some of its absent
        inequalities.append({c: 1.0, unit: -float(finest_absent[c])})
    total = add(float(severe.sum()), True)
    equations.append({total: 1.0, **{c: -1.0 for c in range(cells)}})
    absent_total = float(finest["persistently_absent"].iloc[-1])
    rest = add(absent_total - float(severe.sum()), True)  # absent but not severely
    equations.append({rest: 1.0, total: 1.0, unit: -absent_total})
    shown_any = False
    for key, (table, m_primary, m_secondary) in list(cache.items()):
        hide = (m_primary | m_secondary)[["persistently_absent", "with_sessions"]].to_numpy()
        body = table[[_label(b) for b in key]].to_numpy()
        for j in range(len(table)):
            mean = float(table["attendance_pct"].iloc[j])
            if (hide[j].any() or not np.isfinite(mean)
                    or pd.isna(table["persistently_absent"].iloc[j])):
                continue
            if j == len(table) - 1:
                members = list(range(cells))
            else:
                cols = [names.index(_label(b)) for b in key]
                members = np.flatnonzero((fine[:, cols] == body[j]).all(axis=1)).tolist()
            shown_any = True
            g = add(float(severe[members].sum()), True)
            if len(members) < cells:  # the Total's are the total and rest, audited above
                absent_of[g] = float(table["persistently_absent"].iloc[j])
            equations.append({g: 1.0, **{c: -1.0 for c in members}})
            local = np.array([values[g], float(table["persistently_absent"].iloc[j]),
                              float(table["with_sessions"].iloc[j]), 1.0])
            at = {"severe": 0, "absent": 1, "sessions": 2, "unit": 3}
            printed = round(mean, 1)  # as the table prints it: the mean is known to +-0.05
            for edge, sign in ((printed - 0.05 - 1e-9, 1.0), (printed + 0.05 + 1e-9, -1.0)):
                for rule in mean_inequalities(at, edge / 100, local, None, sessions):
                    if np.sign(rule.get(0, 0.0)) != sign:
                        continue  # the bound the other end of the rounding gives
                    known = sum(k * local[i] for i, k in rule.items() if i != 0)
                    inequalities.append({g: rule[0], unit: known})
    if not shown_any:
        return False
    values_arr, hidden_arr = np.array(values), np.array(hidden)
    audited = [c for c in (total, rest) if values_arr[c] < threshold]
    if audited:
        lo, hi = feasible_ranges(values_arr, hidden_arr, equations, inequalities, cells=audited)
        if any(hi[c] - lo[c] < threshold for c in audited):
            return True
    # each group's severely absent pupils (of the finest groups, and of each row shown), and
    # its persistently but not severely absent (its absent, known, less those), must not be
    # pinned exactly when under the threshold: FSM and non-FSM means bounded their severe to
    # at most 7 and 5, and calibrate's 12 in all made them exactly 7 and 5 (and with 13 and
    # 11 of 20 absent each, the other 7 and 9). calibrate may print a total of at least the
    # threshold (it hides it when a remainder is small, as above), so the attacker is taken
    # to know it then.
    if values_arr[total] >= threshold:
        hidden_arr[total] = hidden_arr[rest] = False
    groups = [c for c, absent in absent_of.items() if hidden_arr[c]
              and min(values_arr[c], absent - values_arr[c]) < threshold]
    if not groups:
        return False
    lo, hi = feasible_ranges(values_arr, hidden_arr, equations, inequalities, cells=groups,
                             enough=1.0)
    return bool(any(hi[c] == lo[c] for c in groups))


def small_counts(ds: Dataset, by: list[str], threshold: int = DEFAULT_THRESHOLD
                 ) -> tuple[int, int]:
    """How many counts under ``threshold`` (the remainders, such as non-FSM pupils, too) the
    table of ``by`` and every smaller breakdown of it hold, and how many tables they are: the
    size of :func:`linked_masks`' audit, known before it starts."""
    small = tables = 0
    for size in range(1, len(by) + 1):
        for sub in combinations(by, size):
            counts = describe_counts(ds, list(sub))[COUNTS].astype("float64")
            tables += 1
            small += int((counts < threshold).to_numpy().sum())
            for part in COMPLEMENTS:
                small += int((counts[SUBSETS[part]] - counts[part] < threshold).sum())
    return small, tables


def _label(b: str) -> str:
    """The label column of breakdown ``b`` (a breakdown that is also a count gets ``_group``)."""
    return f"{b}_group" if b in COUNTS else b


def _row_order(ref: pd.DataFrame, table: pd.DataFrame, names: list[str]) -> list[int]:
    """Position in ``ref`` of each row of ``table`` (same groups, other order); Total last."""
    where = {tuple(row): i for i, row in enumerate(ref[names].iloc[:-1].itertuples(index=False))}
    body = table[names].iloc[:-1].itertuples(index=False)
    return [where[tuple(row)] for row in body] + [len(ref) - 1]


def linked_masks(ds: Dataset, by: list[str], threshold: int = DEFAULT_THRESHOLD,
                 _cache: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The counts of ``describe_counts(ds, by)`` and which are hidden (primary, secondary),
    audited with the published tables of every smaller breakdown of ``by``.

    Why: ``--by school`` shows A's 55 pupils and ``--by school,sex`` A's 50 girls; each table
    is safe alone, but together they give A's 5 boys. So each margin table's rows join the
    audit as sums of this table's rows: cells it shows are known, cells it hides stay hidden
    (and small ones are audited here too), and the Total is one number in all of them.
    """
    cache: dict = {} if _cache is None else _cache
    key = tuple(by)
    if key in cache:
        return cache[key]
    if not by:  # the Total row alone: the one margin every table shares
        table = describe_counts(ds, ["school"]).iloc[[-1]].reset_index(drop=True)
    else:
        table = describe_counts(ds, list(by))
    n, total = len(table), len(table) - 1
    extra: list[pd.DataFrame] = []
    sums: list[tuple[int, list[int]]] = []
    one_column: list[bool] = []  # whether each extra row is a group of a one-column table
    withheld = [np.zeros((n, len(COUNTS)), dtype=bool)]
    published = [np.zeros((n, len(COUNTS)), dtype=bool)]
    crossed = [COUNTS.index(f) for f in FLAGS if f not in by]
    if len(set(by) & set(FLAGS)) and crossed:
        # grouped by a flag, another flag's count is a cell of their crossing: --by school,sen
        # shows it as the eal of (A, SEN), --by school,eal as the sen of (A, EAL), each
        # audited in its own layout, and together they give every school's SEN-by-EAL table.
        # Only the rows of the flags in --by say it; other flags show in the Total row alone
        withheld[0][:total, crossed] = True
    # size 0: the Total is one number in every table, whatever its grouping (--by school and
    # --by sex are not nested, yet a Total cell hidden by one and shown by the other is shown)
    for size in range(0, len(by)):
        for sub in combinations(by, size):
            margin, m_primary, m_secondary = linked_masks(ds, list(sub), threshold, cache)
            hidden = (m_primary | m_secondary).to_numpy()
            shown = ~hidden & margin[COUNTS].notna().to_numpy()
            withheld[0][total] |= hidden[-1]  # the Total is the same number in every table
            published[0][total] |= shown[-1]
            # a count a margin hides is hidden in all the rows adding up to it: --by school
            # hid B's pupils, --by school,sen showed B's SEN and non-SEN pupils (so their sum),
            # and --by school,eal, audited with B's pupils hidden, then gave B's 4 EAL pupils.
            # This table says no more of a margin's hidden count than the margin does
            if not sub:
                withheld[0][:total] |= hidden[-1]
                continue
            names = [_label(b) for b in sub]
            body = table[names].iloc[:total]
            for j in range(len(margin) - 1):
                want = margin[names].iloc[j].to_numpy()
                rows = np.flatnonzero((body.to_numpy() == want).all(axis=1)).tolist()
                withheld[0][rows] |= hidden[j]
                sums.append((n + len(extra), rows))
                extra.append(margin.iloc[[j]])
                one_column.append(len(sub) == 1)
                withheld.append(hidden[[j]])
                published.append(shown[[j]])
    stacked = pd.concat([table, *extra], ignore_index=True) if extra else table
    known, told = _known_by_definition(stacked)
    # a row of a one-column table is a value some pupil has, so it has a pupil: hidden
    # schools of 1 and 9 beside a shown total are each 1 to 9, not 0 to 10. (A crossed table
    # prints every combination, an empty one too, so its rows may have none.)
    at_least = np.zeros((len(stacked), len(COUNTS)))
    students = COUNTS.index("students")
    at_least[:total, students] = float(len(by) == 1)
    at_least[n:, students] = np.array(one_column, dtype=float)
    primary, secondary = suppression_masks(
        stacked, COUNTS, threshold, total_row=total if by else None, total_column=None,
        subsets=SUBSETS, complements=COMPLEMENTS, sums=sums, withheld=np.vstack(withheld),
        published=np.vstack(published), zero_remainder_ok=ZERO_REMAINDER_OK, known=known,
        known_remainders=told, at_least=at_least)
    cache[key] = (table, primary.iloc[:n], secondary.iloc[:n])
    return cache[key]


def _known_by_definition(table: pd.DataFrame) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """What the labels and column definitions of ``table`` tell anyone, shown or not.

    A count that is not available (no pupil of the group has the flag recorded) adds 0 to the
    Total; in a row of ``fsm_group`` False the fsm count is 0, and in a row of ``fsm_group``
    True it is the row's students (the remainder, non-FSM pupils, is 0). The audit must know
    this too: with it an attacker reads the FSM group's size from the Total's fsm count.
    """
    known = table[COUNTS].isna().to_numpy()
    told: list[tuple[int, str]] = []
    for flag in FLAGS:
        label = _label(flag)
        if label not in table.columns:
            continue
        col = COUNTS.index(flag)
        for r, value in enumerate(table[label].tolist()):
            if value == "True":
                told.append((r, flag))
            elif value in ("False", "(missing)"):
                known[r, col] = True
    return known, told


# --------------------------------------------------------------------------------------------
# the summaries already published from a dataset folder


def data_digest(folder: Path, meta: dict) -> str:
    """SHA-256 of the dataset's table files (``meta``: its dataset.json): the ledger holds for
    these records only."""
    from srmsim.results import file_sha256

    tables = meta.get("tables", {}) if isinstance(meta, dict) else None
    digests = []
    for name in TABLES:
        entry = tables.get(name, {}) if isinstance(tables, dict) else None
        file = entry.get("file", f"{name}.parquet") if isinstance(entry, dict) else None
        # read_dataset checks these; a folder read without it (thresholds) is checked here
        if not isinstance(file, str) or Path(file).name != file or file in ("", ".", ".."):
            raise DataError(f"{folder / META_FILE}: not a dataset description written by "
                            f"srmsim (its {name} table's file is not a file of the folder)")
        try:
            digests.append(file_sha256(folder / file))
        except OSError as err:
            raise DataError(f"{folder / file}: cannot be read ({err.strerror or err})") from None
    return ",".join(digests)


def _read_ledger(path: Path) -> dict:
    """The ledger at ``path``, checked, or an error naming it: without it nothing is published."""
    try:
        ledger = load_json(path)
        ok = (isinstance(ledger, dict) and ledger.get("format") == "srmsim-published"
              and isinstance(ledger.get("tables"), list)
              and all(isinstance(t, list) and all(b in GROUPABLE for b in t)
                      for t in ledger["tables"])
              and whole(ledger.get("threshold"))
              and isinstance(ledger.get("data_sha256"), str)
              and isinstance(ledger.get("counted", []), list)
              and all(isinstance(c, str) for c in ledger.get("counted", [])))
    except ValueError as err:
        raise DataError(f"{path}: not readable ({str(err)[:200]}); it records the summaries "
                        "published from these records, so none is published without it") \
            from None
    if not ok:
        raise DataError(f"{path}: not a record of published summaries as srmsim writes it "
                        "(hand-edited or corrupt); none is published without it")
    return ledger


def _publishes(ledger: dict | None) -> bool:
    """Whether a ledger records anything published: a summary's table, or counts another
    command printed (``counted``: ``calibrate``)."""
    return ledger is not None and bool(ledger["tables"] or ledger.get("counted"))


def _check_no_unbound_copy(folder: Path, ledger: dict | None, what: str) -> None:
    """Refuse the first publication from records an anonymised copy was made of before
    anything was published from them (:data:`srmsim.data.dataset.EXPORTS_FILE`).

    Why: that copy was not bound (:func:`bind_copy` binds a copy by what its source published
    when it is made), so its summary could still be published, and beside this one the two
    Totals differ by the pupils k-anonymity suppressed (300 here, 295 in the copy: 5), by
    school and with their SEN and absence. Nothing in the copy can learn what is published
    here later, so it is refused here, before the first publication only: once something is
    published, copies made after it are bound. The check is this folder's record of its export,
    not where the copy is: a copy moved or renamed, and its summary published first, is met
    here all the same. Deleting the record is only for a copy never shared, nor anything
    published from it (its summary's Total beside this one's gave the suppressed pupils)."""
    from srmsim.data.dataset import EXPORTS_FILE

    exports = folder / EXPORTS_FILE
    if _publishes(ledger) or not (exports.exists() or exports.is_symlink()):
        return
    raise DataError(f"{folder}: nothing published: its records were anonymised ({exports}) "
                    "before anything was published from them\n"
                    f"  the copy, wherever it is now, is not bound by {what}: its counts "
                    "(a summary, calibrate, thresholds) beside these would give the pupils "
                    "k-anonymity suppressed\n"
                    "  publish from one of them only: from the copy; or, if neither the copy "
                    "nor anything published from it was ever shared, delete "
                    f"{exports} and run again")


def _dataset_meta(folder: Path, meta: dict | None) -> dict:
    if meta is None:
        try:
            meta = load_json(folder / META_FILE, max_bytes=1 << 20)
        except ValueError as err:
            raise DataError(f"{folder / META_FILE}: not readable ({str(err)[:200]})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{folder / META_FILE}: not a dataset description written by srmsim")
    return meta


def check_counts_allowed(folder: str | Path, what: str, meta: dict | None = None) -> None:
    """Before the work of a command that will print counts of the real records in ``folder``:
    refused as :func:`record_counts` would refuse it, writing nothing."""
    folder = Path(folder)
    meta = _dataset_meta(folder, meta)
    existing = _existing_ledger(path := folder / LEDGER_FILE)
    _check_same_records(path, existing, folder, meta, what)
    _check_no_unbound_copy(folder, existing, what)


def record_counts(folder: str | Path, what: str, meta: dict | None = None) -> None:
    """Before a command other than ``data summary`` prints counts of the real records in the
    dataset folder ``folder`` (``what``: ``calibrate``, whose ``n`` per moment is their pupils,
    or ``thresholds``, whose rows are), note it in the folder's ledger, so that an anonymised
    copy made afterwards is bound (:func:`bind_copy`) as after a summary: calibrate's n of 300
    beside a summary of the copy (295) gave the 5 pupils k-anonymity suppressed. Refused where
    the ledger was written from other records (:func:`_check_same_records`) or an unbound copy was
    made (:func:`_check_no_unbound_copy`). ``meta``: the folder's ``dataset.json`` (read when
    not given). A ledger that cannot be written publishes nothing."""
    from srmsim.outputs import folder_lock, write_file

    folder = Path(folder)
    path = folder / LEDGER_FILE
    meta = _dataset_meta(folder, meta)
    with folder_lock(folder.resolve()):
        existing = _existing_ledger(path)
        _check_same_records(path, existing, folder, meta, what)
        _check_no_unbound_copy(folder, existing, what)
        if existing is not None and what in existing.get("counted", []):
            return
        ledger = existing or {"format": "srmsim-published",
                              "data_sha256": data_digest(folder, meta),
                              "threshold": DEFAULT_THRESHOLD, "tables": [],
                              "audit": AUDIT_VERSION}
        ledger = {**ledger, "counted": sorted({*ledger.get("counted", []), what})}
        try:
            write_file(path, json_dumps(ledger, indent=2) + "\n", private=True)
        except OSError as err:
            raise DataError(f"{path}: cannot record {what} there ({err.strerror}); nothing is "
                            "published without the record") from None


def _existing_ledger(path: Path) -> dict | None:
    """The ledger at ``path``, None if there is none, or an error naming it. A symbolic link
    (dangling, or to a file elsewhere) or a folder in its place is not a ledger srmsim wrote:
    a dangling link read as "no ledger", and a summary the ledger refused was printed."""
    if not (path.exists() or path.is_symlink()):
        return None
    if path.is_symlink() or not path.is_file():
        raise DataError(f"{path}: not a file (a link or a folder); it records the summaries "
                        "published from these records, so none is published without it")
    return _read_ledger(path)


def carry_ledger(old: str | Path, new: str | Path) -> None:
    """Keep the record of the summaries published from the dataset folder ``old`` in ``new``,
    the folder that replaces it (``--overwrite``, written before the swap).

    Why: a summary of the new records beside one of the old could be differenced into a
    small count, so the new records' tables stay breakdowns of the same largest one at the same
    threshold; the record names the new records' digest (none when ``new`` holds no dataset,
    a rejected import: then it is kept as it is). A record srmsim cannot read refuses the
    replacement: it would be lost with the old folder."""
    from srmsim.outputs import write_file

    source = Path(old) / LEDGER_FILE
    try:
        ledger = _existing_ledger(source)
    except DataError:
        raise DataError(f"{source}: not readable, so the dataset is not replaced (it records "
                        "the summaries published from it): move it away first, or repair "
                        "it") from None
    if ledger is None:
        return
    meta_file = Path(new) / META_FILE
    if meta_file.is_file():
        ledger = {**ledger, "data_sha256": data_digest(Path(new), load_json(meta_file))}
    write_file(Path(new) / LEDGER_FILE, json_dumps(ledger, indent=2) + "\n", private=True)


def bind_copy(source: str | Path, copy: str | Path) -> None:
    """Bind ``copy``, a dataset made from the records of ``source`` (an anonymised copy), by
    the summaries already published from ``source``: its ledger is written into ``copy`` with
    ``source``'s digest, so no summary of the copy is published (:func:`record_summary`).

    Why: the copy holds the same pupils less those suppressed for k-anonymity, who are the
    rare ones; its ``--by school`` beside the source's gave, by the difference of the two
    tables, how many pupils of each school were suppressed and their SEN and absence. A ledger
    srmsim cannot read refuses the copy, as it refuses a summary."""
    from srmsim.outputs import write_file

    path = Path(source) / LEDGER_FILE
    ledger = _existing_ledger(path)
    if _publishes(ledger):
        write_file(Path(copy) / LEDGER_FILE, json_dumps(ledger, indent=2) + "\n", private=True)


def _check_same_records(path: Path, ledger: dict | None, folder: Path, meta: dict,
                        what: str) -> None:
    """Refuse counts of the records in ``folder`` when summaries published from other records
    bind it (:func:`bind_copy`: an anonymised copy of records a summary was published from).
    Why: ``what`` prints how many of the copy's pupils each figure rests on, and beside the
    source's summary that gave the pupils k-anonymity suppressed (445 in the summary, 442 in
    a calibration of the copy)."""
    if ledger is not None and _publishes(ledger) and ledger["data_sha256"] != data_digest(
            folder, meta):
        raise DataError(f"{path}: summaries were published from other records than {folder} "
                        f"holds (those it was copied from); {what} would print counts of these "
                        "records that could be differenced against them, so nothing is "
                        "published")


def record_summary(folder: str | Path, ds: Dataset, by: list[str], threshold: int) -> None:
    """Before a summary of real records is published: refuse it if, with the summaries already
    published from ``folder`` (its ``published.json``, owner-only), it could give a small
    count away; else add it there.

    Why: :func:`describe` audits a table with every smaller breakdown of it (``--by school``
    beside ``--by school,sex``), but ``--by school,sex`` and then ``--by school,fsm`` were each
    audited alone, and the FSM pupils of one sex in a school can be bounded from the two; a
    table at another ``--threshold`` hides other cells of the same groups. So every table of a
    dataset must be a breakdown of one of them (the largest, whose audit covers the rest) at one
    threshold: ``--by school,sex,fsm`` first, then each of its smaller breakdowns, is allowed.
    """
    folder = Path(folder)
    path = folder / LEDGER_FILE
    digest = data_digest(folder, ds.meta)
    new = sorted(by, key=GROUPABLE.index)
    ledger: dict = {"format": "srmsim-published", "data_sha256": digest, "threshold": threshold,
                    "tables": [], "audit": AUDIT_VERSION}
    existing = _existing_ledger(path)
    _check_no_unbound_copy(folder, existing, "this summary")
    if existing is not None:
        ledger = existing
        if ledger["tables"] and ledger.get("audit") != AUDIT_VERSION:
            raise DataError(f"{path}: the summaries it records were published by an srmsim "
                            "whose audit hid other cells (or counted persistent absence "
                            "otherwise), and the two are not audited together, so none is "
                            "published; if none of them was shared, delete the file and "
                            "publish again")
        if ledger["data_sha256"] != digest:
            raise DataError(f"{path}: summaries were published from other records (those "
                            "this folder was anonymised from, or these before a change); one "
                            "of these beside them could be differenced into small counts, so "
                            "none is published")
        if not ledger["tables"]:  # counts only (calibrate's): no table at a threshold yet
            ledger = {**ledger, "threshold": threshold}
        elif ledger["threshold"] != threshold:
            raise DataError(f"--threshold {threshold}: the summaries of {folder} were published "
                            f"with --threshold {ledger['threshold']}; at another threshold other "
                            "cells are hidden and the two could give a small count away")
    tables = [list(t) for t in ledger["tables"]]
    union = sorted({b for t in [*tables, new] for b in t}, key=GROUPABLE.index)
    if union not in [*tables, new]:
        largest = ",".join(union)
        raise DataError(f"--by {','.join(new)}: summaries of {folder} were published by "
                        f"{'; '.join(','.join(t) or 'Total' for t in tables)}, and this one "
                        f"with them could give a small count away (each was audited with its "
                        f"own breakdowns only); publish --by {largest} first, then any of its "
                        "breakdowns")
    if new not in tables:
        from srmsim.outputs import write_file

        ledger["tables"] = [*tables, new]
        ledger["audit"] = AUDIT_VERSION  # every table in it is this audit's (checked above)
        try:
            write_file(path, json_dumps(ledger, indent=2) + "\n", private=True)
        except OSError as err:
            raise DataError(f"{path}: cannot record the summary there ({err.strerror}); "
                            "nothing is published without the record") from None
