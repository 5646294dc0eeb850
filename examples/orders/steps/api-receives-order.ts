// Step 1 — API receives order (TypeScript).
// In a real backend this is the handler of POST /orders; here it receives the
// orders of steps/orders.json one by one and stores each in group "orders".
import { readFile } from "node:fs/promises";
import { connect } from "statewell";

interface OrderLine {
  sku: string;
  qty: number;
  price_cents: number;
}

interface Order {
  id: string;
  customer: string;
  items: OrderLine[];
  total_cents: number;
  status: "pending" | "paid" | "declined";
  created_at: string;
}

const incoming: Omit<Order, "total_cents" | "status" | "created_at">[] = JSON.parse(
  await readFile(new URL("../steps/orders.json", import.meta.url), "utf8"),
);

const sw = await connect();

// Orders are paid by the payment worker (a state trigger on group "orders"):
// wait until it is up, so no order is created before anyone listens.
async function waitForPaymentWorker(): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    try {
      await sw.invoke("payments::ready", {});
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "function_not_found") throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("the payment worker did not come up");
}

try {
  await waitForPaymentWorker();
  for (const req of incoming) {
    const order: Order = {
      ...req,
      total_cents: req.items.reduce((sum, line) => sum + line.qty * line.price_cents, 0),
      status: "pending",
      created_at: new Date().toISOString(),
    };
    const { old_value } = await sw.state.set<Order>("orders", order.id, order);
    const verb = old_value === null ? "stored" : "replaced";
    console.log(`[api] ${verb} order ${order.id} for ${order.customer}: ${(order.total_cents / 100).toFixed(2)}`);
  }
} finally {
  await sw.close();
}
