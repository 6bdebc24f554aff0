"""The trio shells around the pure core: the scheduler loop, local Pods, the embedded engine."""
