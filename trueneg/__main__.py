"""``python -m trueneg`` and the ``trueneg`` script: the interrupt policy first, then the command line.

The SIGINT/SIGTERM handlers (:mod:`trueneg.signals`) go in before the command line's heavy imports,
so Ctrl-C in the first second exits with 130 and no traceback, like Ctrl-C at any later moment.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the ``trueneg`` command line; exit 128 + signal after Ctrl-C or SIGTERM, leaving no output."""
    from trueneg import signals

    signals.install()
    try:
        from trueneg.cli import app

        app()
    except KeyboardInterrupt:
        pass
    except SystemExit:
        if signals.requested() is None:
            raise
    else:
        if signals.requested() is None:
            return
    sys.stderr.write("\ninterrupted: stopped before writing; earlier outputs are unchanged\n")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    # the clean-up ran while the interrupt unwound (temporary files and folders are gone); skip the
    # interpreter's finalisation, where the libraries' threads could turn the signal into a traceback
    os._exit(signals.exit_code() or 130)


if __name__ == "__main__":
    main()
