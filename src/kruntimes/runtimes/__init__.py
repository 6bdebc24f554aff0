"""Runtime Servers (bash, python, custom) and the clients the agent uses to drive them."""
