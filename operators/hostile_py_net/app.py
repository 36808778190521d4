"""Tries to reach the network; the host must refuse the component at load."""

import trace_sdk as trace
from wit_world.imports import outgoing_handler, tcp


def run(ctx, event) -> None:
    tcp.connect("169.254.169.254", 80)
    outgoing_handler.handle("http://169.254.169.254/")


WitWorld = trace.export(run)
