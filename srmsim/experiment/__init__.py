"""Experiments: policy variants x replications with common random numbers, and their effects."""

from srmsim.experiment.compare import compare, load_runs
from srmsim.experiment.result import ExperimentResult
from srmsim.experiment.runner import run_experiment
from srmsim.experiment.spec import Experiment, experiment_from_dict, load_experiment

__all__ = ["Experiment", "ExperimentResult", "experiment_from_dict", "load_experiment",
           "run_experiment", "compare", "load_runs"]
