"""The free ports of one stack are all different.

Asked one at a time, the kernel may hand out again a port it gave a moment ago, since nothing
listens on it yet: a CI run once gave the Collector's own telemetry and Jaeger's OTLP receiver
the same port. 500 ports asked one at a time collide with near certainty (about 4 pairs
expected out of some 28,000 ephemeral ports); held together, never.
"""

from devtools.stack.processes import free_ports
from devtools.stack.telemetry import Ports


def test_ports_asked_together_are_all_different() -> None:
    ports = free_ports(500)
    assert len(set(ports)) == 500


def test_a_stacks_telemetry_ports_are_all_different() -> None:
    for _ in range(50):
        ports = Ports.free()
        assert len(set(vars(ports).values())) == len(vars(ports))
