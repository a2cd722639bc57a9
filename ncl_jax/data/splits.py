"""Seeded, order-independent splits: an example (or a group of them) goes to a
split by a hash of its name, so every copy of a dataset splits alike and adding
files never moves the others."""

import hashlib


def seeded_fraction(name: str, seed: int) -> float:
  """A stable number in [0, 1) from a name: the basis of seeded splits."""
  digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
  return int.from_bytes(digest[:8], "big") / 2**64


def carve(items, group_of, fraction: float, seed: int):
  """(kept, carved): the items whose group hashes below `fraction` are carved out;
  all members of a group stay together, so nothing leaks between the two. With
  two groups or more, at least one group is carved and one kept; with fewer,
  nothing is carved."""
  score = {group: seeded_fraction(group, seed) for group in map(group_of, items)}
  if len(score) < 2:
    return list(items), []
  ranked = sorted(score, key=score.get)
  carved_groups = {group for group, value in score.items() if value < fraction}
  carved_groups = (carved_groups or {ranked[0]}) - {ranked[-1]}
  kept = [item for item in items if group_of(item) not in carved_groups]
  carved = [item for item in items if group_of(item) in carved_groups]
  return kept, carved
