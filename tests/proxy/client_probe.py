"""A test client: counts which backend answers each of N connections.

Run as `python client_probe.py MODE HOST PORT COUNT [SOURCE_PORT]` inside
a network namespace. MODE tcp opens COUNT connections and reads the first
line of each; udp sends COUNT datagrams from one socket (bound to
SOURCE_PORT when given). Prints one JSON object: {"answers": [...],
"errors": [...]}, one entry per attempt.
"""

from __future__ import annotations

import json
import socket
import sys


def tcp(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=2.0) as connection:
        connection.sendall(b"ping\n")
        return connection.makefile().readline().strip()


def main() -> None:
    mode, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    answers: list[str] = []
    errors: list[str] = []
    udp_socket = None
    if mode == "udp":
        udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_socket.settimeout(1.0)
        if len(sys.argv) > 5:
            udp_socket.bind(("0.0.0.0", int(sys.argv[5])))
    for _ in range(count):
        try:
            if udp_socket is not None:
                udp_socket.sendto(b"ping\n", (host, port))
                answers.append(udp_socket.recv(200).decode().strip())
            else:
                answers.append(tcp(host, port))
        except OSError as exc:
            errors.append(type(exc).__name__)
    print(json.dumps({"answers": answers, "errors": errors}))


if __name__ == "__main__":
    main()
