"""Container registries: the digest a tag points to, through the OCI distribution API.

The second door out of the operator (``berth.kube`` is the first, to the API server):
only ``resolver`` speaks to registries; ``auth`` reads the pull Secrets the caller hands
it. Used where a Workload's Pods did not report the digest they run.
"""
