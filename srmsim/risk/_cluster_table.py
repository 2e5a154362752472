"""A cluster bootstrap's running totals counted once into a (tie group x cluster) table.

A replicate of :func:`srmsim.risk.bootstrap_curves` weights every row by how many times its
cluster (school) was drawn, and its ROC and PR points are running totals of those weights over
the rows in score order, read at the end of each group of tied scores. The rows of one tie
group and one cluster always get the same weight, so the totals of each tie group are the
table of positives (and of all rows) per tie group and cluster times the clusters' draws, and
the running totals are their cumulative sum over the tie groups.

Why: the rows' cumulative sums cost a pass over every row a replicate (2M pupils, 200
replicates: 5 s of a 20 s ``srmsim thresholds``), the table's product a pass over tie groups x
clusters (real data: the ~100 published bands x 800 schools). The numbers are the same to the
bit: every weight, count and partial sum is a whole number below 2**53, which floating point
adds exactly in any order.
"""

from __future__ import annotations

import numpy as np


class ClusterTable:
    """Positives and rows per (tie group, cluster) of rows sorted by risk (``ends``: the last
    row of each tie group, as :func:`srmsim.risk.curves._prepare` gives them)."""

    def __init__(self, y: np.ndarray, ends: np.ndarray, codes: np.ndarray, n_clusters: int):
        tie = np.searchsorted(ends, np.arange(y.size), side="left")  # each row's tie group
        cell = tie * n_clusters + codes
        size = ends.size * n_clusters
        shape = (ends.size, n_clusters)
        self.positives = np.bincount(cell, weights=y, minlength=size).reshape(shape)
        self.rows = np.bincount(cell, minlength=size).reshape(shape).astype(float)
        self.negatives = self.rows - self.positives
        self._cluster_positives = self.positives.sum(axis=0)
        self._cluster_rows = self.rows.sum(axis=0)

    @staticmethod
    def fits(n_ties: int, n_clusters: int, n_rows: int) -> bool:
        """Whether the table is no larger than the rows (else the rows' sums are cheaper)."""
        return n_ties * n_clusters <= n_rows

    def points(self, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative (tp, fp) at every cut point, starting with 'nobody flagged', of the
        replicate drawing each cluster ``draws[c]`` times: ``_points`` of its row weights."""
        tp = np.concatenate(([0.0], np.cumsum(self.positives @ draws)))
        fp = np.concatenate(([0.0], np.cumsum(self.negatives @ draws)))
        return tp, fp

    def drawn(self, draws: np.ndarray) -> tuple[int, int]:
        """Distinct rows with the outcome, and all distinct rows, in the clusters drawn."""
        chosen = draws > 0
        return (int(self._cluster_positives[chosen].sum()),
                int(self._cluster_rows[chosen].sum()))
