"""Progress on standard error: a bar with ETA when it is a terminal (tqdm); otherwise (a CI log, a file) a
plain line every few seconds once a run has lasted that long: done/total, rate, ETA."""

from __future__ import annotations

import os
import sys
import time

LINE_EVERY_S = 5.0


class Progress:
    def __init__(self, total: int, enabled: bool | None, desc: str, unit: str = "req"):
        self.bar = None
        self.lines = False
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.t0 = self.last = time.monotonic()
        tty = sys.stderr.isatty()
        if enabled is None:
            enabled = True
            self.lines = not tty
        if enabled and total > 0 and not self.lines:
            from tqdm import tqdm

            try:
                sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
            except OSError:
                sized = False
            # a terminal that reports no width (some ptys) would get an empty bar: give it 100 columns
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                            dynamic_ncols=sized, ncols=None if sized else 100)
        self.lines = self.lines and enabled and total > 0
        self.printed = False

    def _line(self) -> str:
        el = time.monotonic() - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        eta_s = "—" if eta is None else (f"{eta:.0f}s" if eta < 120 else f"{eta / 60:.1f} min")
        return (f"{self.desc}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%), "
                f"{rate:.2f} {self.unit}/s, ETA {eta_s}")

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.lines:
            now = time.monotonic()
            if now - self.last >= LINE_EVERY_S:
                self.last = now
                self.printed = True
                sys.stderr.write(self._line() + "\n")
                sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.lines and self.printed:
            sys.stderr.write(self._line() + " done\n")
            sys.stderr.flush()
