"""Run the urbanshrink command line as a child process for a Processing algorithm.

Standard library only (QGIS's Python runs this). The child writes ``progress: STAGE DONE/TOTAL``
lines (``URBANSHRINK_PROGRESS=lines``) that move the feedback bar; ``Error: ...`` is its one-line
error; other lines are shown in the log. Cancelling sends the child's process group SIGINT, so
its staging folders and temporary files are removed as on Ctrl-C, then SIGKILL if it lingers.
"""

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

#: Written by ``urbanshrink qgis-plugin install`` beside this file.
SETTINGS_FILE = Path(__file__).with_name("urbanshrink.json")

_PROGRESS = re.compile(r"^progress: (?P<stage>.*) (?P<done>\d+)/(?P<total>\d+)$")


class CliError(Exception):
    """The command line failed: its one-line error, or the last lines it wrote."""


class CliCancelled(Exception):
    """The user cancelled; the child process was ended."""


def settings():
    """The install record: the command line to run and the registry's names.

    Raises
    ------
    CliError
        The plugin was copied by hand, without ``urbanshrink qgis-plugin install``.
    """
    try:
        return json.loads(SETTINGS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CliError(
            f"the plugin has no install record ({SETTINGS_FILE.name}): run "
            "`urbanshrink qgis-plugin install` in the environment urbanshrink_gis is installed in"
        ) from err


def run_cli(arguments, feedback, *, grace_s=10.0):
    """Run ``urbanshrink ARGUMENTS`` and stream its lines into `feedback`.

    Parameters
    ----------
    arguments
        Command-line arguments after ``urbanshrink`` (strings).
    feedback
        A ``QgsProcessingFeedback`` (``setProgress``, ``setProgressText``, ``pushInfo``,
        ``reportError``, ``isCanceled``) or None.
    grace_s
        Seconds a cancelled child has to clean up after SIGINT before it is killed.

    Returns
    -------
    list of str
        The lines the child wrote (stdout and stderr, in order).

    Raises
    ------
    CliError
        The child exited non-zero; the message is its ``Error:`` line when it wrote one.
    CliCancelled
        `feedback` was cancelled; the child has ended.
    """
    command = [*settings()["command"], *map(str, arguments)]
    env = {**os.environ, "URBANSHRINK_PROGRESS": "lines", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)  # QGIS's own Python path must not leak into the child
    env.pop("PYTHONHOME", None)
    if feedback is not None:
        feedback.pushCommandInfo(" ".join(command))
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, text=True, encoding="utf-8", errors="replace", bufsize=1,
        start_new_session=True,
    )  # fmt: skip
    lines = queue.Queue()
    reader = threading.Thread(target=_read, args=(child.stdout, lines), daemon=True)
    reader.start()
    written, cancelled = [], False
    while True:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            line = ""
        if line is None:  # the child closed its output
            break
        if line:
            written.append(line)
            _show(line, feedback)
        if feedback is not None and feedback.isCanceled() and not cancelled:
            cancelled = True
            _end(child, grace_s)
    code = child.wait()
    if cancelled:
        raise CliCancelled("cancelled: the run was stopped and its partial files removed")
    if code != 0:
        errors = [line for line in written if line.startswith("Error:")]
        tail = errors[-1] if errors else " | ".join(written[-5:]) or f"exit code {code}"
        raise CliError(tail.removeprefix("Error:").strip())
    return written


def _read(stream, lines):
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _show(line, feedback):
    if feedback is None:
        return
    match = _PROGRESS.match(line)
    if match:
        done, total = int(match["done"]), int(match["total"])
        feedback.setProgressText(match["stage"])
        if total:
            feedback.setProgress(100.0 * done / total)
    elif line.startswith("Error:"):
        feedback.reportError(line, fatalError=True)
    elif line.startswith("Warning:"):
        feedback.pushWarning(line)
    else:
        feedback.pushInfo(line)


def _end(child, grace_s):
    """SIGINT to the child's group (it cleans up as on Ctrl-C), SIGKILL after `grace_s`."""
    try:
        os.killpg(child.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
