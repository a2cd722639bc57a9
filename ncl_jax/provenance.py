"""Where a measurement comes from: the command, the machine and the commit, recorded
in every benchmark and evaluation JSON so that a published figure can be traced."""

import os
import platform
import shlex
import subprocess
import sys

import jax

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def command() -> str:
  """The command line of this process, as it was typed (`python -m ...` kept)."""
  argv = list(getattr(sys, "orig_argv", sys.argv))
  if argv:
    argv[0] = os.path.basename(argv[0])
  return shlex.join(argv)


def cpu_name() -> str:
  """The processor's model name (Linux), else what `platform` knows."""
  try:
    with open("/proc/cpuinfo") as cpuinfo:
      for line in cpuinfo:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def cores() -> int:
  """The cores this process may run on (by which XLA:CPU sizes its thread pools)."""
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine() -> dict:
  """The processor, its cores, and the accelerator devices JAX runs on."""
  device = jax.devices()[0]
  return {
    "cpu": f"{cpu_name()} ({platform.machine()})",
    "cores": cores(),
    "devices": f"{jax.device_count()} x {device.device_kind} ({device.platform})",
  }


def commit() -> str:
  """The git commit of the ncl_jax source, with "+changes" when the tree differs
  from it; "unknown" outside a git checkout (an installed wheel). `NCL_JAX_COMMIT`,
  where set, names it instead: a tree copied to another machine may travel without
  its git history, or with an older one."""
  if os.environ.get("NCL_JAX_COMMIT"):
    return os.environ["NCL_JAX_COMMIT"]

  def git(*args):
    return subprocess.run(
      ["git", "-C", PACKAGE_DIR, *args], capture_output=True, text=True, timeout=30
    ).stdout.strip()

  try:
    head = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
  except (OSError, subprocess.SubprocessError):
    return "unknown"
  return (head + ("+changes" if dirty else "")) if head else "unknown"


def provenance() -> dict:
  """{"command", "machine", "commit", "jax_version"} of this process."""
  return {
    "command": command(),
    "machine": machine(),
    "commit": commit(),
    "jax_version": jax.__version__,
  }
