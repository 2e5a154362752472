"""``srmsim dashboard [SCENARIO] [--port N]``: the interactive dashboard in a browser.

The scenario is validated here, before the server starts, so a bad file is a short error with
exit status 2 rather than a broken page. The server listens on the loopback address only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from srmsim.argtypes import path_argument, whole_argument
from srmsim.errors import SrmsimError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
APP = "srmsim.dashboard.app"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="explore a scenario week by week in a browser",
                       description="Start the interactive dashboard on this computer and print "
                       "its address. Pick a scenario, change thresholds, staff minutes and "
                       "workflows, and watch the year run beside the same year with no policy.")
    p.add_argument("scenario", type=path_argument, nargs="?", default=None,
                   help="scenario YAML to open first (default: the shipped scenarios)")
    p.add_argument("--port", type=whole_argument, default=DEFAULT_PORT,
                   help=f"port on {HOST} to serve on (default {DEFAULT_PORT})")
    p.set_defaults(func=run)


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise SrmsimError(f"--port must be between 1 and 65535 (got {port})")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as the server will: a port left in TIME_WAIT by a stopped server is free to listen on
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except PermissionError:  # not in use: below 1024 needs administrator rights
            raise SrmsimError(f"port {port} on {HOST} needs administrator rights (ports below "
                              "1024 usually do); choose one from 1024 up with --port") from None
        except OSError:
            msg = f"port {port} on {HOST} is in use; choose another with --port"
            raise SrmsimError(msg) from None


def server_command(port: int) -> list[str]:
    """The Solara server for the dashboard app, on the loopback address, never opening a
    browser itself.

    ``-P``: ``python -m`` puts the current folder first on the import path, so a ``uvicorn.py``
    or ``random.py`` in the folder the command was started from ran in place of the real
    module (anyone who can write there ran code as the user)."""
    return [sys.executable, "-P", "-m", "solara", "run", APP, "--host", HOST, "--port", str(port),
            "--production", "--no-open"]


def server_env(scenario: Path | None) -> dict[str, str]:
    from srmsim.dashboard.settings import SCENARIO_ENV

    env = dict(os.environ)
    env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"  # nothing leaves the machine
    env.pop(SCENARIO_ENV, None)
    if scenario is not None:
        env[SCENARIO_ENV] = str(scenario.resolve())
    # Solara's advice on each page opened at 127.0.0.1 (not "localhost"): its session cookie
    # falls back to samesite=lax, which is what a dashboard on this computer wants
    quiet = [_mesa_hooks_warning_filter(),
             "ignore:Cookies with samesite=none require https:UserWarning"]
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS"), *quiet) if w)
    # the server imports this srmsim, wherever it was imported from
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _mesa_hooks_warning_filter() -> str | None:
    """A ``PYTHONWARNINGS`` entry silencing Solara's rules-of-hooks warning about Mesa's own
    ``solara_viz.py`` (a ``use_state`` after an early return, Mesa's code, not srmsim's),
    which every start of the dashboard printed as a UserWarning with Solara's advice to edit
    that file. Solara's check stays on for srmsim's components. None where the file's path
    cannot be written in the entry (it holds the separator ``:``)."""
    spec = importlib.util.find_spec("mesa")
    if spec is None or spec.origin is None:
        return None
    viz = str(Path(spec.origin).parent / "visualization" / "solara_viz.py")
    return None if ":" in viz or "," in viz else f"ignore:{viz}:UserWarning"


def run(args: argparse.Namespace) -> int:
    from srmsim.dashboard.settings import check_for_page
    from srmsim.scenario import load_scenario

    scenario = None
    if args.scenario is not None:
        scenario = Path(args.scenario)
        from srmsim.commands import check_file_kind

        check_file_kind(scenario, "scenario")  # an experiment's keys listed as unknown ones
        check_for_page(load_scenario(scenario))  # a bad, too large or real-records file
        # stops here, exit 2
    _check_port(args.port)
    if importlib.util.find_spec("solara") is None:
        raise SrmsimError('the dashboard needs Solara: pip install "srmsim[dashboard]"')
    print(f"srmsim dashboard: open http://{HOST}:{args.port}/ in a browser "
          "(Ctrl+C stops it)", flush=True)
    proc = subprocess.Popen(server_command(args.port), env=server_env(scenario))

    def stop(signum: int, frame: object) -> None:
        # SIGTERM or SIGHUP to this command alone (a process manager, `kill PID`) killed it and
        # left the server serving the port with nothing to stop it
        proc.terminate()

    signals = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {s: signal.signal(s, stop) for s in signals}
    try:
        status = proc.wait()
        return 128 + -status if status < 0 else status
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
