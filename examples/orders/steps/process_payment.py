"""Step 2 — Process payment (Python).

Charges every pending order. Each order's status changes atomically with
``update`` (no read-modify-write race with another worker), and the shared
counters in group ``stats`` are incremented atomically too.
"""

from __future__ import annotations

from typing import Any

import statewell

# A stand-in for the payment provider: large orders are declined.
CARD_LIMIT_CENTS = 100_000


def process(sw: statewell.Client, order: dict[str, Any]) -> None:
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
    assert not result["errors"], result["errors"]
    counters: list[statewell.UpdateOp] = [{"type": "increment", "path": "processed", "by": 1}]
    if paid:
        counters.append({"type": "increment", "path": "revenue_cents", "by": order["total_cents"]})
    else:
        counters.append({"type": "increment", "path": "declined", "by": 1})
    sw.update("stats", "payments", counters)
    print(f"[payment] {order['id']}: {result['old_value']['status']} -> {status}", flush=True)


def main() -> None:
    with statewell.connect() as sw:
        page = sw.list_items("orders")
        while True:
            for item in page["items"]:
                if item["value"]["status"] == "pending":
                    process(sw, item["value"])
            if page["next"] is None:
                break
            page = sw.list_items("orders", after=page["next"])


if __name__ == "__main__":
    main()
