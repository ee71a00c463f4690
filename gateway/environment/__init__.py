"""Environment and supervised inputs (4-8-7(5)): module inputs and registers to sensor states."""
