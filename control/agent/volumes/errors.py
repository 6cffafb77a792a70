"""The one error a volume raises, so the pod worker can report which volume failed and why."""

from __future__ import annotations


class VolumeError(Exception):
    """A volume of a pod cannot be set up, mounted or removed.

    ``volume`` is the volume's name in ``spec.volumes`` ("" when the error
    is about the pod as a whole), and the message states what is wrong with it
    and what to change.
    """

    def __init__(self, volume: str, problem: str) -> None:
        message = f'volume "{volume}": {problem}' if volume else problem
        super().__init__(message)
        self.volume = volume
        self.problem = problem
