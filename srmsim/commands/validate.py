"""``srmsim validate FILE``: check a scenario or experiment file without running it."""

from __future__ import annotations

import argparse

from srmsim.argtypes import path_argument
from srmsim.labels import plural, yes_no


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate",
                       help="check a scenario, experiment, trial or optimisation file without running it")
    p.add_argument("file", type=path_argument,
                   help="scenario, experiment, trial or optimisation YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srmsim.scenario import load_scenario, read_yaml  # here, so `srmsim --help` stays quick

    data = read_yaml(args.file)
    if isinstance(data, dict) and "randomise" in data:
        from srmsim.trial import load_trial
        from srmsim.trial.run import check_population

        trial = load_trial(args.file)
        check_population(trial)  # a trust from records: its blocks, once the sizes are read
        print(f"{args.file}: valid trial '{trial.name}'")
        return 0
    if isinstance(data, dict) and "objectives" in data:
        from srmsim.explore.optimise import load_optimisation

        opt = load_optimisation(args.file)
        print(f"{args.file}: valid optimisation '{opt.name}' "
              f"({plural(len(opt.config.levers), 'lever')}"
              f"{' and a staff budget' if opt.config.budget else ''}, "
              f"{plural(len(opt.config.objectives), 'objective')}, "
              f"{plural(opt.config.search.trials, 'candidate')})")
        return 0
    if isinstance(data, dict) and "variants" in data:
        from srmsim.experiment.spec import load_experiment

        exp = load_experiment(args.file)
        print(f"{args.file}: valid experiment '{exp.name}' "
              f"({plural(len(exp.variants), 'variant')} x "
              f"{plural(exp.replications, 'replication')})")
        return 0
    scenario = load_scenario(args.file)
    print(f"{args.file}: valid scenario '{scenario.name}' "
          f"({plural(scenario.trust.n_schools, 'school')}, {plural(scenario.years, 'year')}, "
          f"policy: {yes_no(bool(scenario.policy))})")
    return 0
