"""``srmsim validate FILE``: check a scenario or experiment file without running it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from srmsim.argtypes import path_argument
from srmsim.labels import plural, yes_no


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate",
                       help="check a scenario, experiment, trial or optimisation file without running it")
    p.add_argument("file", type=path_argument,
                   help="scenario, experiment, trial or optimisation YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srmsim.model import check_study_fits
    from srmsim.scenario import load_scenario, read_yaml  # here, so `srmsim --help` stays quick
    from srmsim.yamlio import refuse_empty

    # an empty file shows no kind: it is none of the four, not an empty scenario
    data = refuse_empty(read_yaml(args.file), str(args.file),
                        "scenario, experiment, trial or optimisation")
    if isinstance(data, dict) and "randomise" in data:
        from srmsim.trial import load_trial
        from srmsim.trial.run import check_population

        trial = load_trial(args.file)
        check_population(trial)  # a trust from records: its blocks, once the sizes are read
        for note in trial.notes():
            print(f"note: {note}")
        # a design summary, as an experiment and an optimisation get ("valid trial 'x'" alone
        # said nothing of what it would run)
        plan = trial.describe().split(": ", 1)[1]  # after "<name>: " (a label has no ':')
        arms = ("each school's weeks before and after it crosses over to the policy"
                if trial.unit == "stepped_wedge" else "2 arms: with the policy and without")
        return _valid(f"{args.file}: valid trial '{trial.name}' ({arms}; "
                      f"{plural(trial.replications, 'replication')})\n"
                      f"design: {plan}", _memory_warning(
            lambda: check_study_fits(
                {trial.scenario.name: trial.scenario.with_overrides({"outputs.history": "none"},
                                                                    trial.source)},
                trial.seeds(1)[0], f"trial {trial.name!r}: scenario")))
    if isinstance(data, dict) and "objectives" in data:
        from srmsim.explore.optimise import load_optimisation
        from srmsim.rng import replication_seeds

        opt = load_optimisation(args.file)
        # the candidates' trusts, as optimise sizes them: records that cannot be read are an
        # error here too (validate called such a file valid; optimise refused it)
        warning = _memory_warning(lambda: check_study_fits(
            opt.sized_scenarios(), replication_seeds(opt.root_seed, 1)[0],
            f"optimisation {opt.name!r}: candidate"))
        search, front = opt.config.runs()
        for note in opt.notes:  # what the checks before the search left out
            print(f"note: {note}")
        return _valid(f"{args.file}: valid optimisation '{opt.name}' "
                      f"({plural(len(opt.config.levers), 'lever')}"
                      f"{' and a staff budget' if opt.config.budget else ''}, "
                      f"{plural(len(opt.config.objectives), 'objective')}, "
                      f"{plural(opt.config.search.trials, 'candidate')})\n"
                      f"runs: {opt.config.plan()}; {search + front:,} in all", warning)
    if isinstance(data, dict) and "variants" in data:
        from srmsim.experiment.spec import load_experiment

        exp = load_experiment(args.file)
        warning = _memory_warning(lambda: check_study_fits(
            exp.sized_scenarios(), exp.seeds(1)[0],
            f"experiment {exp.name!r}: variant"))
        design = exp.config.design
        # a Sobol or Morris design's runs are its points, not replications
        each = (design.runs_in_words(f"{exp.replications:,}") if design and design.fixed_size
                else plural(exp.replications, "replication"))
        runs = len(exp.variants) * exp.max_replications
        return _valid(f"{args.file}: valid experiment '{exp.name}' "
                      f"({plural(len(exp.variants), 'variant')} x {each}; "
                      f"{'at most ' if exp.config.sequential else ''}{plural(runs, 'run')})",
                      warning)
    from srmsim.errors import ScenarioError
    from srmsim.inputs import wrong_kind

    why = wrong_kind(data, args.file, "scenario")  # a column mapping: its keys "unknown"
    if why is not None:
        raise ScenarioError(str(args.file), why)
    scenario = load_scenario(args.file)
    from srmsim.experiment.spec import check_scenario_arrival_files

    check_scenario_arrival_files(scenario, str(args.file))
    if scenario.policy is not None:  # a variant may still change a rule to read one: a note
        from srmsim.policy.compiled import compile_policy

        compiled = compile_policy(scenario.policy, str(args.file))
        read = compiled.parameters_read()
        _print_notes([*(f"policy.parameters.{name} is read by no rule, goal, priority or "
                        "chooser (a misspelt name?)"
                        for name in scenario.policy.parameters if name not in read),
                      *_unused_action_notes(scenario.policy), *_untargeted_choice_notes(compiled),
                      *_before_onset_notes(compiled)])
        if scenario.policy.acts_on_no_one():  # "policy: yes", and no student was acted on
            print("note: policy: no workflow is enabled, so the policy acts on no student "
                  "(a rule alone flags no one; an experiment's variant may enable one)")
    warning = _memory_warning(
        lambda: check_study_fits({scenario.name: scenario}, scenario.seed, "scenario"))
    schools = plural(scenario.trust.n_schools, 'school')
    if scenario.population.records:  # the records' schools, not trust.n_schools (unused then)
        from srmsim.records import RecordPopulation

        records = RecordPopulation.from_path(scenario.population.records)  # (read just above)
        schools = f"{plural(len(records.school_ids), 'school')} from its records"
    return _valid(f"{args.file}: valid scenario '{scenario.name}' "
                  f"({schools}, "
                  f"{plural(scenario.years, 'year')}, policy: {yes_no(bool(scenario.policy))})",
                  warning)


#: notes `srmsim validate` prints at most: a policy of 30,000 unread parameters printed
#: 30,000 lines, and the first few say what to fix
MAX_NOTES = 20


def _print_notes(notes: list[str]) -> None:
    for note in notes[:MAX_NOTES]:
        print(f"note: {note}")
    if len(notes) > MAX_NOTES:
        print(f"note: ... and {len(notes) - MAX_NOTES:,} more notes like these")


def _unused_action_notes(policy: Any) -> list[str]:
    """The scenario's ``policy.actions`` entries no workflow step runs: a change to a catalogue
    action, or a new action, that changes nothing in this scenario (``mentorng: {take_up:
    0.5}`` made a new action and left mentoring as it was). Notes, not errors: an experiment's
    variant may switch a step to one. (The names are labels: checked when the file loaded.)"""
    import difflib

    from srmsim.policy.actions import CATALOGUE

    used = policy.actions_used()
    notes = []
    for name in policy.actions:
        if name in used:
            continue
        if name in CATALOGUE:
            notes.append(f"policy.actions.{name} changes a catalogue action no workflow step "
                         "uses here")
            continue
        near = difflib.get_close_matches(name, sorted(used | set(CATALOGUE)), n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        notes.append(f"policy.actions.{name} is a new action no workflow step "
                     f"uses{hint}")
    return notes


def _untargeted_choice_notes(compiled: Any) -> list[str]:
    """Choice steps whose chooser ``target`` none of the candidates changes within the step's
    weeks (``target: wellbeing`` among reading actions): every choice's true gain is 0, so any
    chooser has regret 0 and matches the oracle, and the run printed "regret 0.00, 100%" as if
    it chose perfectly. Notes, not errors: a variant may give a candidate such an effect."""
    notes = []
    for w, i, st in compiled.choice_steps:
        target = st.chooser.target
        names = [compiled.action_names[a] for a in st.candidates]
        effects = [compiled.actions[n].effect for n in names]
        weeks = compiled.workflows[w].steps[i].weeks
        if all(getattr(e, target) == 0 or e.onset_weeks >= weeks for e in effects):
            notes.append(f"policy.workflows.{compiled.workflows[w].name}.steps[{i}].chooser."
                         f"target is {target!r}, which none of its candidates "
                         f"({', '.join(names)}) changes within the step: every choice's gain "
                         "is 0, so regret is 0 and every choice matches the oracle whatever "
                         "is chosen")
    return notes


def _before_onset_notes(compiled: Any) -> list[str]:
    """Fixed steps that end before their action's effects begin (``weeks: 2`` of an action with
    ``onset_weeks: 4``; each valid alone): such a course never works (docs/model.md 8.10), and
    the runs charged its staff time and cost for nothing. Notes, not errors: a variant may
    lengthen the step."""
    notes = []
    for wf in compiled.workflows:
        for i, st in enumerate(wf.steps):
            onset = compiled.actions[st.action].effect.onset_weeks
            if not st.candidates and st.weeks < onset:
                notes.append(f"policy.workflows.{wf.name}.steps[{i}] ends after "
                             f"{plural(st.weeks, 'week')}, before action {st.action!r} begins "
                             f"to work (onset_weeks {onset}): its courses cost staff time and "
                             "money and change nothing")
    return notes


def _memory_warning(check: Callable[[], object]) -> str | None:
    """The warning that a run would not fit in this machine's memory (the file is valid:
    another machine may run it, but `srmsim run` would refuse it here), else None. Records
    that cannot be read (``population.records``) are an error, before "valid" is printed."""
    from srmsim.memory import RunTooBigError

    try:
        check()
    except RunTooBigError as err:
        return f"warning: too big for this machine: {err}"
    return None


def _valid(line: str, warning: str | None) -> int:
    print(line)
    if warning:
        print(warning)
    return 0
