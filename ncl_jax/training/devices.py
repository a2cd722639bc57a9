"""The device mesh of a run and the placement of host arrays on it.

One axis, "data": parameters are replicated, batches are sharded on their
leading axis. With several processes, each holds only its own rows of a batch.
"""

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


class DeviceMesh:
  """The mesh over every device of every process, and its two shardings."""

  def __init__(self):
    self.mesh = jax.make_mesh(
      (jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,)
    )
    self.replicated = NamedSharding(self.mesh, P())
    self.data_sharding = NamedSharding(self.mesh, P("data"))

  @property
  def size(self) -> int:
    """The number of devices."""
    return self.mesh.size

  def shard(self, array):
    """This process's rows of a global batch -> a global array sharded on "data"."""
    return jax.make_array_from_process_local_data(self.data_sharding, np.asarray(array))

  def shard_global(self, array):
    """A whole global batch that every process holds -> a global array; each
    process contributes the rows of its own devices."""
    array = np.asarray(array)
    if jax.process_count() == 1:
      return self.shard(array)
    index_map = self.data_sharding.addressable_devices_indices_map(array.shape)
    rows = sorted({(i[0].start or 0, i[0].stop or len(array)) for i in index_map.values()})
    local = np.concatenate([array[start:stop] for start, stop in rows])
    return jax.make_array_from_process_local_data(self.data_sharding, local, array.shape)
