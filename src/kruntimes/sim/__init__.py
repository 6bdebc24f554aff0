"""Discrete-event simulation of kruntimes scheduling in virtual time (what-if studies)."""
