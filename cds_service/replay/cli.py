"""`cds-replay`: replay fixture folders, or one exported patient, through the service.

    cds-replay FOLDER                   every FOLDER/<scenario>/request.json, in-process
    cds-replay --url BASE_URL FOLDER    the same against a running service
    cds-replay patient BUNDLE.json --order 72131 [--reason M54.50]

Exit status: 0 when every answer matches its expected.json (patient: the service answered
200), 1 when one does not, 2 when the replay could not run (usage, unreadable files,
service unreachable).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from cds_service.replay.fixtures import fixtures_main
from cds_service.replay.patient import patient_main
from cds_service.replay.service import EXIT_CANNOT_RUN


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["patient"]:
            return patient_main(args[1:])
        return fixtures_main(args)
    except BrokenPipeError:
        # The reader went away (`cds-replay fixtures | head`): stop quietly, as a filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CANNOT_RUN
