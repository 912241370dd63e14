"""One of several processes writing to the same workspace at once (see test_concurrency.py).

Usage: python concurrent_writer.py WORKSPACE WORKER_ID MODELS GO_FILE
Prints one line per finished model; exits non-zero if any error reached it.
"""

import sys
import time
from pathlib import Path

from modelledger.core.domain import Stage
from modelledger.services.workspace.opening import Workspace


def main(workspace_path: str, worker: int, models: int, go_file: str) -> int:
    workspace = Workspace.open(workspace_path, user=f"writer{worker}")
    # Start together so that the writes really overlap.
    deadline = time.monotonic() + 60
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    registry = workspace.registry
    for index in range(models):
        name = f"w{worker}-m{index}"
        registry.register_model(name, tags=[f"worker{worker}"])
        for _ in range(3):
            registry.add_version(name, metrics={"auc": 0.7 + index / 1000})
        model = registry.get_model(name)
        registry.update_model(name, model.row_version, {"description": f"by {worker}"}, "edit")
        registry.move_to_stage(name, 2, Stage.STAGING, "candidate")
        print(name, flush=True)
    workspace.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
