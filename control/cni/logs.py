"""Log lines of the plugin's modules, without importing ``logging`` in the plugin process.

containerd starts the plugin for every pod start and stop, and importing
``logging`` would add about 5 ms to each start. ``PluginLog`` writes its
lines to stderr itself, at the level PYKUBE_CNI_LOG_LEVEL names (WARNING
by default). In a process that has imported ``logging`` (the node agent,
which calls IPAM and the routes code, or a test run), it hands each line
to ``logging.getLogger(name)`` instead, so that process's handlers and
levels apply.
"""

from __future__ import annotations

import os
import sys
import time

LEVEL_VARIABLE = "PYKUBE_CNI_LOG_LEVEL"
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_DEFAULT_LEVEL = "WARNING"


class PluginLog:
    """A logger with the methods of ``logging.Logger`` that the plugin uses."""

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: object) -> None:
        self._log(_LEVELS["DEBUG"], msg, args)

    def info(self, msg: str, *args: object) -> None:
        self._log(_LEVELS["INFO"], msg, args)

    def warning(self, msg: str, *args: object) -> None:
        self._log(_LEVELS["WARNING"], msg, args)

    def error(self, msg: str, *args: object) -> None:
        self._log(_LEVELS["ERROR"], msg, args)

    def exception(self, msg: str, *args: object) -> None:
        """Log at ERROR with the traceback of the exception being handled."""
        self._log(_LEVELS["ERROR"], msg, args, exc_info=True)

    def _log(self, level: int, msg: str, args: tuple[object, ...], *, exc_info: bool = False) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.getLogger(self.name).log(level, msg, *args, exc_info=exc_info)
            return
        if level < threshold():
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
        name = next(key for key, value in _LEVELS.items() if value == level)
        sys.stderr.write(f"{stamp} {name} {self.name} {msg % args if args else msg}\n")
        if exc_info:
            import traceback

            traceback.print_exc(file=sys.stderr)


def threshold() -> int:
    """Return the lowest level written to stderr; an unknown name in the variable means the default."""
    return _LEVELS.get(os.environ.get(LEVEL_VARIABLE, _DEFAULT_LEVEL).upper(), _LEVELS[_DEFAULT_LEVEL])
