"""The launcher of ``gradcli ddp``: starts the workers (the options and the run are checked
before, in ``gradcli.ddp.options``) and reports how they ended, as one line and the
documented exit status. Each worker dies with the launcher, however it ends
(``gradcli.ddp.lifeline``).

The workers leave their news in the launcher's temporary folder: ``stopped`` (Ctrl-C, with
the last step), ``diverged`` (what went non-finite), ``closed`` (stdout's reader went away),
``unwritable`` (stdout could not take the data: the error's number and reason) and
``failed-RANK`` (an error, with the time it happened, so the first is reported).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile

from gradcli._startup import collector
from gradcli.ddp.lifeline import die_with
from gradcli.ddp.options import DdpOptions, torchrun_world
from gradcli.errors import Diverged, GradcliError, Interrupted
from gradcli.spec import RunSpec
from gradcli.train.interrupt import ignored, interruptible


def launch(spec: RunSpec, options: DdpOptions) -> None:
    """Run the workers: in this process under torchrun, else as ``nproc`` child processes.
    The options and the run are checked already (``gradcli.ddp.options``)."""
    spec = spec.with_every()  # decided here, where stdout is the user's terminal or pipe
    world = torchrun_world()
    if world is not None:  # torchrun started us
        from gradcli.ddp.worker import worker

        worker(int(os.environ["RANK"]), world, spec, options, "env://")
        return
    import torch.multiprocessing as mp

    # gradcli says how a worker ended, in one line; torch's "Terminating process" is noise
    logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)

    # The workers and multiprocessing's resource tracker start with SIGINT and SIGHUP
    # ignored: they are this process's (SIGTERM stays the workers': it is how a worker is
    # stopped at once; the tracker ignores it itself). So a terminal's Ctrl-C or its closing
    # (sent to the whole process group) and a signal to this process alone all end every
    # worker together, after the same step: the workers watch ``stop`` instead.
    with ignored(signal.SIGINT, signal.SIGHUP):
        _start_resource_tracker()
        stop = mp.get_context("spawn").Event()
    with tempfile.TemporaryDirectory(prefix="gradcli-ddp-") as folder, interruptible() as interrupt:
        store = f"file://{folder}/store"  # a file store: no port to race for
        with ignored(signal.SIGINT, signal.SIGHUP):
            context = mp.start_processes(
                _worker,
                args=(os.getpid(), options.nproc, spec, options, store, stop),
                nprocs=options.nproc,
                start_method="spawn",
                join=False,
            )
        collector.resume()  # start-up is over: from here this process only waits
        try:
            while not context.join(timeout=0.1):
                if interrupt.is_set() and not stop.is_set():
                    stop.set()
            _report(folder, interrupt.signum)

        except mp.ProcessRaisedException as error:
            for process in context.processes:  # let the peers finish failing
                process.join(timeout=options.timeout)
            last = str(error).strip().splitlines()[-1].split(": ", 1)[-1]
            raise GradcliError(f"a worker failed: {_first_failure(folder) or last}") from None

        except mp.ProcessExitedException as error:
            if error.exit_code == 130 or interrupt.is_set():  # (a SIGTERM to them all)
                raise Interrupted(
                    f"the workers stopped together{_stopped_at(folder)}", interrupt.signum
                ) from None
            raise GradcliError(
                f"a worker ended with {error.exit_code or error.signal_name}; "
                "every worker was stopped"
            ) from None
        except KeyboardInterrupt:  # a second Ctrl-C: stop them now, and wait till they are
            for process in context.processes:  # gone (they must not outlive what they use)
                if process.is_alive():
                    process.terminate()
            for process in context.processes:
                process.join()
            raise Interrupted("the workers were stopped at once", interrupt.signum) from None


def _worker(rank: int, launcher: int, *args: object) -> None:
    die_with(launcher)  # first: no worker outlives this process, however it ends
    from gradcli.ddp.worker import worker

    worker(rank, *args)  # type: ignore[arg-type]
    # Done, and its news told: end here. A normal exit runs C++'s static destructors, and
    # under load one of gloo's threads can still be joinable then: "terminate called
    # without an active exception" on the user's stderr, and SIGABRT. (A failure raises on
    # to torch's spawn wrapper, which hands the launcher its traceback.)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: told already
            stream.flush()
    os._exit(0)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, with stderr on /dev/null. It unlinks
    the semaphores of the workers' queues once every process that holds them is gone (after
    a SIGKILL to this process too: then the workers die with it, and the tracker follows);
    its only words are warnings about those semaphores, which are no news to a user. Started
    before anything else needs it, so that it inherits the signals ignored: one that ended
    it early would be relaunched, with a warning and a traceback for each semaphore."""
    from multiprocessing import resource_tracker

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _report(folder: str, signum: int) -> None:
    """How the workers ended, when none of them failed."""
    if os.path.exists(os.path.join(folder, "closed")):
        raise BrokenPipeError  # the command line ends quietly with 141
    unwritable = _read(folder, "unwritable")
    if unwritable is not None:  # the command line says it as every command does: 74
        number, _, reason = unwritable.partition(" ")
        raise OSError(int(number), reason)
    diverged = _read(folder, "diverged")
    if diverged is not None:
        raise Diverged(diverged)
    if os.path.exists(os.path.join(folder, "stopped")):
        raise Interrupted(f"the workers stopped together{_stopped_at(folder)}", signum)


def _read(folder: str, name: str) -> str | None:
    try:
        with open(os.path.join(folder, name)) as file:
            return file.read().strip()
    except OSError:
        return None


def _first_failure(folder: str) -> str | None:
    """The message of the worker that failed first (time.monotonic is one clock for all)."""
    failures = []
    for name in os.listdir(folder):
        if name.startswith("failed-"):
            with open(os.path.join(folder, name)) as file:
                when, _, message = file.read().partition("\n")
            failures.append((float(when), message))
    return min(failures)[1] if failures else None


def _stopped_at(folder: str) -> str:
    step = _read(folder, "stopped")
    return f" after step {step}" if step else ""
