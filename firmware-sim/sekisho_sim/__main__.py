"""``python -m sekisho_sim serve SPEC`` (and every ``sekisho sim`` command)."""

from sekisho_sim.cli import app

if __name__ == "__main__":
    app(prog_name="python -m sekisho_sim")
