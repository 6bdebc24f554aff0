"""kruntimes: run many short executions on pools of warm Runtime Pods."""

__version__ = "0.1.0"
