"""The simulated site the end-to-end tests run on (see ``sekisho.simulated``)."""

from sekisho.simulated import FAST_DOORS
from sekisho.simulated import SimulatedSite as Harness
from sekisho.simulated import start_simulated_site as start_harness
from sekisho.simulated import stop_simulated_site as stop_harness

__all__ = ["FAST_DOORS", "Harness", "start_harness", "stop_harness"]
