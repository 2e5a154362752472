"""Bring a school's or trust's own records into srmsim: schema, import, validation, anonymisation.

Typical use (the CLI ``srmsim data ...`` does the same)::

    from srmsim.data import load_mapping, assign_tables, import_files, read_dataset
    mapping = load_mapping("data/mapping_example.yaml")
    files = assign_tables(["pupils.csv", "attendance.csv"], mapping)
    result, written = import_files(files, mapping, "out/school", allow_rejects=True)
    ds = read_dataset("out/school")        # ds.students, ds.observations, ds.meta

See data/README.md for the schema, the mapping file and the dataset layout. The functions
``srmsim.data.anonymise.anonymise`` and ``srmsim.data.describe.describe`` are not re-exported
here, so that the submodules keep their names.
"""

from __future__ import annotations

from srmsim.data.anonymise import AnonymisationReport, anonymise_dir
from srmsim.data.dataset import Dataset, read_dataset, write_dataset
from srmsim.data.importer import import_files, write_report
from srmsim.data.kanon import k_anonymise, measure
from srmsim.data.loaders import load_rdataset
from srmsim.data.mapping import Mapping, MappingError, identity_mapping, load_mapping, parse_mapping
from srmsim.data.schema import OBSERVATIONS, STUDENTS, TABLES, schema_markdown
from srmsim.data.validate import (
    RULES,
    ValidationResult,
    assign_tables,
    format_report,
    validate_files,
    validate_frames,
)

__all__ = [
    "AnonymisationReport", "Dataset", "Mapping", "MappingError", "OBSERVATIONS", "RULES",
    "STUDENTS", "TABLES", "ValidationResult", "anonymise_dir", "assign_tables", "format_report", "identity_mapping", "import_files", "k_anonymise",
    "load_mapping", "load_rdataset", "measure", "parse_mapping", "read_dataset", "schema_markdown",
    "validate_files", "validate_frames", "write_dataset", "write_report",
]
