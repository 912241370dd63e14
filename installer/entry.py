"""Entry point of the frozen application (installer/modelledger.spec builds two executables
from it: the windowed ``ModelLedger`` and the console ``modelledger-cli``)."""

import multiprocessing

if __name__ == "__main__":
    # Monitor runs and pack verification use spawned worker processes; in a frozen build each
    # one starts this executable again, and freeze_support() turns it into the worker.
    multiprocessing.freeze_support()
    from modelledger.cli.main import main

    raise SystemExit(main())
