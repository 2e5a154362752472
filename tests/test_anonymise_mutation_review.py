"""Tests written by a mutation review of the code protecting real pupils' records before they
are pooled or exported: srmsim.data.anonymise (pseudonyms, dropped identifiers, private files),
srmsim.data.kanon (k-anonymity, l-diversity, coarsening) and srmsim.calibrate.disclosure (what
a calibration may print). Each test pins a property some small change to the code survived the
existing tests with; it asserts the property itself, not the code's shape.

Method: 115 mutants (42 of anonymise.py, 29 of kanon.py, 44 of disclosure.py: comparisons
against k and the threshold 10 flipped or shifted by one, checks dropped, key/label changes,
columns left unpseudonymised or undropped, identities and quantile bounds of the attacker model
removed or loosened), each applied alone outside the repository and run against the existing
tests of these modules (test_data_anonymise, test_privacy_mutation_review, test_privacy_calibrate,
test_privacy_attack_review and the anonymise/calibrate tests of test_input_safety,
test_hostile_properties, test_realdata_review, test_calibrate, test_stores_review).

Tried 115; killed by the existing tests 61; survived 54. Killed by the tests below: 37.
Left 17, of which equivalent 6:

- ``key.is_relative_to(out)`` alone for ``key == out or ...``: a path is relative to itself;
- anonymised dataset / report written with ``private=False``: ``replace_dir(private=True)``
  makes the whole new folder owner-only before it is swapped in (2 mutants);
- ``value_counts`` over ``astype("str")`` in generalise_rare: the fields are string dtype,
  whose ``astype("str")`` keeps missing values missing;
- a moment's ``n`` taken from the last moment sharing its cell instead of the largest: the
  moments of one cell are counted over the same pupils, so their ``n`` are equal;
- no priority for keeping the pupils-with-sessions count visible: changes which of several
  safe secondary suppressions is chosen, not whether one is (a usability preference).

Not equivalent, left (11): missing values recoded to the catch-all along with the rare ones
(coarser, and k is measured on what is written, so safe either way -- a design choice); and ten
changes to the moments audit's model that make it over-cautious or that other checks cover in
every case tried: kept population counts made primary; the ``not_absent`` identity and the
``absent_fsm_unknown <= fsm_unknown`` inequality removed (the FSM split, the quantile checks
and the remaining identities still protected every scenario, including one without FSM moments
or quantiles); the complement check and the ``max(0, ...)`` term of the quantile brackets
(no difference in 20,000 random data sets); the population inequalities; one-sided quantile
bound constants (2); ``threshold - 1`` passed to the secondary suppression (no scenario tried
gives a range of exactly 9); unpublished quantiles audited as published (over-cautious).

No defect was found: every small count the attacker below tried (differences, complements,
shares times denominators, quantile brackets) stayed protected with the code as it is.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import test_privacy_calibrate  # noqa: E402  (the independent attacker)
from test_privacy_attack import T  # noqa: E402  (the threshold, 10)

from srmsim.calibrate.disclosure import (  # noqa: E402
    CELLS,
    apply,
    protect_moments,
    quantile_bounds,
)
from srmsim.calibrate.moments import MOMENTS  # noqa: E402
from srmsim.data import Dataset  # noqa: E402
from srmsim.data.anonymise import anonymise, anonymise_dir  # noqa: E402
from srmsim.data.dataset import base_meta, write_dataset  # noqa: E402
from srmsim.data.kanon import k_anonymise, measure  # noqa: E402
from srmsim.data.schema import OBSERVATIONS, STUDENTS, conform  # noqa: E402
from srmsim.errors import DataError  # noqa: E402
from srmsim.privacy import key_id, pseudonymise  # noqa: E402

KEY = b"a-test-key-that-is-long-enough-1"
OTHER = b"another-test-key-long-enough-222"


def _students(n: int, **cols) -> pd.DataFrame:
    return conform(pd.DataFrame({"student_id": [f"s{i:04d}" for i in range(n)], **cols}),
                   STUDENTS)


# --------------------------------------------------------------------------------------------
# k-anonymity and l-diversity (srmsim.data.kanon)


def test_a_class_of_exactly_k_is_kept_and_one_of_k_minus_1_suppressed() -> None:
    """k = 10: a class of 10 students is published untouched, a class of 9 is not. (With
    ``<= k`` the class of 10 went too; with ``< k - 1`` the 9 were published.)"""
    k = 10
    st = _students(10 + 9 + 200, school="A",
                   year_group=[7] * 10 + [8] * 9 + [9] * 200, sex="F")
    res = k_anonymise(st, ["year_group"], k=k, max_suppressed=0.05)
    assert res.levels == {"year_group": 0}  # 9 of 219 is under 5%: suppressed, not coarsened
    kept = st.loc[~res.suppressed, "year_group"]
    assert (kept == 7).sum() == 10 and (kept == 8).sum() == 0
    assert int(res.suppressed.sum()) == 9
    assert res.achieved["k"] == 10


def test_missing_sensitive_values_do_not_count_towards_l_diversity() -> None:
    """l-diversity counts distinct *known* values: a class whose ``sen`` is True or missing
    tells everyone in it is SEN or unrecorded -- one value, not two."""
    t = pd.DataFrame({"a": [1] * 4 + [2] * 4,
                      "sen": pd.array([True, True, None, None, True, False, True, False],
                                      dtype="boolean")})
    assert measure(t, ["a"], ["sen"])["l"] == 1
    st = _students(40, school="A", year_group=[7] * 20 + [8] * 20,
                   sen=pd.array([True, None] * 10 + [True, False] * 10, dtype="boolean"))
    res = k_anonymise(st, ["year_group"], k=2, l_diversity=2, sensitive=["sen"],
                      max_suppressed=0.6)
    assert set(st.loc[res.suppressed, "year_group"]) == {7}
    assert res.achieved["l"] == 2


def test_l_is_the_least_over_all_sensitive_fields() -> None:
    """Two sensitive fields: the achieved l is the worse of the two."""
    t = pd.DataFrame({"a": [1] * 4, "s1": [1, 2, 3, 4], "s2": [1, 1, 1, 1]})
    m = measure(t, ["a"], ["s1", "s2"])
    assert m["l"] == 1 and m["l_by_field"] == {"s1": 4, "s2": 1}


def test_coarsened_categories_are_written_coarsened() -> None:
    """When sex and FSM are generalised, the published table holds the generalised values
    (not the raw ones the classes were measured without)."""
    rng = np.random.default_rng(3)
    n = 60
    st = _students(n, school="A", year_group=7, sex=rng.choice(["F", "M"], n),
                   fsm=rng.random(n) < 0.5)
    res = k_anonymise(st, ["year_group", "sex", "fsm"], k=40, max_suppressed=0.0)
    assert res.levels["sex"] == 1 and res.levels["fsm"] == 1
    assert set(res.frame["sex"].dropna()) == {"unknown"}
    assert res.frame["fsm"].isna().all()
    cols = [c for c in res.frame.columns if c.split("_m")[0] in ("year_group", "sex", "fsm")]
    assert res.frame.groupby(cols, dropna=False).size().min() >= 40


def test_nothing_is_coarsened_when_nobody_is_at_risk() -> None:
    """A table already k-anonymous is published as it is, even with ``max_suppressed=0``."""
    st = _students(40, school="A", year_group=[7] * 20 + [8] * 20, sex="F")
    res = k_anonymise(st, ["year_group", "sex"], k=10, max_suppressed=0.0)
    assert res.levels == {"year_group": 0, "sex": 0} and not res.descriptions
    assert not res.suppressed.any()


def test_the_coarsening_kept_is_the_one_leaving_fewest_at_risk() -> None:
    """Datafly: each round keeps the step leaving the fewest students in too-small classes.
    Here recoding sex leaves no one at risk and coarsening year group leaves everyone."""
    st = _students(60, school="A", year_group=[7] * 30 + [10] * 30,
                   sex=(["F"] * 25 + ["M"] * 5) * 2)
    res = k_anonymise(st, ["year_group", "sex"], k=10, max_suppressed=0.0)
    assert res.levels == {"year_group": 0, "sex": 1}
    assert not res.suppressed.any()


@pytest.mark.parametrize("quasi, coarsened", [(["year_group", "sex"], "year_group"),
                                               (["sex", "year_group"], "sex")])
def test_ties_go_to_more_distinct_values_then_to_the_quasi_order(quasi, coarsened) -> None:
    """The documented Datafly tie-break: of two steps leaving equally many at risk, the one
    on the attribute with more distinct values; with as many values too, the first named."""
    three = _students(30, school="A", year_group=[7] * 10 + [8] * 10 + [9] * 10,
                      sex=(["F"] * 5 + ["M"] * 5) * 3)
    res = k_anonymise(three, ["year_group", "sex"], k=10, max_suppressed=0.0)
    assert res.levels == {"year_group": 1, "sex": 0}  # 3 year groups beat 2 sexes
    two = _students(20, school="A", year_group=[7] * 10 + [8] * 10,
                    sex=(["F"] * 5 + ["M"] * 5) * 2)
    res = k_anonymise(two, quasi, k=10, max_suppressed=0.0)
    assert [q for q, lev in res.levels.items() if lev] == [coarsened]


def test_the_catch_all_value_is_never_reported_as_recoded() -> None:
    """Three pupils of sex 'unknown' are already the catch-all, and two with no sex recorded
    are missing, not a category: nothing to recode, nothing to report (the report lists only
    values that were changed)."""
    from srmsim.data.kanon import generalise_rare

    st = _students(45, school="A", sex=["F"] * 20 + ["M"] * 20 + ["unknown"] * 3 + [None] * 2)
    out, changed = generalise_rare(st, 5)
    assert changed == {}
    pd.testing.assert_frame_equal(out, st)


def test_the_suppression_flag_is_exact_at_the_limit() -> None:
    """Exactly ``max_suppressed`` of the table suppressed is within the limit, not over it."""
    st = _students(20, school=["A"] * 19 + ["B"])
    res = k_anonymise(st, ["school"], k=2, max_suppressed=0.05)
    assert int(res.suppressed.sum()) == 1 and not res.max_suppressed_exceeded


# --------------------------------------------------------------------------------------------
# anonymise: pseudonyms, identifiers, key, files


def _dataset(n: int = 120) -> Dataset:
    rng = np.random.default_rng(5)
    ids = [f"P{n - i:05d}" for i in range(n)]  # raw order: descending ids
    st = conform(pd.DataFrame({"student_id": ids, "school": ["North"] * n,
                               "year_group": rng.integers(7, 9, n), "sex": rng.choice(["F", "M"], n),
                               "age_months": rng.integers(140, 150, n)}), STUDENTS)
    ob = conform(pd.DataFrame({"student_id": np.repeat(ids, 2), "school": "North",
                               "period_type": "week", "period": np.tile([1, 2], n),
                               "sessions_possible": 10, "sessions_attended": 9}), OBSERVATIONS)
    return Dataset(st, ob, base_meta(reference_date="2024-09-01"))


def test_pseudonyms_are_keyed_and_not_a_plain_hash_of_the_id() -> None:
    """A pseudonym is neither the id nor an unkeyed hash anyone could recompute; it is the same
    for the same key and different under another key; the key and its bytes never reach the
    dataset's metadata, only the one-way fingerprint :func:`key_id`."""
    import hashlib

    ds = _dataset()
    a, rep = anonymise(ds, KEY, quasi=["year_group"], k=2)
    a2, _ = anonymise(ds, KEY, quasi=["year_group"], k=2)
    b, rep_b = anonymise(ds, OTHER, quasi=["year_group"], k=2)
    raw = set(ds.students["student_id"])
    pseud = set(a.students["student_id"])
    assert not pseud & raw
    for i in raw:
        plain = {hashlib.sha256(i.encode()).hexdigest()[:16], hashlib.md5(i.encode()).hexdigest()[:16],
                 hashlib.sha256(("student\x1f" + i).encode()).hexdigest()[:16]}
        assert not plain & pseud
    assert pseud == set(a2.students["student_id"])
    assert not pseud & set(b.students["student_id"])
    assert a.meta["key_id"] == rep.key_id == key_id(KEY) != rep_b.key_id == key_id(OTHER)
    meta_text = repr(a.meta) + repr(rep.to_dict())
    for form in (KEY.decode(), KEY.hex(), KEY.hex().upper()):
        assert form not in meta_text


def test_observation_rows_are_in_pseudonym_order_not_the_exports() -> None:
    """The observations, like the students, are written in pseudonym order: the export's row
    order (here descending raw ids) would otherwise link rows back to the class list."""
    ds = _dataset()
    a, _ = anonymise(ds, KEY, quasi=["year_group"], k=2)
    ob = a.observations
    assert ob["student_id"].is_monotonic_increasing
    raw_order = list(dict.fromkeys(pseudonymise(ds.observations["student_id"], KEY, "student")))
    assert list(dict.fromkeys(ob["student_id"])) != raw_order


def test_school_pseudonyms_are_keyed_under_their_own_label_and_unknown_columns_go() -> None:
    """A school's pseudonym is the documented HMAC with label ``school`` (a student whose id
    happens to equal a school code must not share its pseudonym), and a column that is not
    a schema field -- it could hold anything, a nickname or a social worker's note -- is
    dropped from both tables."""
    ds = _dataset()
    st = ds.students.assign(nickname="Bobby")
    ob = ds.observations.assign(comment="called home")
    a, rep = anonymise(Dataset(st, ob, ds.meta), KEY, quasi=["year_group"], k=2)
    assert set(a.students["school"]) == set(a.observations["school"]) \
        == {pseudonymise(pd.Series(["North"]), KEY, "school").iloc[0]}
    assert pseudonymise(pd.Series(["North"]), KEY, "student").iloc[0] not in set(
        a.students["school"])
    assert "nickname" in rep.columns_dropped["students"] and "nickname" not in a.students
    assert "comment" in rep.columns_dropped["observations"] and "comment" not in a.observations


def test_a_key_anywhere_under_the_output_folder_is_refused(tmp_path: Path) -> None:
    """The key must never travel with the data: not in the output folder, nor in any folder
    under it (shared with it); beside it is fine."""
    from srmsim.data.anonymise import check_key_location

    out = tmp_path / "anon"
    for key in (out, out / "key", out / "keys" / "key", out / "a" / "b" / "key"):
        with pytest.raises(DataError, match="inside the output directory"):
            check_key_location(key, out)
    check_key_location(tmp_path / "key", out)
    check_key_location(tmp_path / "anon2" / "key", out)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_anonymised_copy_is_private_to_the_user(tmp_path: Path) -> None:
    """Pseudonymised records are still personal data: the folder and every file in it are the
    owner's only (no group or other bits)."""
    write_dataset(_dataset(), tmp_path / "raw")
    anonymise_dir(tmp_path / "raw", tmp_path / "anon", KEY, quasi=["year_group"], k=2)
    out = tmp_path / "anon"
    for p in [out, *out.iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p


@pytest.mark.parametrize("k", [5, 10])
def test_anonymise_recodes_a_category_of_k_minus_1_pupils_and_keeps_one_of_k(k) -> None:
    """End to end: ``k - 1`` pupils recorded with sex 'other' are recoded to the catch-all
    (printed, the category names a group smaller than k); ``k`` of them are kept."""
    ds = _dataset()
    for n_other, recoded in ((k - 1, True), (k, False)):
        st = ds.students.copy()
        st.loc[st.index[:n_other], "sex"] = "other"
        a, rep = anonymise(Dataset(st, ds.observations, ds.meta), KEY, quasi=["school"], k=k)
        assert ("other" in set(a.students["sex"].dropna())) == (not recoded), n_other
        assert (rep.rare_categories.get("sex", {}).get("other") == n_other) == recoded


def test_a_student_listed_twice_is_refused_not_counted_twice() -> None:
    """Two rows with one student id would be one pupil counted as two in a k-anonymous class
    (a class of one published as a class of two), and the observations could not be told
    apart: refused with a DataError."""
    ds = _dataset()
    st = pd.concat([ds.students, ds.students.iloc[:1]], ignore_index=True)
    with pytest.raises(DataError, match="duplicate ids"):
        anonymise(Dataset(st, ds.observations, ds.meta), KEY, quasi=["year_group"], k=2)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "--k must be at least 2"),
    ({"k": 1}, "--k must be at least 2"),
    ({"l_diversity": 0}, "--l must be at least 1"),
    ({"max_suppressed": 1.0}, "--max-suppressed"),
    ({"quasi": ["student_id"]}, "student_id is pseudonymised"),
    ({"quasi": ["sex", "sex"]}, "given more than once"),
    ({"quasi": []}, "--quasi names no field"),
    ({"quasi": ["date_of_birth"]}, "dropped by anonymise"),
    ({"quasi": ["fsm"]}, "has no column"),
])
def test_anonymise_refuses_arguments_that_would_protect_nothing(kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        anonymise(_dataset(), KEY, **{"quasi": ["year_group"], **kwargs})


def test_dates_of_birth_become_ages_at_the_given_reference_date() -> None:
    """The reference date passed overrides the import's; a recorded age is kept; ages just at
    the schema's bounds are accepted and one month beyond is refused."""
    import datetime as dt

    from srmsim.data.schema import MAX_AGE_MONTHS, MIN_AGE_MONTHS

    ref = dt.date(2024, 9, 1)
    dob = pd.to_datetime([dt.date(2024 - MIN_AGE_MONTHS // 12, 9, 1),
                          dt.date(2024 - MAX_AGE_MONTHS // 12, 9, 1),
                          dt.date(2012, 9, 1), dt.date(2012, 9, 1)])
    st = conform(pd.DataFrame({"student_id": list("abcd"), "school": "A",
                               "date_of_birth": dob, "age_months": [None, None, None, 150]}),
                 STUDENTS)
    ob = conform(pd.DataFrame({"student_id": ["a"], "school": ["A"], "period_type": ["week"],
                               "period": [1]}), OBSERVATIONS)
    ds = Dataset(st, ob, base_meta(reference_date="2030-01-01"))
    a, rep = anonymise(ds, KEY, quasi=["school"], k=2, reference_date=ref)
    assert rep.reference_date == "2024-09-01"
    ages = a.students.set_index("student_id")["age_months"]
    pid = dict(zip(list("abcd"), pseudonymise(pd.Series(list("abcd")), KEY, "student"),
                   strict=True))
    assert ages[pid["a"]] == MIN_AGE_MONTHS and ages[pid["b"]] == MAX_AGE_MONTHS
    assert ages[pid["c"]] == 144 and ages[pid["d"]] == 150  # recorded age kept
    for too in (dt.date(2024 - MIN_AGE_MONTHS // 12, 9, 2),  # a day short of 3
                dt.date(2024 - MAX_AGE_MONTHS // 12, 8, 1)):  # 25 and a month
        bad = st.copy()
        bad.loc[0, "date_of_birth"] = pd.Timestamp(too)
        with pytest.raises(DataError, match="under 3 or over 25"):
            anonymise(Dataset(bad, ob, base_meta()), KEY, quasi=["school"], k=2, reference_date=ref)


# --------------------------------------------------------------------------------------------
# calibration moments (srmsim.calibrate.disclosure)

#: the attacker's identities, written here apart from srmsim's (a count left out of srmsim's
#: lists must still be found by the attacker): n - events, absent - severe, the FSM unknown
ATTACK_DERIVED = {"not_absent": {"sessions": 1, "absent": -1},
                  "not_severe": {"sessions": 1, "severe": -1},
                  "not_absent_fsm": {"fsm": 1, "absent_fsm": -1},
                  "not_absent_non_fsm": {"non_fsm": 1, "absent_non_fsm": -1},
                  "absent_not_severe": {"absent": 1, "severe": -1}}
ATTACK_UNKNOWN = {"fsm_unknown": {"sessions": 1, "fsm": -1, "non_fsm": -1},
                  "absent_fsm_unknown": {"absent": 1, "absent_fsm": -1, "absent_non_fsm": -1},
                  "sessions_no_attainment": {"sessions": 1, "both": -1},
                  "attainment_no_sessions": {"attainment": 1, "both": -1}}


def moments_attack(table: pd.DataFrame, cells: dict[str, float]) -> list[tuple[str, float]]:
    """test_privacy_calibrate's attacker, with this file's identities."""
    mod = test_privacy_calibrate
    saved = mod.DERIVED, mod.UNKNOWN
    mod.DERIVED, mod.UNKNOWN = ATTACK_DERIVED, ATTACK_UNKNOWN
    try:
        return mod.moments_attack(table, cells)
    finally:
        mod.DERIVED, mod.UNKNOWN = saved


BASE = {"sessions": 400, "absent": 90, "severe": 20, "fsm": 100, "absent_fsm": 40,
        "non_fsm": 280, "absent_non_fsm": 35, "attainment": 400, "both": 400, "reading": 400}
RATE = {m.name for m in MOMENTS if m.rate}


def _cells(**over: float) -> dict[str, float]:
    cells = {**BASE, **over}
    for name, parts in {**ATTACK_DERIVED, **ATTACK_UNKNOWN}.items():
        cells[name] = sum(k * cells[p] for p, k in parts.items())
    return cells


def _publish(cells: dict[str, float], quantiles: dict[str, float] | None = None,
             published: list[str] | None = None) -> tuple[pd.DataFrame, object]:
    """The moments table as calibrate prints it: counts, shares to 4 decimals, quantiles."""
    if quantiles is None:  # the quantiles of rates that fit the counts
        from srmsim.calibrate.disclosure import QUANTILES

        n, a, s = int(cells["sessions"]), int(cells["absent"]), int(cells["severe"])
        rates = np.r_[np.full(s, 0.3), np.full(a - s, 0.7), np.full(n - a, 0.97)]
        quantiles = {m: float(np.quantile(rates, p)) for m, p in QUANTILES.items()}
    rows = []
    for m, (n_cell, e_cell) in CELLS.items():
        n, ev = cells[n_cell], cells[e_cell] if e_cell else 0
        value = ev / n if e_cell else quantiles.get(m, 0.5)
        rows.append({"moment": m, "n": n, "events": ev, "value": value})
    counts = pd.DataFrame(rows)
    published = list(CELLS) if published is None else published
    w = protect_moments(counts, published)
    fit = counts.assign(target=[f"{v:.4f}" for v in counts["value"]]).drop(columns="value")
    table = apply(fit, w)
    return table[table["moment"].isin(published)].reset_index(drop=True), w


@pytest.mark.parametrize("over", [
    {"severe": 9},                                   # a count of 9 printed directly
    {"absent": 395, "absent_fsm": 96, "absent_non_fsm": 279},  # 5 not absent: n - events
    {"absent": 20, "severe": 13, "absent_fsm": 5, "absent_non_fsm": 10},  # 7 absent, not severe
    {"absent": 150, "absent_fsm": 96, "absent_non_fsm": 50},  # 4 FSM not absent
    {"non_fsm": 296, "absent_non_fsm": 48},          # 4 with FSM unknown
    {"absent_non_fsm": 45},                          # 5 absent with FSM unknown
    {"non_fsm": 299, "absent_non_fsm": 50},          # 1 with FSM unknown
    {"both": 394},                                   # 6 with sessions but no score
    {"both": 399},                                   # 1 with sessions but no score
    {"attainment": 404},                             # 4 with a score but no sessions
])
def test_no_small_count_is_recovered_from_the_printed_moments(over) -> None:
    """Each case hides a count under 10 behind one difference, complement or share of the
    printed table; the attacker (an integer programme over everything printed) must not pin
    it to a range narrower than 10."""
    cells = _cells(**over)
    table, _ = _publish(cells)
    assert moments_attack(table, cells) == []


def test_population_counts_and_a_partial_population_is_refused() -> None:
    """The records' counts other commands print: pupils, FSM, non-FSM and unknown-FSM pupils
    (these four add up). Half a population would audit against counts the attacker does not
    have: refused."""
    from srmsim.calibrate.disclosure import population_counts

    m = pd.DataFrame({"fsm": [1, 0, 0, None, 1, None, None]})
    assert population_counts(m) == {"students": 7, "fsm_all": 2, "non_fsm_all": 2,
                                    "fsm_unknown_all": 3}
    counts = pd.DataFrame({"moment": list(CELLS), "n": 400, "events": 40})
    with pytest.raises(ValueError, match="population: give all of"):
        protect_moments(counts, list(CELLS), population={"students": 400})


def test_a_moment_based_on_fewer_than_ten_pupils_is_withheld() -> None:
    """Eight pupils with a reading age: the reading-gap mean and spread of eight pupils are
    withheld (shown ``low``/``x``), not merely their count hidden."""
    table, w = _publish(_cells(reading=8))
    assert {"reading_gap_mean", "reading_gap_sd"} <= w.moments
    rows = table.set_index("moment")
    assert rows.loc["reading_gap_mean", "target"] == "low"
    assert rows.loc["reading_gap_mean", "n"] != "8"


def test_n_minus_events_is_protected_when_the_fsm_split_is_not_printed() -> None:
    """Without the FSM moments and the quantiles, 400 pupils with sessions and 395 persistently
    absent would say 5 are not: the complement alone must be audited."""
    cells = _cells(absent=395, absent_fsm=96, absent_non_fsm=279)
    published = [m for m in CELLS if "fsm" not in m and m not in QS]
    table, _ = _publish(cells, published=published)
    assert moments_attack(table, cells) == []


def test_a_count_of_exactly_ten_is_printed_and_nine_is_not() -> None:
    """The threshold is 10: nine severely absent pupils are hidden, ten are printed (and the
    rest of the table with them)."""
    table, w = _publish(_cells(severe=10))
    assert w.threshold == T == 10
    assert w.counts == frozenset() and w.moments == frozenset()
    assert table.set_index("moment").loc["severe_absence", "events"] == "10"
    assert (table["note"] == "").all()
    table, w = _publish(_cells(severe=9))
    assert ("severe_absence", "events") in w.counts and "severe_absence" in w.moments
    assert table.set_index("moment").loc["severe_absence", "events"] != "9"


def test_quantile_bounds_hold_the_count_and_are_the_tightest() -> None:
    """Each quantile's (least, greatest) for the pupils at or below 0.9 and 0.5 holds the true
    count on every data set, and is reached on some: a looser bound than the printed quantile
    gives would let the audit pass a table the attacker can still narrow."""
    rng = np.random.default_rng(11)
    from srmsim.calibrate.disclosure import AT_MOST_RATE, QUANTILES

    slack_lo, slack_hi = {c: [] for c in AT_MOST_RATE}, {c: [] for c in AT_MOST_RATE}
    for _ in range(400):
        n = int(rng.integers(2, 40))
        rates = rng.choice([0.3, 0.5, 0.7, 0.9, 0.95, 1.0], n) if rng.random() < 0.5 \
            else rng.random(n)
        qs = {m: float(np.quantile(rates, p)) for m, p in QUANTILES.items()}
        for cell, bounds in quantile_bounds(n, qs).items():
            truth = int((rates <= AT_MOST_RATE[cell]).sum())
            for _, lo, hi in bounds:
                assert lo <= truth <= hi, (cell, n, lo, hi, truth)
                if lo > 0:
                    slack_lo[cell].append(truth - lo)
                if hi < n:
                    slack_hi[cell].append(hi - truth)
    for cell in AT_MOST_RATE:
        assert min(slack_lo[cell]) == 0 and min(slack_hi[cell]) == 0, cell
    # a quantile that could not be computed says nothing
    assert quantile_bounds(50, {"attendance_p10": float("nan")}) == {c: [] for c in AT_MOST_RATE}


def test_a_quantile_bracketing_a_small_count_is_withheld() -> None:
    """60 pupils with sessions, 7 persistently absent: a 10th percentile of 0.7 says at least
    6 are, a 25th of 0.95 at most 15 -- a bracket of 9. The audit withholds a quantile."""
    cells = _cells(sessions=60, absent=7, severe=0, fsm=30, absent_fsm=4, non_fsm=30,
                   absent_non_fsm=3, attainment=60, both=60, reading=60)
    table, w = _publish(cells, {"attendance_p10": 0.7, "attendance_p25": 0.95,
                                "attendance_p50": 0.97})
    assert moments_attack(table, cells) == []
    assert w.moments & {"attendance_p10", "attendance_p25"}


def _school(n: int, absent: int, severe: int, mid: float, rest: float
            ) -> tuple[dict[str, float], dict[str, float]]:
    """Counts of one group of ``n`` pupils (``absent`` persistently, ``severe`` of them
    severely: attendance 0.3, the other absent ``mid``, the rest ``rest``) and its quantiles."""
    from srmsim.calibrate.disclosure import QUANTILES

    cells = _cells(sessions=n, absent=absent, severe=severe, fsm=n // 2,
                   absent_fsm=absent // 2, non_fsm=n - n // 2,
                   absent_non_fsm=absent - absent // 2, attainment=n, both=n, reading=n)
    rates = np.r_[np.full(severe, 0.3), np.full(absent - severe, mid), np.full(n - absent, rest)]
    return cells, {m: float(np.quantile(rates, p)) for m, p in QUANTILES.items()}


QS = {"attendance_p10", "attendance_p25", "attendance_p50"}


def test_a_quantile_bracket_of_exactly_ten_or_around_a_count_of_ten_is_printed() -> None:
    """The rule is a range *narrower* than 10 around a count *under* 10. 39 pupils, 16 absent
    at 0.7 and none severely: the 10th percentile (0.7) says at most 4 are severely absent and
    is withheld; the 25th (0.7) says at most 10 -- a range of exactly 10 -- and is printed.
    64 pupils, 10 of them severely absent: a count of 10 is not small, nothing is withheld."""
    cells, qs = _school(39, 16, 0, 0.7, 0.95)
    table, w = _publish(cells, qs)
    assert w.moments & QS == {"attendance_p10"}
    assert moments_attack(table, cells) == []
    cells, qs = _school(64, 54, 10, 0.9, 0.95)
    table, w = _publish(cells, qs)
    assert not w.moments & QS
    assert moments_attack(table, cells) == []


def test_quantiles_are_withheld_only_as_far_as_needed() -> None:
    """13 pupils, 7 absent (3 severely): withholding the 25th and 50th percentiles leaves the
    10th harmless; withholding all three hides more than the rule asks."""
    cells, qs = _school(13, 7, 3, 0.9, 0.95)
    table, w = _publish(cells, qs)
    assert moments_attack(table, cells) == []
    assert "attendance_p10" not in w.moments and w.moments & QS
