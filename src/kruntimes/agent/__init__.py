"""`runtimed`: the agent of one Runtime Pod. Claims its Runs, executes them, reports."""
