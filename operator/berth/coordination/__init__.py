"""Who may write which object when more than one replica runs; knows no kopf.

- ``shards``: the pure rules of sharding (a namespace's shard, fair shares, what was
  seen of the Leases and since when);
- ``sharding``: a replica's ``Sharder``, which keeps the Leases of the shards it holds
  and is the gate of every write of a reconcile;
- ``peering``: a peered replica's ``Peering``, the gate that lets it reconcile only
  while no live peer outranks it.

The runtime (``berth.handlers.runtime``) is given these gates; they are given a client
and a clock, and never see the runtime.
"""
