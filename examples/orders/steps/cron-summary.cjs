// Step 3 — View all orders (cron job, plain JavaScript with require()).
// Lists every order of group "orders" and prints a summary.
const { connect } = require("statewell");

async function main() {
  const sw = await connect();
  try {
    const orders = await sw.state.list("orders");
    const stats = (await sw.state.get("stats", "payments")) ?? {};
    const byStatus = {};
    for (const order of orders) byStatus[order.status] = (byStatus[order.status] ?? 0) + 1;
    for (const order of orders) {
      console.log(`[cron] ${order.id} ${order.customer.padEnd(6)} ${(order.total_cents / 100).toFixed(2).padStart(8)} ${order.status}`);
    }
    const summary = {
      orders: orders.length,
      by_status: byStatus,
      processed: stats.processed ?? 0,
      declined: stats.declined ?? 0,
      revenue: ((stats.revenue_cents ?? 0) / 100).toFixed(2),
    };
    console.log(`[cron] summary ${JSON.stringify(summary)}`);
  } finally {
    await sw.close();
  }
}

main().catch((err) => {
  console.error(`[cron] failed: ${err.code ?? ""} ${err.message}`);
  process.exit(1);
});
