"""A general linear regression entry point: any formula, classical / HC / one- or two-way CR SEs.

Why: :func:`~srmsim.stats.estimate_effect` compares arms; a continuous treatment (minutes of
tutoring, a dose of mentoring) or a published regression to reproduce needs plain OLS with any
covariates and the standard errors the literature prints. Fitting and the sandwich are
statsmodels'; this module validates the input, drops and reports incomplete rows, and chooses
degrees of freedom.

Formulas are a small, parsed language, never evaluated as Python: ``outcome ~ term + term``
where a term is a column name, ``C(column)`` (categorical), an interaction ``a:b`` or ``a*b``,
and ``0`` / ``1`` / ``-1`` for the intercept. Column names that are not Python identifiers are
written in backticks, e.g. ``` `first.treat` ```.

Standard errors (``se=``): ``"classical"``, ``"hc0"``-``"hc3"``, or ``"cluster"`` with
``cluster=`` one column (CR1: G/(G-1) (N-1)/(N-k)) or two columns (Cameron, Gelbach & Miller
2011: V_1 + V_2 - V_12, each term with its own G/(G-1) and all with (N-1)/(N-k), the convention of
R's ``sandwich::vcovCL(type = "HC1")`` and of statsmodels). Clustered intervals use t with
G - 1 df, G the smaller cluster count for two-way clustering. ``"cr2"`` with one column is the
bias-reduced CR2 variance with each coefficient's Bell-McCaffrey (Satterthwaite) df, as R's
``clubSandwich::coef_test(vcov = "CR2")``: the choice with few clusters, where CR1 with
t(G - 1) under-covers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from srmsim.errors import DataError, EstimationError, SrmsimError
from srmsim.labels import agree, given_percent, p_text

from . import _checks as ck
from ._inference import cr2_sandwich, critical_value, few_clusters_cr1_note, wald

SE_CHOICES = ("classical", "hc0", "hc1", "hc2", "hc3", "cluster", "cr2")

_TOKEN = re.compile(r"\s*(?:(`[^`]+`)|([A-Za-z_][A-Za-z0-9_.]*)|(\d+)|(.))")


#: what stands for the i-th column in the formula patsy reads: patsy evaluates a formula's names
#: as Python, so no column name (a file's header) ever reaches it
_STAND_IN = "_srmsim_column_{}_"
_STAND_IN_RE = re.compile(r"_srmsim_column_(\d+)_")


def _parse_formula(formula: str, columns: pd.Index) -> tuple[str, list[str], str]:
    """Check a formula token by token; return (statsmodels formula, columns used, outcome).

    Only column names, C(column), + - : * ( ) ~ and 0/1 are accepted, and in the formula
    returned the i-th column used is the stand-in ``_srmsim_column_i_`` (see :func:`_shown`), so
    nothing in a user's formula or a column's name is ever run as code.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise SrmsimError(f"formula must look like 'outcome ~ x + z', got {formula!r}")
    out: list[str] = []
    used: list[str] = []
    pos, after_tilde, outcome = 0, False, ""
    text = formula.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only trailing blanks
            break
        pos = m.end()
        quoted, name, number, other = m.groups()
        if quoted or name:
            col = quoted[1:-1] if quoted else name
            if name == "C" and text[pos:pos + 1] == "(":
                out.append("C")
                continue
            if col not in columns:
                raise DataError(
                    f"formula {formula!r}: {col!r} is not a column of the data; columns present: "
                    f"{ck._listing(columns)}"
                )
            if col not in used:
                used.append(col)
            if not after_tilde:
                if outcome:
                    raise SrmsimError(f"formula {formula!r}: one outcome column before '~'")
                outcome = col
            out.append(_STAND_IN.format(used.index(col)))
        elif number:
            if number not in ("0", "1"):
                raise SrmsimError(
                    f"formula {formula!r}: number {number} not allowed (only 0 or 1, for the "
                    "intercept)"
                )
            out.append(number)
        elif other in "+-:*()~":
            after_tilde = after_tilde or other == "~"
            out.append(other)
        elif other.strip():
            raise SrmsimError(
                f"formula {formula!r}: {other!r} not allowed; a formula may use column names, "
                "C(column), + - : * ( ), and 0/1 for the intercept"
            )
    if not outcome:
        raise SrmsimError(f"formula {formula!r}: name the outcome column before '~'")
    if not [u for u in used if u != outcome] and "1" not in out:
        raise SrmsimError(f"formula {formula!r}: no terms after '~'")
    return " ".join(out), used, outcome


def _for_patsy(data: pd.DataFrame, column: str, is_outcome: bool) -> pd.Series:
    """A column as patsy can read it (rows are complete here): the outcome as float (true/false
    as 1/0, numbers stored as objects), pandas' nullable booleans as plain booleans (a
    ``[T.True]`` term, as for bool columns), nullable and object-stored numbers as float, and a
    categorical without its categories that no used row holds (an all-zero dummy otherwise:
    'collinear' for a legitimate column)."""
    s = data[column]
    if is_outcome or pd.api.types.is_complex_dtype(s):  # (complex: refused, naming the column)
        return ck.numeric_column(data, column, "outcome" if is_outcome else "formula")
    if isinstance(s.dtype, pd.CategoricalDtype):  # patsy makes a dummy of every category
        return s.cat.remove_unused_categories()
    if isinstance(s.dtype, pd.BooleanDtype):
        return s.astype(bool)
    if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(s):
        return s.astype("float64")
    if s.dtype == object and s.map(lambda v: isinstance(v, int | float | np.integer
                                                       | np.floating)).all():
        return ck.numeric_column(data, column, "formula")
    return s


def _shown(name: str, used: Sequence[str]) -> str:
    """A patsy term name with each stand-in back as its column, in backticks when the name is
    not a plain identifier (as the formula would write it): ``C(`school id`)[T.3]``. A column
    named Intercept is shown as ```Intercept``` so it stays distinct from the constant term."""
    return _STAND_IN_RE.sub(lambda m: ck.term_name(used[int(m.group(1))]), name)


def cluster_codes(data: pd.DataFrame, clusters: Sequence[str]) -> np.ndarray:
    """Integer codes per clustering column: shape (N,) for one column, (N, 2) for two."""
    codes = [ck.group_codes(data[c]) for c in clusters]
    return codes[0] if len(codes) == 1 else np.column_stack(codes)


def check_cluster_arg(cluster: str | Sequence[str] | None) -> list[str]:
    """One or two clustering columns; a third dimension is refused by name, not by a TypeError."""
    clusters = ck.as_list(cluster)
    if len(clusters) > 2:
        raise SrmsimError(
            f"cluster={clusters!r}: at most two clustering columns are supported (two-way "
            "clustering, Cameron, Gelbach & Miller 2011)"
        )
    if len(set(clusters)) < len(clusters):
        raise SrmsimError(f"cluster={clusters!r} names the same column twice")
    return clusters


#: a column whose size is this many times its spread (root mean square over SD) is centred at
#: its mean for the fits and variances that lose accuracy far from zero (GEE, the mixed model,
#: the OLS sandwiches)
CENTRE_FROM = 1e3


def centring(exog: np.ndarray) -> np.ndarray | None:
    """A (k, k) matrix A such that ``exog @ A`` has each column far from zero beside its spread
    (:data:`CENTRE_FROM`) centred at its mean, or None when there is none or no intercept (an
    all-ones column) to take the means.

    Why: ``exog @ A`` spans the same space, so coefficients and every sandwich variance are
    those of ``exog`` re-expressed exactly: beta = A gamma, V_beta = A V_gamma A' (only the
    intercept mixes), but computed on a well-conditioned design. A covariate of 1e6 + x gave a
    CR1 SE of its slope 5e-4 of itself off the SE with x (HC3 1e-6), the random-intercept
    model's slope 6e-4 and group variance 8e-3 off; centred, all agree to 1e-9.
    """
    A = np.asarray(exog, dtype=float)
    if A.ndim != 2 or not len(A):
        return None
    ones = np.flatnonzero((A == 1.0).all(axis=0))
    if not ones.size:
        return None
    means = np.zeros(A.shape[1])
    for j in range(A.shape[1]):
        if j != ones[0] and CENTRE_FROM < ck._parts_of_size(A[:, j]) < math.inf:
            means[j] = float(np.mean(A[:, j]))
    if not means.any():
        return None
    back = np.eye(A.shape[1])
    back[ones[0]] -= means  # column j of exog @ back: exog_j - mean_j * 1
    return back


def fit_ols(model: OLS, **kwargs: Any) -> Any:
    """``model.fit(**kwargs)`` with its covariance computed on the centred design
    (:func:`centring`) and re-expressed for the model's own columns; the estimates are the
    model's (already accurate to rounding: only the sandwich lost digits)."""
    res = model.fit(**kwargs)
    back = centring(model.exog)
    if back is None:
        return res
    again = OLS(model.endog, model.exog @ back).fit(**kwargs)
    inner = getattr(res, "_results", res)  # set on the results, before bse is read (cached)
    if kwargs.get("cov_type", "nonrobust") == "nonrobust":
        inner.normalized_cov_params = back @ again.normalized_cov_params @ back.T
    else:
        inner.cov_params_default = back @ np.asarray(again.cov_params()) @ back.T
    return res


def fit_clustered_ols(model: OLS, codes: np.ndarray):
    """OLS with CR1 one-way or CGM two-way cluster-robust covariance; returns (result, df, G).

    df = G - 1 with G the number of clusters (the smaller count for two-way clustering).
    """
    counts = [int(c.max()) + 1 for c in (codes.T if codes.ndim == 2 else [codes])]
    if min(counts) < 2:
        raise EstimationError(f"cluster-robust SEs need at least 2 clusters per dimension; found {counts}")
    res = fit_ols(
        model,
        cov_type="cluster",
        cov_kwds={"groups": codes, "use_correction": True, "df_correction": True},
        use_t=True,
    )
    return res, float(min(counts) - 1), counts


def standard_errors(res: Any) -> np.ndarray:
    """The fit's standard errors, NaN where its variance is negative (a two-way CGM variance
    can be), without the "invalid value encountered in sqrt" warning statsmodels' ``bse``
    prints before srmsim's own error names the cause (:func:`negative_cgm_cause`)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(res.bse, dtype=float)


def negative_cgm_cause(res: Any, names: Sequence[str]) -> str:
    """Why a two-way clustered fit has no standard error for some of ``names`` (a phrase to add
    to the error, else ""): Cameron, Gelbach & Miller's V_a + V_b - V_ab can be negative with
    few clusters in a dimension, and the square root of a negative variance is NaN, which was
    reported as "non-finite standard errors" with no word of the cause (as R's sandwich, no
    eigenvalue fix is applied: the variance would be a different estimator)."""
    exog = list(res.model.exog_names)
    var = np.diag(np.asarray(res.cov_params(), dtype=float))
    negative = [n for n in names if n in exog and var[exog.index(n)] < 0]
    if not negative:
        return ""
    return (f": the two-way cluster-robust (CGM) variance of {ck._listing(negative)} is negative "
            "(V_first + V_second - V_both < 0, which few clusters in a dimension allow); "
            "cluster by one column, or collect more clusters")


CR2_TYPE = "cluster-robust CR2 (bias-reduced, Bell-McCaffrey df)"


def fit_cr2_ols(model: OLS, codes: np.ndarray, terms: Sequence[int] | None = None):
    """OLS with the CR2 covariance and Bell-McCaffrey (Satterthwaite) df per coefficient;
    returns (result, df array, G). ``terms``: the columns whose df are needed (others NaN).

    The statsmodels result carries the CR2 covariance as its own (``bse``, ``cov_params()``),
    but its ``conf_int()``/``t_test()`` use one df for all coefficients: the df that belong to
    each coefficient are the ones returned here.
    """
    if codes.ndim != 1:
        raise SrmsimError("se='cr2' takes one clustering column; two-way clustering is "
                          "available with se='cluster' (CR1 each)")
    G = int(codes.max()) + 1
    if G < 2:
        raise EstimationError(f"cluster-robust SEs need at least 2 clusters; found {G}")
    res = model.fit(use_t=True)
    back = centring(model.exog)
    # far from zero, the fit's own residuals carry its rounding into the directions CR2's
    # (I - H_gg)^(-1/2) amplifies (5e6 + x: SEs 2e-6 off); the centred fit's do not
    resid = res.resid if back is None else OLS(model.endog, model.exog @ back).fit().resid
    cov, df = cr2_sandwich(model.exog, np.asarray(resid, dtype=float), codes, terms, back=back)
    wanted = range(df.size) if terms is None else terms
    bad = [model.exog_names[j] for j in wanted if not (math.isfinite(df[j]) and df[j] > 0)]
    if bad:  # every cluster's adjusted residual contrast vanishes: no variance to estimate
        raise EstimationError(
            f"the CR2 standard error and Bell-McCaffrey df of {ck._listing(bad)} are not "
            "defined: once each cluster's own fit is taken out no cluster's residuals inform "
            "them (e.g. one cluster in each arm); more clusters are needed")
    inner = getattr(res, "_results", res)  # set on the results, not on their wrapper
    inner.cov_params_default = cov  # read by cov_params(), hence bse, before either is cached
    inner.cov_type = "CR2"
    inner.cov_kwds = {"description": f"{CR2_TYPE}, {G} clusters"}
    return res, df, G


@dataclass
class RegressionResult:
    """Coefficients with their standard errors, intervals and the statsmodels fit underneath."""

    table: pd.DataFrame
    formula: str
    se_type: str
    alpha: float
    n: int
    n_clusters: list[int]
    cluster: list[str]
    missing: ck.MissingReport
    result: object = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def coef(self, term: str) -> pd.Series:
        if term not in self.table.index:
            raise SrmsimError(f"no term {term!r}; terms: {', '.join(self.table.index)}")
        return self.table.loc[term]

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        a = self.alpha if alpha is None else ck.check_alpha(alpha)
        crit = np.array([critical_value(a, d) for d in self.table["df"]])
        est, se = self.table["estimate"].to_numpy(), self.table["se"].to_numpy()
        return pd.DataFrame({"ci_low": est - crit * se, "ci_high": est + crit * se},
                            index=self.table.index)

    def summary(self) -> str:
        clusters = (" by " + " and ".join(f"{c!r} ({g} clusters)" for c, g in
                                          zip(self.cluster, self.n_clusters, strict=True))
                    if self.cluster else "")
        lines = [
            f"Linear regression {self.formula}",
            f"  standard errors: {self.se_type}{clusters}",
            f"  rows: {self.missing.describe()}",
            f"  {given_percent(1 - self.alpha)} confidence intervals:",
            self.table.to_string(float_format=lambda v: f"{v:.6f}",
                                 formatters={"p_value": lambda p: p_text(p, 6)}),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def regress(
    df: pd.DataFrame,
    formula: str,
    se: str = "hc1",
    cluster: str | Sequence[str] | None = None,
    *,
    alpha: float = 0.05,
) -> RegressionResult:
    """OLS of ``formula`` on ``df`` with the chosen standard errors.

    >>> r = regress(petersen, "y ~ x", se="cluster", cluster=["firm", "year"])  # doctest: +SKIP
    >>> r.coef("x")[["estimate", "se"]]                                         # doctest: +SKIP
    """
    ck.require_frame(df)
    alpha = ck.check_alpha(alpha)
    ck.check_choice(se, SE_CHOICES, "se")
    clusters = check_cluster_arg(cluster)
    ck.require_columns(df, {"cluster": clusters})
    if se == "cluster" and not clusters:
        raise SrmsimError("se='cluster' needs cluster= (one column, or two for two-way clustering)")
    if se == "cr2" and len(clusters) != 1:
        raise SrmsimError(f"se='cr2' needs cluster= naming one column, got cluster={cluster!r}; "
                          "two-way clustering is available with se='cluster'")
    ck.refuse_cluster_ignored(cluster, se)
    notes: list[str] = []
    parsed, used, outcome = _parse_formula(formula, df.columns)
    ck.require_columns(df, {"formula": used})  # a column name given twice is ambiguous
    ck.numeric_column(df, outcome, "outcome")
    ck.require_some_values(df, outcome, "outcome")
    data, missing = ck.drop_incomplete(df, [*used, *clusters])
    for col in used:
        if col != outcome and not (pd.api.types.is_numeric_dtype(data[col])
                                   or pd.api.types.is_bool_dtype(data[col])):
            notes.append(f"column {col!r} is not numeric: treated as categorical (dummies)")
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            unused = set(data[col].cat.categories) - set(data[col].dropna())
            if unused:
                notes.append(f"categor{'y' if len(unused) == 1 else 'ies'} "
                             f"{ck._listing(c for c in data[col].cat.categories if c in unused)} "
                             f"of {col!r} occur in no row used: no term for them")
    import statsmodels.formula.api as smf

    stand_ins = pd.DataFrame({_STAND_IN.format(i): _for_patsy(data, col, col == outcome)
                              for i, col in enumerate(used)})
    try:
        model = smf.ols(parsed, data=stand_ins)
    except Exception as err:  # noqa: BLE001 - patsy reports malformed formulas in many ways
        text = _STAND_IN_RE.sub(lambda m: repr(used[int(m.group(1))]), str(err))
        raise SrmsimError(f"formula {formula!r} cannot be used: {text}") from None
    if model.exog.shape[1] == 0:
        raise SrmsimError(f"formula {formula!r}: no terms after '~' (not even an intercept)")
    _refuse_vanished_terms(model.exog_names, data, used, outcome, formula)
    # each term's columns, read from its stand-ins before they are shown as column names
    term_columns = {_shown(n, used): [used[int(i)] for i in _STAND_IN_RE.findall(n)]
                    for n in model.exog_names}
    model.data.xnames = [_shown(n, used) for n in model.exog_names]
    model.data.ynames = outcome
    ck.require_variation(model.endog, outcome)
    X = pd.DataFrame(model.exog, columns=model.exog_names)
    ck.check_full_rank(X, protected=[], context=f"regression {formula!r}")
    ck.require_comparable_scales(X, f"regression {formula!r}")
    n_clusters: list[int] = []
    dof: float | np.ndarray
    if se != "classical":  # clustered too: a cluster sandwich cannot see that row's error either
        complete = ~ck.missing_cells(df, [*used, *clusters]).any(axis=1).to_numpy()
        _refuse_leverage_one(model.exog, df.index[complete], formula, se)
    if se in ("cr2", "cluster"):
        _refuse_one_cluster_per_category(data, term_columns, clusters)
        _refuse_single_cluster_terms(X, cluster_codes(data, clusters), clusters, term_columns,
                                     data, formula)
    if se == "cr2":
        res, dof, G = fit_cr2_ols(model, cluster_codes(data, clusters))
        n_clusters, se_type = [G], CR2_TYPE
        notes.append(f"{G} clusters: CR2 variance, t intervals with each coefficient's "
                     "Bell-McCaffrey df (column df)")
    elif se == "cluster":
        res, dof, n_clusters = fit_clustered_ols(model, cluster_codes(data, clusters))
        se_type = ("two-way cluster-robust (CGM, CR1 each)" if len(clusters) == 2
                   else "cluster-robust (CR1)")
        cr1 = few_clusters_cr1_note(min(n_clusters), float(np.min(dof)),
                                   len(clusters) == 2)
        if cr1:
            notes.append(cr1)
    else:
        cov = "nonrobust" if se == "classical" else se.upper()
        res = fit_ols(model, cov_type=cov, use_t=True)
        dof, se_type = float(res.df_resid), {"classical": "classical"}.get(se, se.upper())
    ck.require_residual_variation(res.resid, model.endog, f"regression {formula!r}")
    est = np.asarray(res.params, dtype=float)
    ses = standard_errors(res)
    if not (np.all(np.isfinite(est)) and np.all(np.isfinite(ses))):
        cause = negative_cgm_cause(res, model.exog_names) if len(clusters) == 2 else ""
        raise EstimationError(f"regression {formula!r}: non-finite estimates or standard "
                              f"errors{cause}")
    if se != "classical":
        ck.require_informative_se(ses, ck.model_based_se(res), model.exog_names, se_type,
                                  f"regression {formula!r}")
    dfs = np.broadcast_to(np.asarray(dof, dtype=float), est.shape)  # CR2: one df per term
    lo, hi, p = wald(est, ses, dfs, alpha)
    table = pd.DataFrame(
        {"estimate": est, "se": ses, "t": est / ses, "p_value": p, "ci_low": lo,
         "ci_high": hi, "df": dfs},
        index=pd.Index(model.exog_names, name="term"),
    )
    return RegressionResult(table, formula, se_type, alpha, len(data), n_clusters, clusters,
                            missing, res, notes)


def _refuse_vanished_terms(exog_names: Sequence[str], data: pd.DataFrame, used: Sequence[str],
                           outcome: str, formula: str) -> None:
    """Refuse a formula column with a single value in the rows used that left no term at all.

    Why: a categorical column (text, or ``C(column)``) with one level gets no dummy beside the
    intercept, so ``y ~ arm + x`` with every row in one arm returned the intercept and x alone,
    with no word that the arm's effect asked for was missing (a numeric column of one value is
    refused as collinear with the intercept)."""
    present = {int(i) for name in exog_names for i in _STAND_IN_RE.findall(name)}
    gone = [col for i, col in enumerate(used)
            if col != outcome and i not in present and data[col].nunique(dropna=True) == 1]
    if gone:
        values = ", ".join(f"{c!r} is always {ck._listing([data[c].iloc[0]])}" for c in gone)
        raise DataError(
            f"regression {formula!r}: {values} in the rows used, so "
            f"{agree(len(gone), 'its term', 'their terms')} cannot be estimated (one category "
            "has no contrast); use data in which it varies, or leave it out of the formula")


def _refuse_single_cluster_terms(X: pd.DataFrame, codes: np.ndarray, clusters: Sequence[str],
                                 term_columns: Mapping[str, Sequence[str]], data: pd.DataFrame,
                                 formula: str) -> None:
    """Refuse cluster-robust SEs when an arm lies in a single cluster (of either way): a 0/1
    term whose 1s (a policy tried in one school) or 0s (the control arm in one school) do, or a
    value of a categorical column (a text arm) that does. Why: the cluster sandwich holds none
    of that cluster's shock, which the term's estimate carries whole
    (:func:`~srmsim.stats._checks.refuse_arms_in_one_cluster`, the check estimate_effect makes:
    pure noise gave p = 0.002 with 12 clusters, and with the control arm in one school of 7,
    95% intervals covered 65% (CR1) and 66% (CR2) of 300). It was only warned, and a text arm
    not even that; without a covariate the refusal named the intercept's SE of 0 instead.

    A 0/1 term that is 1 in one cluster and 0 in one other is said so in those words (one-way):
    it is those clusters' difference, and with a covariate its CR1 SE was 0.02 where the
    estimate's SD is 0.74 (27% of 95% intervals covered). A categorical column nested in the
    clusters (``C(school)`` clustered by school: the clusters' own fixed effects, nuisance terms
    beside an effect that varies within them) is left alone.
    ``codes``: one cluster code per row (two-way: each way's codes, columns of a 2-D array);
    ``term_columns``: the columns each term is made of."""
    ways = np.asarray(codes).reshape(len(X), -1)
    sides: dict[str, np.ndarray] = {}
    for name in X.columns:
        x = X[name].to_numpy()
        if name == "Intercept" or not np.isin(x, (0.0, 1.0)).all() or x.min() == x.max():
            continue
        if ways.shape[1] == 1:
            ones, zeros = np.unique(ways[x == 1, 0]), np.unique(ways[x == 0, 0])
            if ones.size == zeros.size == 1 and ones[0] != zeros[0]:
                cols = list(term_columns.get(str(name), []))
                of = ("" if cols == [name] or not cols
                      else f" ({agree(len(cols), 'column')} {ck._listing(cols)})")
                by = f", clustered by {clusters[0]!r}" if clusters else ""
                raise EstimationError(
                    f"term {name!r}{of} is 1 in a single cluster and 0 in a single other "
                    f"one{by}: it is those two clusters' difference, which no cluster-robust SE "
                    "can tell from their own shocks (its SE would come from the other terms' "
                    "imbalance alone); more clusters on each side are needed")
        if "[" in str(name) and not str(name).endswith("[T.True]"):
            continue  # a category's dummy: its column's values are checked below
        sides[f"the rows where term {name!r} is 1 lie"] = x == 1
        sides[f"the rows where term {name!r} is 0 lie"] = x == 0
    categories = dict.fromkeys(cols[0] for name, cols in term_columns.items()
                               if len(cols) == 1 and "[" in name
                               and not name.endswith("[T.True]"))
    for col in categories:
        values = ck.group_codes(data[col])
        if col in clusters or any(
                len(np.unique(np.column_stack([values, way]), axis=0)) == int(values.max()) + 1
                for way in ways.T):  # each value within one cluster: the clusters' own effects
            continue
        labels = ck.labels(data[col]).to_numpy()
        for value in dict.fromkeys(labels):
            sides[f"value {value!r} of column {col!r} lies"] = labels == value
    ck.refuse_arms_in_one_cluster(
        sides, ways, clusters, f"regression {formula!r}",
        " (a random intercept for the cluster, estimate_effect(method='mixed'), models that "
        "shock)")


def _refuse_one_cluster_per_category(data: pd.DataFrame,
                                     term_columns: Mapping[str, Sequence[str]],
                                     clusters: Sequence[str]) -> None:
    """Refuse (one-way clustering) a categorical column of 3+ values that has one cluster per
    value, each cluster holding that value alone: three arms, one school each.

    Why: each contrast between its values is two clusters' difference, and every cluster's
    residuals sum to zero along its dummies, so the cluster sandwich holds none of their shocks
    (y ~ arm + x with three schools: SEs 0.003 and 0.006 where the school SD was 0.5, and no
    warning; two values are :func:`_refuse_single_cluster_terms`' 0/1 rule). The clustering
    column itself (``C(school)`` clustered by school: the clusters' own fixed effects, nuisance
    terms beside an effect that varies within them) is left alone."""
    if len(clusters) != 1:
        return
    codes = ck.group_codes(data[clusters[0]])
    categories = dict.fromkeys(cols[0] for name, cols in term_columns.items()
                               if len(cols) == 1 and "[" in name
                               and not name.endswith("[T.True]"))
    for col in categories:
        if col in clusters:
            continue
        values = ck.group_codes(data[col])
        n_values = int(values.max()) + 1
        pairs = np.unique(np.column_stack([values, codes]), axis=0)
        if n_values >= 3 and len(pairs) == n_values == int(codes.max()) + 1:
            raise EstimationError(
                f"column {col!r} has one cluster of {clusters[0]!r} per value ({n_values} "
                "values, each alone in its cluster): every contrast between its values is two "
                "clusters' difference, which no cluster-robust SE can tell from their own "
                "shocks (its SE would come from the other terms' imbalance alone); more "
                "clusters per value are needed (the clusters' own fixed effects are written "
                f"with the clustering column: C({ck.term_name(str(clusters[0]))}))")


def _refuse_leverage_one(exog: np.ndarray, rows: pd.Index, formula: str, se: str) -> None:
    """``rows``: the input's row labels of the rows used. Heteroskedasticity-robust SEs are undefined when a row alone fixes a coefficient (a
    category, or a dummy, with one row): its residual is zero, so HC0/HC1 report a standard
    error of 0 for that coefficient and HC2/HC3 divide zero by zero. Cluster-robust ones (CR1,
    CR2) are too: that row's own error never enters the sandwich, so the coefficient's SE came
    out several times too small (CR2 with one row per cluster, documented as HC2, answered
    where HC2 is refused)."""
    q, _ = np.linalg.qr(np.asarray(exog, dtype=float))
    leverage = np.einsum("ij,ij->i", q, q)
    alone = np.flatnonzero(leverage > 1 - 1e-8)
    if alone.size:
        shown = ", ".join(repr(r) for r in rows[alone[:5]])
        more = f" and {alone.size - 5} more" if alone.size > 5 else ""
        raise EstimationError(
            f"regression {formula!r}: {agree(alone.size, 'row')} {shown}{more} of the data each "
            "alone determine a "
            f"coefficient (leverage 1: a category or dummy with one row), so se={se!r} is not "
            "defined for it; merge or drop such categories, or use se='classical'")
