"""The one way the harness writes a log file: `log_to(path)` while a run, an export or a farm
night goes on.

The file takes the harness's and the device runners' logs (INFO and up) and every Python warning raised in this
process (the converters' FutureWarnings and the like), so none reaches the terminal; the export
children and the measuring processes write their own output there or into the records. Handlers
nest: a farm night's log and each of its device runs' logs both get the lines of that run.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
OURS = ("harness", "device_runners")


@contextlib.contextmanager
def log_to(path: Path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    ours = [logging.getLogger(name) for name in OURS]
    warnings_logger = logging.getLogger("py.warnings")
    levels, propagate = [logger.level for logger in ours], warnings_logger.propagate
    for logger in ours:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    warnings_logger.addHandler(handler)
    warnings_logger.propagate = False
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        warnings_logger.removeHandler(handler)
        for logger in ours:
            logger.removeHandler(handler)
        if not warnings_logger.handlers:  # the outermost log: back to how it was
            logging.captureWarnings(False)
            warnings_logger.propagate = propagate
            for logger, level in zip(ours, levels):
                logger.setLevel(level)
        handler.close()
