"""Graceful stop on SIGTERM / SIGINT.

The first signal asks the training loop to finish its current step, write a
checkpoint, wait until it is committed and exit: code 0 after SIGTERM (the
scheduler's normal preemption notice), 130 after SIGINT (Ctrl-C). A second signal
while that happens ends the process at once, by that signal.
"""

import os
import signal
import threading

EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}


class Preempted(Exception):
  """Raised by the training loop after its checkpoint is committed."""

  def __init__(self, signum: int, step: int):
    self.signum, self.step = signum, step
    self.exit_code = EXIT_CODES.get(signum, 1)
    super().__init__(
      f"stopped by {signal.Signals(signum).name} after step {step}; "
      f"the checkpoint of step {step} is committed. Run the same command "
      "again to resume."
    )


class PreemptionHandler:
  """Context manager that records the first SIGTERM/SIGINT instead of dying."""

  def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
    self.signals = signals
    self.signum = None
    self._previous = {}

  @property
  def requested(self) -> bool:
    """Whether a stop signal arrived."""
    return self.signum is not None

  def handle(self, signum, frame):
    """The signal handler: the first signal asks for a stop, a second one stops at once."""
    del frame
    if self.signum is not None:
      # Second signal: stop now, by the signal's default action.
      signal.signal(signum, signal.SIG_DFL)
      os.kill(os.getpid(), signum)
      return
    self.signum = signum
    print(
      f"\n{signal.Signals(signum).name} received: finishing the current step and "
      "writing a checkpoint (send it again to stop at once).",
      flush=True,
    )

  def __enter__(self):
    # Signal handlers can only be installed from the main thread (not e.g. in a
    # notebook's worker thread); elsewhere the run is simply not preemption-safe.
    if threading.current_thread() is threading.main_thread():
      for signum in self.signals:
        self._previous[signum] = signal.signal(signum, self.handle)
    return self

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    return False
