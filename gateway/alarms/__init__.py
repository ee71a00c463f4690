"""Alarms (4-8-7(4)(5)): the catalogue, the state machine, the console service and its table."""
