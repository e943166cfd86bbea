"""Scaling beyond one process: the pieces that several replicas of a service share.

One module a concern: `cache` (a Redis prediction cache shared by every replica, module 05).
Import from the modules themselves, e.g. `from mlkit.scaling.cache import start_redis`.
"""
