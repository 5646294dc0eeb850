"""Step 2 — Process payment (Python), run as a state trigger.

A long-lived worker: it subscribes to changes of group ``orders`` and, for
every order that is *created* with status ``pending`` (by the TypeScript API
step), charges it. The order's status changes atomically with ``update`` (no
read-modify-write race with other workers), and the shared counters in group
``stats`` are incremented atomically too.

    python process_payment.py [--exit-after N]

``--exit-after N`` stops after N payments (used by run.sh to run the workflow
once); without it the worker runs until interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

import statewell

# A stand-in for the payment provider: large orders are declined.
CARD_LIMIT_CENTS = 100_000


def charge(sw: statewell.Client, order: dict[str, Any]) -> str | None:
    # The engine delivers at least once (a failed handler is retried): charge
    # only an order that is still pending. Events of one trigger arrive one at
    # a time, so nothing else of ours changes the order in between.
    current = sw.get("orders", order["id"])
    if not isinstance(current, dict) or current.get("status") != "pending":
        return None
    paid = order["total_cents"] <= CARD_LIMIT_CENTS
    status = "paid" if paid else "declined"
    result = sw.update(
        "orders",
        order["id"],
        [
            {"type": "set", "path": "status", "value": status},
            {"type": "increment", "path": "payment_attempts", "by": 1},
        ],
    )
    if result["errors"]:
        raise statewell.StateError("update_failed", str(result["errors"]))
    counters: list[statewell.UpdateOp] = [{"type": "increment", "path": "processed", "by": 1}]
    if paid:
        counters.append({"type": "increment", "path": "revenue_cents", "by": order["total_cents"]})
    else:
        counters.append({"type": "increment", "path": "declined", "by": 1})
    sw.update("stats", "payments", counters)
    print(f"[payment] {order['id']}: {result['old_value']['status']} -> {status}", flush=True)
    return status


def is_new_pending_order(event: statewell.StateEvent) -> bool:
    # Our own updates (status -> paid) raise state:updated events: skip them.
    value = event["new_value"]
    return event["event_type"] == "state:created" and isinstance(value, dict) and value.get("status") == "pending"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exit-after", type=int, default=0, help="stop after this many payments")
    args = parser.parse_args()

    done = threading.Event()
    count = 0
    lock = threading.Lock()

    with statewell.connect() as sw:

        def on_new_order(event: statewell.StateEvent) -> None:
            nonlocal count
            if charge(sw, event["new_value"]) is None:
                return
            with lock:
                count += 1
                if args.exit_after and count >= args.exit_after:
                    done.set()

        sw.on_state_change(on_new_order, group_id="orders", condition=is_new_pending_order)
        # Registered after the trigger on the same connection, so once the
        # engine knows this function it knows the trigger too: the API step
        # waits for it before taking orders.
        sw.register_function("payments::ready", lambda _: {"ready": True})
        print("[payment] worker ready, waiting for new orders", file=sys.stderr, flush=True)
        if not done.wait(timeout=None if not args.exit_after else 120):
            print("[payment] gave up waiting for orders", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
