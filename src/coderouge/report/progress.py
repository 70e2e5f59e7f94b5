"""A progress bar with ETA on standard error when it is a terminal (tqdm), nothing otherwise."""

from __future__ import annotations

import os
import sys


class Progress:
    def __init__(self, total: int, enabled: bool | None, desc: str, unit: str = "req"):
        self.bar = None
        if enabled is None:
            enabled = sys.stderr.isatty()
        if enabled and total > 0:
            from tqdm import tqdm

            try:
                sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
            except OSError:
                sized = False
            # a terminal that reports no width (some ptys) would get an empty bar: give it 100 columns
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                            dynamic_ncols=sized, ncols=None if sized else 100)

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
