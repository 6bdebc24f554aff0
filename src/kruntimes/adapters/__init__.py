"""Adapters: the shells that connect the pure core to real stores and runtimes."""
