"""Make an imported dataset safe to pool: pseudonyms, no identifiers, k-anonymity, a report.

Steps, in order (each one is listed in the report with counts):

1. drop direct identifiers (name, UPN, address, postcode) and free text (notes), and any column
   that is not a schema field (it could hold anything);
2. date of birth -> ``age_months`` at the reference date (the import's, unless overridden), then
   drop the date of birth;
3. replace ``student_id`` and ``school`` in both tables by keyed pseudonyms
   (:func:`srmsim.privacy.pseudonymise`, labels ``student`` and ``school``);
4. recode rare categories (fewer than k students, e.g. a sex recorded for 2 pupils) to the field's
   catch-all value;
5. k-anonymity / l-diversity over the quasi-identifiers (:mod:`srmsim.data.kanon`): generalise,
   then suppress students in classes still too small, and drop their observations;
6. write rows in pseudonym order, because the export's row order (often alphabetical by name)
   would otherwise link the anonymised rows back to a class list.

The key is never written; ``dataset.json`` stores only its fingerprint
(:func:`srmsim.privacy.key_id`) so that datasets pseudonymised with the same key can be linked.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srmsim.data.dataset import Dataset, base_meta, read_dataset, write_dataset
from srmsim.data.kanon import generalise_rare, hierarchy, k_anonymise
from srmsim.data.schema import MAX_AGE_MONTHS, MIN_AGE_MONTHS, OBSERVATIONS, STUDENTS, TABLES
from srmsim.data.validate import age_in_months
from srmsim.errors import DataError
from srmsim.labels import agree, excerpt, plural
from srmsim.outputs import json_dumps
from srmsim.privacy import (
    DEFAULT_SYMBOLS,
    DEFAULT_THRESHOLD,
    key_id,
    pseudonymise,
    suppression_masks,
)

DEFAULT_QUASI = ("school", "year_group", "age_months", "sex", "fsm", "sen", "eal")
REPORT_FILE = "anonymisation_report.json"


@dataclass
class AnonymisationReport:
    """What anonymise changed, with counts; printed and written as JSON."""

    columns_dropped: dict[str, list[str]] = field(default_factory=dict)
    pseudonymised: list[str] = field(default_factory=list)
    dob_converted: int = 0
    reference_date: str | None = None
    rare_categories: dict[str, dict[str, int]] = field(default_factory=dict)
    quasi_identifiers: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    k_target: int = 5
    l_target: int = 1
    generalised: dict[str, str] = field(default_factory=dict)
    students_in: int = 0
    students_suppressed: int = 0
    observations_in: int = 0
    observations_suppressed: int = 0
    achieved_k: int | None = None
    achieved_l: int | None = None
    max_suppressed: float = 0.05
    max_suppressed_exceeded: bool = False
    key_id: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def shareable(self) -> dict[str, Any]:
        """The report as written into the anonymised folder, which travels with the records:
        how many rare values of each field were recoded, not which or how many pupils had them.

        The values and their counts (``sex: other (2)``) would undo the recoding they report:
        beside the records, the pupils holding the field's catch-all value are those very few
        (all of them, when one value was recoded into an empty catch-all). The values are
        printed to the user who ran the command (:meth:`format`, with the same counts
        withheld). Its counts of pupils and observations are suppressed as a summary's are
        (:meth:`_shareable_counts`)."""
        shared = {k: v for k, v in self.__dict__.items() if k != "rare_categories"}
        shared["rare_values_recoded"] = {f: len(vals) for f, vals in self.rare_categories.items()}
        shared.update(self._shareable_counts())
        shared["suppression"] = {
            "threshold": DEFAULT_THRESHOLD, "confidential": DEFAULT_SYMBOLS.confidential,
            "note": f"{DEFAULT_SYMBOLS.confidential} = a count of pupils below "
                    f"{DEFAULT_THRESHOLD} (zero included), or one hidden so that none can be "
                    "worked out from the counts shown or the records beside this report"}
        return shared

    def _hidden_counts(self) -> set[str]:
        """Which of the report's counts of pupils and observations are suppressed, as a
        summary's are: the one rule for the file in the folder and for the printed report.

        Pupils suppressed for k-anonymity (5 of 300) and pupils without a date of birth
        (``students_in - dob_converted``) are small counts of real pupils. The records beside
        the report give the kept pupils and observations (``in - suppressed``), so those
        remainders are taken as known in the audit (:func:`srmsim.privacy.suppression_masks`),
        and observation counts, which are pupils times weeks, are hidden with the pupils'."""
        dob = float(self.dob_converted) if self.reference_date is not None else np.nan
        table = pd.DataFrame({"in": [float(self.students_in), float(self.observations_in)],
                              "suppressed": [float(self.students_suppressed),
                                             float(self.observations_suppressed)],
                              "with_dob": [dob, np.nan]}, index=["students", "observations"])
        cols = ["in", "suppressed", "with_dob"]
        primary, secondary = suppression_masks(
            table, cols, total_row=None, total_column=None,
            subsets={"suppressed": "in", "with_dob": "in"},
            complements=["suppressed", "with_dob"], zero_remainder_ok=["with_dob"],
            # an export gives most often every pupil's date of birth: with none missing, a
            # shown dob_converted is students_in (300 beside 295 records gave the 5)
            known_remainders=[(0, "suppressed"), (1, "suppressed")]
            + ([(0, "with_dob")] if dob == self.students_in else []))
        hide = (primary | secondary).to_numpy().copy()
        if hide[0, :2].any():  # observations per pupil would give the pupils back
            hide[1, :2] = True
        names = {(0, 0): "students_in", (0, 1): "students_suppressed",
                 (1, 0): "observations_in", (1, 1): "observations_suppressed",
                 (0, 2): "dob_converted"}
        return {name for (i, j), name in names.items()
                if hide[i, j] and not (j == 2 and self.reference_date is None)}

    def _shareable_counts(self) -> dict[str, int | str]:
        """The report's counts of pupils and observations, small ones suppressed
        (:meth:`_hidden_counts`)."""
        hidden = self._hidden_counts()
        return {name: DEFAULT_SYMBOLS.confidential if name in hidden else getattr(self, name)
                for name in ("students_in", "students_suppressed", "observations_in",
                             "observations_suppressed", "dob_converted")}

    def _rare_shown(self) -> dict[str, dict[str, str]]:
        """Each rare value recoded and its pupils, a count under the threshold hidden (each
        value's count is of fewer than k pupils: 3 pupils recorded as sex V)."""
        shown: dict[str, dict[str, str]] = {}
        for f, vals in self.rare_categories.items():
            if not vals:
                shown[f] = {}
                continue
            table = pd.DataFrame({"pupils": [float(n) for n in vals.values()]})
            primary, secondary = suppression_masks(table, ["pupils"], total_row=None,
                                                   total_column=None)
            hide = (primary | secondary)["pupils"].tolist()
            shown[f] = {str(v): DEFAULT_SYMBOLS.confidential if h else f"{n:,}"
                        for (v, n), h in zip(vals.items(), hide, strict=True)}
        return shown

    def format(self) -> str:
        """The report as printed: the same counts withheld as in the folder's report
        (:meth:`_hidden_counts`), since printed text is pasted into reports too; the rare
        values are named (the folder's report only counts them), their pupils withheld when
        under the threshold. The smallest class is printed only when it is at least the
        threshold: ``achieved k = 7`` says some 7 pupils share their quasi-identifiers."""
        hidden = self._hidden_counts()
        c = DEFAULT_SYMBOLS.confidential

        def count(name: str) -> str:
            return c if name in hidden else f"{getattr(self, name):,}"

        lines = ["anonymisation report"]
        for t, cols in self.columns_dropped.items():
            if cols:
                lines.append(f"  {t}: columns dropped: {', '.join(cols)}")
        lines.append(f"  pseudonymised (HMAC-SHA256, key id {self.key_id}): "
                     f"{', '.join(self.pseudonymised)}")
        if self.dob_converted:
            lines.append(f"  date_of_birth -> age_months at {self.reference_date} for "
                         + (f"{c} students" if "dob_converted" in hidden
                            else plural(self.dob_converted, "student")))
        rare = self._rare_shown()
        for f, vals in rare.items():
            items = ", ".join(f"{v} ({n})" for v, n in vals.items())
            lines.append(f"  rare {f} values recoded: {items}")
        lines.append(f"  quasi-identifiers: {', '.join(self.quasi_identifiers) or '(none)'}; "
                     f"k >= {self.k_target}" + (f", l >= {self.l_target} over "
                                                f"{', '.join(self.sensitive)}"
                                                if self.sensitive else ""))
        for f, how in self.generalised.items():  # global recoding: every student alike
            lines.append(f"  {f}: removed for every student" if how == "not shown" else
                         f"  generalised {f} -> {how} (for every student)")
        lines.append(f"  students suppressed: {count('students_suppressed')} of "
                     f"{count('students_in')}; their observations removed: "
                     f"{count('observations_suppressed')} of {count('observations_in')}")
        l_part = f", l = {self.achieved_l}" if self.sensitive else ""
        if self.achieved_k is not None and self.achieved_k >= DEFAULT_THRESHOLD:
            lines.append(f"  achieved k = {self.achieved_k}{l_part}")
        elif self.achieved_k is not None:  # the smallest class's pupils: a small count
            lines.append(f"  achieved: k >= {self.k_target} met{l_part} (the smallest "
                         f"class, under {DEFAULT_THRESHOLD} pupils, is not printed)")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        if hidden or any(c in vals.values() for vals in rare.values()):
            lines.append(f"  {c} = a count of pupils below {DEFAULT_THRESHOLD} (zero included), "
                         "or one hidden so that none can be worked out\n"
                         f"    (as in {REPORT_FILE})")
        return "\n".join(lines)


def check_key_location(key_file: str | Path | None, out: str | Path,
                       in_dir: str | Path | None = None) -> None:
    """Refuse a key file inside the output directory, the input dataset's folder or any other
    dataset folder: the key must never sit with the data. A folder is shared whole, and a key
    beside the raw records it pseudonymises links every pseudonym back to a pupil's id."""
    if key_file is None:
        return
    key = Path(key_file).resolve()
    out_dir = Path(out).resolve()
    if key == out_dir or key.is_relative_to(out_dir):
        raise DataError(f"key file {key_file} is inside the output directory {out}; keep the key "
                        "away from the pseudonymised data")
    from srmsim.data.dataset import is_dataset_folder

    src = None if in_dir is None else Path(in_dir).resolve()
    for folder in key.parents:
        if folder == src or is_dataset_folder(folder):
            raise DataError(f"key file {key_file} is inside the dataset folder {folder}, which "
                            "travels with the key when it is shared; keep the key outside every "
                            "dataset folder")


def anonymise(ds: Dataset, key: bytes, quasi: list[str] | tuple[str, ...] = DEFAULT_QUASI,
              k: int = 5, l_diversity: int = 1, sensitive: list[str] | tuple[str, ...] = (),
              max_suppressed: float = 0.05, reference_date: dt.date | None = None
              ) -> tuple[Dataset, AnonymisationReport]:
    """An anonymised copy of ``ds`` and the report of what was changed."""
    quasi, sensitive = list(quasi), list(sensitive)
    _check_args(ds, quasi, k, l_diversity, sensitive, max_suppressed)
    rep = AnonymisationReport(quasi_identifiers=quasi, sensitive=sensitive, k_target=k,
                              l_target=l_diversity, max_suppressed=max_suppressed, key_id=key_id(key))
    st, ob = ds.students.copy(), ds.observations.copy()
    rep.students_in, rep.observations_in = len(st), len(ob)

    # 2. date of birth -> age in months (before dropping columns)
    has_dob = "date_of_birth" in st.columns and bool(st["date_of_birth"].notna().any())
    if reference_date is not None and not has_dob:  # accepted and changing nothing before
        raise DataError(f"--reference-date {reference_date.isoformat()}: the records hold no "
                        "date of birth to compute ages from (their ages are as recorded); "
                        "leave it out")
    if has_dob:
        ref = reference_date or _meta_date(ds.meta.get("reference_date"))
        if ref is None:
            raise DataError("the dataset has dates of birth but no reference date to compute "
                            "ages at; pass --reference-date YYYY-MM-DD")
        age = age_in_months(st["date_of_birth"], ref)
        if "age_months" not in st.columns:
            st["age_months"] = pd.Series(pd.NA, index=st.index, dtype="Int64")
        fill = st["age_months"].isna() & age.notna()
        imported_at = _meta_date(ds.meta.get("reference_date"))
        if reference_date is not None and imported_at is not None and imported_at != ref:
            # ages the import derived from the dates of birth (at its reference date) move to
            # the date given here: they stayed at the import's while the report named this
            # one; an age the school recorded (another value) is kept
            derived = (st["age_months"] == age_in_months(st["date_of_birth"], imported_at))
            fill |= derived.fillna(False).astype(bool) & age.notna()
        wrong = fill & ((age < MIN_AGE_MONTHS) | (age > MAX_AGE_MONTHS)).fillna(False)
        if wrong.any():
            many = int(wrong.sum())  # a count of pupils: under the threshold, not said
            raise DataError(f"--reference-date {ref.isoformat()}: "
                            + (f"{many:,} pupils" if many >= DEFAULT_THRESHOLD else
                               f"some pupils (fewer than {DEFAULT_THRESHOLD})")
                            + " would be under 3 or over 25 years old; is it the right date?")
        st.loc[fill, "age_months"] = age[fill]
        rep.dob_converted = int(st["date_of_birth"].notna().sum())
        rep.reference_date = ref.isoformat()

    # 1. drop identifiers, free text, dates of birth and non-schema columns
    for name, frame in (("students", st), ("observations", ob)):
        tbl = TABLES[name]
        drop = [c for c in frame.columns
                if c not in tbl or tbl[c].kind in ("direct", "free_text", "dob")]
        rep.columns_dropped[name] = [str(c) for c in drop]
    st = st.drop(columns=rep.columns_dropped["students"])
    ob = ob.drop(columns=rep.columns_dropped["observations"])

    # 3. pseudonyms, consistently in both tables
    st["student_id"] = pseudonymise(st["student_id"], key, "student")
    ob["student_id"] = pseudonymise(ob["student_id"], key, "student")
    st["school"] = pseudonymise(st["school"], key, "school")
    ob["school"] = pseudonymise(ob["school"], key, "school")
    rep.pseudonymised = ["student_id", "school"]
    if st["student_id"].duplicated().any():
        raise DataError("two different student ids got the same pseudonym (a 64-bit collision); "
                        "this is astronomically unlikely -- check the input for duplicate ids")

    # 4. rare categories
    st, rep.rare_categories = generalise_rare(st, k)

    # 5. k-anonymity and l-diversity
    res = k_anonymise(st, quasi, k=k, l_diversity=l_diversity, sensitive=sensitive, max_suppressed=max_suppressed)
    gone = set(st.loc[res.suppressed, "student_id"])
    st = res.frame.reset_index(drop=True)
    drop_obs = ob["student_id"].isin(gone)
    ob = ob.loc[~drop_obs].reset_index(drop=True)
    # row order can betray the raw order (exports are often sorted by name or admission
    # number), so rows are written in pseudonym order: key-dependent, unrelated to the raw ids
    st = st.sort_values("student_id", kind="stable").reset_index(drop=True)
    ob = ob.sort_values(["student_id", "period_type", "period"], kind="stable").reset_index(
        drop=True)
    rep.students_suppressed = int(res.suppressed.sum())
    rep.observations_suppressed = int(drop_obs.sum())
    rep.generalised = res.descriptions
    rep.achieved_k = res.achieved["k"]
    rep.achieved_l = res.achieved["l"] if sensitive else None
    rep.max_suppressed_exceeded = res.max_suppressed_exceeded
    if res.max_suppressed_exceeded:
        rep.warnings.append(  # how many is in the report's counts, suppressed as they are
            "every generalisation was used and more students than --max-suppressed "
            f"{max_suppressed:.0%} still had to be suppressed")
    if rep.students_in and rep.students_suppressed == rep.students_in:
        # an empty dataset written with exit status 0 would look like a result
        raise DataError(f"every student would be suppressed for k = {k}: the data are too "
                        "small for this k (lower --k, or anonymise more schools together); "
                        "nothing written")
    for q in quasi:
        if hierarchy(q).kind == "none" and q != "school":
            rep.warnings.append(f"{q} has no generalisation hierarchy; only suppression "
                                "protects it")

    meta = base_meta(
        anonymised=True, reference_date=rep.reference_date or ds.meta.get("reference_date"),
        period_origin=ds.meta.get("period_origin", {}), key_id=rep.key_id,
        quasi_identifiers=quasi, sensitive=sensitive, k=k, l=l_diversity,
        generalisation={q: {"level": res.levels[q], "description": d,
                            "columns": [f"{q}_min", f"{q}_max"] if f"{q}_min" in st.columns
                            else [q]} for q, d in res.descriptions.items()},
        achieved={"k": rep.achieved_k, "l": rep.achieved_l},
        real_data=ds.meta.get("real_data", True),
        notes=["student_id and school are keyed pseudonyms (HMAC-SHA256, 16 hex characters)"],
    )
    return Dataset(students=st, observations=ob, meta=meta), rep


def _meta_date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"dataset.json: reference_date {excerpt(value)} is not YYYY-MM-DD") from None


#: the smallest k accepted: every combination of the quasi-identifiers shared by two students
MIN_K = 2


def _check_args(ds: Dataset, quasi: list[str], k: int, l_diversity: int, sensitive: list[str],
                max_suppressed: float) -> None:
    if k < MIN_K:  # a class of one student is that student: k = 1 protects nothing
        raise DataError(f"--k must be at least {MIN_K} (got {k}): with k = 1 a combination "
                        "of the quasi-identifiers may single out one student")
    if l_diversity < 1:
        raise DataError(f"--l must be at least 1 (got {l_diversity})")
    if l_diversity > 1 and not sensitive:
        raise DataError("--l above 1 needs --sensitive fields to measure diversity over")
    if not 0 <= max_suppressed < 1:
        raise DataError(f"--max-suppressed must be a fraction in [0, 1) (got {max_suppressed})")
    for name in (*quasi, *sensitive):
        if name not in STUDENTS:
            raise DataError(f"{excerpt(name)} is not a students field; choose from {STUDENTS.names}")
        if STUDENTS[name].kind in ("direct", "free_text", "dob"):
            raise DataError(f"{excerpt(name)} is dropped by anonymise and cannot be a quasi-identifier "
                            "or sensitive field")
        if name == "student_id":
            raise DataError("student_id is pseudonymised and unique; it cannot be a "
                            "quasi-identifier or sensitive field")
    for flag, names in (("--quasi", quasi), ("--sensitive", sensitive)):
        # counted once: a count per name was quadratic (100,000 names took minutes)
        twice = sorted(n for n, k in Counter(names).items() if k > 1)
        if twice:
            raise DataError(f"{flag}: {twice} given more than once")
    if not quasi:  # e.g. --quasi ',,': k-anonymity over nothing protects nothing
        raise DataError("--quasi names no field; give the quasi-identifiers, e.g. "
                        "school,year_group,sex (the default when --quasi is left out)")
    both = set(quasi) & set(sensitive)
    if both:
        raise DataError(f"{sorted(both)} cannot be both quasi-identifier and sensitive")
    missing = [q for q in (*quasi, *sensitive) if q not in ds.students.columns
               and not (q == "age_months" and "date_of_birth" in ds.students.columns)]
    if missing:
        raise DataError(f"the dataset has no {agree(len(missing), 'column')} {missing}; drop "
                        f"{agree(len(missing), 'it', 'them')} from --quasi / "
                        "--sensitive")
    if ds.anonymised:
        raise DataError("this dataset is already anonymised")
    if not set(OBSERVATIONS.names) >= {"student_id", "school"}:  # pragma: no cover - schema guard
        raise AssertionError


def anonymise_dir(in_dir: str | Path, out: str | Path, key: bytes,
                  key_file: str | Path | None = None, overwrite: bool = False,
                  **kwargs: Any) -> AnonymisationReport:
    """Read a dataset directory, anonymise it, write the result and the report into ``out``."""
    check_key_location(key_file, out, in_dir)
    if Path(in_dir).resolve() == Path(out).resolve():
        raise DataError(f"--out {out} is the input directory; write the anonymised copy elsewhere")
    from srmsim.data.dataset import DATASET_FILES, META_FILE
    from srmsim.data.describe import bind_copy, carry_ledger, data_digest
    from srmsim.data.exports import carry_exports, check_export, export_record, record_export
    from srmsim.outputs import (
        check_inputs_outside,
        check_out_of_data,
        check_out_of_results,
        folder_lock,
        holds_only,
        replace_dir,
        write_file,
    )

    check_out_of_data(out, in_dir)  # an anonymised copy is for sharing
    check_inputs_outside(out, [in_dir])
    check_out_of_results(out)  # never among a run's or a study's files, nor another dataset's

    out = Path(out)
    if (out / META_FILE).exists() and not overwrite:
        raise DataError(f"--out {out}: already holds a dataset ({META_FILE}); choose another "
                        "directory or pass --overwrite")
    ds = read_dataset(in_dir)
    # the export is known by its records, its settings and its key: another export of these
    # records is refused (check_export), and this one recorded before it is put in place
    # (record_export)
    settings = {name: kwargs.get(name, param.default)  # every setting, defaults included
                for name, param in inspect.signature(anonymise).parameters.items()
                if param.default is not inspect.Parameter.empty}
    settings = {name: (list(v) if isinstance(v, list | tuple) else
                       v.isoformat() if isinstance(v, dt.date) else v)
                for name, v in settings.items()}
    made = export_record(data_digest(Path(in_dir), ds.meta), key_id(key), settings)
    anon, rep = anonymise(ds, key, **kwargs)  # (the settings' own problems named first)
    if rep.max_suppressed_exceeded:  # 429 of 445 suppressed against 5% was written, exit 0
        hidden = rep._hidden_counts()  # printed as the report prints them
        few = {"students_suppressed", "students_in"} & hidden
        share = ("" if few else
                 f" ({rep.students_suppressed / max(rep.students_in, 1):.0%})")
        shown = {n: DEFAULT_SYMBOLS.confidential if n in hidden else f"{getattr(rep, n):,}"
                 for n in ("students_suppressed", "students_in")}
        raise DataError(f"{shown['students_suppressed']} of {shown['students_in']} students"
                        f"{share} would be suppressed, more than --max-suppressed "
                        f"{rep.max_suppressed:.0%}, with every generalisation used: nothing "
                        "written; give fewer --quasi fields, a lower --k, or a higher "
                        "--max-suppressed"
                        + (f" ({DEFAULT_SYMBOLS.confidential} = a count of pupils below "
                           f"{DEFAULT_THRESHOLD}, or one hidden so that none can be worked "
                           "out)" if few else ""))
    # the source's lock from the check to the record: two exports made at once both passed
    # the check before either was recorded
    with folder_lock(in_dir):
        check_export(in_dir, made)
        # pseudonymised records are still personal data: owner-only, replaced whole
        replaceable = holds_only((*DATASET_FILES, REPORT_FILE), (*DATASET_FILES, REPORT_FILE))
        with replace_dir(out, private=True, replaceable=replaceable) as tmp:
            write_dataset(anon, tmp, private=True)
            write_file(tmp / REPORT_FILE, json_dumps(rep.shareable(), indent=2) + "\n",
                       private=True)
            carry_ledger(out, tmp)  # what was published from the folder still binds it
            carry_exports(out, tmp)  # ... and what was exported of it
            bind_copy(in_dir, tmp)  # ... and what was published from the records it copies
            record_export(in_dir, made)  # last before the copy is put in place
    return rep
