"""Prints how long login and activation take for a known vs an unknown email (enumeration by timing).

Target (issue: security basics): known and unknown answer within ~10 ms of each other.
Run: .venv/bin/python bench/bench_auth_timing.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade

from api.app import create_app
from api.config import load_settings

PASSWORD = "passw0rd-Aa1"


def _timed_ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _paired_medians(known, unknown, rounds: int) -> tuple[float, float]:
    """Interleave the two cases so machine noise hits both alike."""
    k_samples, u_samples = [], []
    for _ in range(rounds):
        k_samples.append(_timed_ms(known))
        u_samples.append(_timed_ms(unknown))
    return statistics.median(k_samples), statistics.median(u_samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    storage = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    settings = load_settings({"STORAGE_DIR": str(storage), "LOG_LEVEL": "error", "LOGIN_MAX_FAILURES_PER_ACCOUNT":
                              "1000000", "LOGIN_MAX_FAILURES_PER_IP": "1000000"})
    app = create_app(settings)
    with app.app_context():
        upgrade()
    client = app.test_client()
    client.post("/console/api/setup", json={"email": "owner@example.com", "name": "Owner", "password": PASSWORD})
    token = client.post("/console/api/login", json={"email": "owner@example.com", "password": PASSWORD}).json
    headers = {"Authorization": f"Bearer {token['data']['access_token']}"}
    client.post("/console/api/workspaces/current/members/invite-email", headers=headers,
                json={"emails": ["invitee@example.com"], "role": "editor"})

    def login(email: str):
        return lambda: client.post("/console/api/login", json={"email": email, "password": "wrong-passw0rd"})

    def activate(email: str, tok: str):
        return lambda: client.post("/console/api/activate", json={"email": email, "token": tok, "name": "N",
                                                                  "password": PASSWORD})

    def setup(email: str):
        return lambda: client.post("/console/api/setup", json={"email": email, "name": "N", "password": PASSWORD})

    cases = [
        ("login, wrong password", login("owner@example.com"), login("nobody@example.com")),
        ("activate, bad token", activate("invitee@example.com", "bogus"), activate("nobody@example.com", "bogus")),
        ("setup after install", setup("owner@example.com"), setup("nobody@example.com")),
    ]
    print(f"{'case':<24}{'known ms':>10}{'unknown ms':>12}{'|diff| ms':>11}  target ≤ 10 ms")
    for name, known, unknown in cases:
        known(), unknown()  # warm-up
        k, u = _paired_medians(known, unknown, args.rounds)
        verdict = "MET" if abs(k - u) <= 10 else "NOT MET"
        print(f"{name:<24}{k:>10.2f}{u:>12.2f}{abs(k - u):>11.2f}  {verdict}")


if __name__ == "__main__":
    main()
