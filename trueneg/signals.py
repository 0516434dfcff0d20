"""The interrupt policy: Ctrl-C and SIGTERM stop a run between batches, whatever was running.

:func:`install` (called by the command line, never on import) replaces the SIGINT and SIGTERM
handlers with one that records the signal and raises :class:`KeyboardInterrupt`. Python swallows a
``KeyboardInterrupt`` raised inside a finalizer, so the record is what counts: long loops call
:func:`check` between batches (encoding, search, the detector, training steps, query chunks), and
every commit of an output (:func:`trueneg.io.atomic_path`) calls it before the rename, so an
interrupted run never replaces an output, wherever the signal landed. The command line then exits
with 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM).

Example:
    >>> requested() is None
    True
    >>> check()  # nothing recorded: returns
"""

from __future__ import annotations

import signal

_received: set[int] = set()


def _handler(signum: int, frame: object) -> None:
    first = not _received
    _received.add(signum)
    if first:  # later signals (a second Ctrl-C, a library relaying SIGTERM as SIGINT) only add to the record:
        raise KeyboardInterrupt  # a second KeyboardInterrupt during the clean-up would end in a traceback


def install() -> None:
    """Record SIGINT and SIGTERM and raise ``KeyboardInterrupt`` on either (main thread only)."""
    try:
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)
    except ValueError:  # not the main thread: the host program owns the signals
        pass


def requested() -> int | None:
    """The signal received since :func:`install` (SIGTERM when both came), or None."""
    if not _received:
        return None
    return signal.SIGTERM.value if signal.SIGTERM in _received else min(_received)


def exit_code() -> int | None:
    """128 + the received signal (130 for SIGINT, 143 for SIGTERM), or None."""
    received = requested()
    return None if received is None else 128 + received


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a stop was requested (call between batches)."""
    if _received:
        raise KeyboardInterrupt


def acknowledge() -> None:
    """Forget a received signal: for a command whose normal end is Ctrl-C (the judging server)."""
    _received.clear()
