"""Administrative request streams (certifications, EHC needs assessments, appeals) in continuous
time, sharing staff with the student policies, checked against queueing theory.

A scenario's ``requests:`` section defines the streams (:mod:`srmsim.admin.config`); the model
advances them every week (:mod:`srmsim.admin.desk`); :mod:`srmsim.admin.measures` summarises them
and :mod:`srmsim.admin.theory` has the M/M/c formulas they are tested against.
"""

from srmsim.admin.config import RequestStream
from srmsim.admin.theory import erlang_c, mmc_mean_wait, mmc_wait_quantile

__all__ = ["RequestStream", "erlang_c", "mmc_mean_wait", "mmc_wait_quantile"]
