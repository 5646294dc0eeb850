// The screenshot of the README's tour: a group in the console with its
// changes panel. Always written to results/console.png; with
// CONSOLE_SCREENSHOT=1 also to docs/console.png.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { consoleUrl, expect, test } from "./engine.js";

const here = dirname(fileURLToPath(import.meta.url));

test("a screenshot of a group with live changes", async ({ page, engine }) => {
  const group = "orders";
  const customers = ["ada", "grace", "linus", "margaret", "ken", "barbara"];
  for (let i = 1; i <= 14; i++) {
    await engine.api.put(group, `o-${1000 + i}`, {
      customer: customers[i % customers.length],
      status: i % 3 === 0 ? "shipped" : i % 3 === 1 ? "paid" : "new",
      total: 20 + ((i * 37) % 180),
      lines: [{ sku: `sku-${i}`, qty: 1 + (i % 3) }],
    });
  }
  await engine.api.put("customers", "ada", { name: "Ada", tier: "gold" });
  await engine.api.put("sessions", "s-1", { user: "ada" });

  await page.setViewportSize({ width: 1280, height: 760 });
  // No highlight caught halfway in the picture.
  await page.emulateMedia({ reducedMotion: "reduce" });
  await page.goto(consoleUrl.group(engine, group));
  await expect(page.locator("#items-table tbody tr")).toHaveCount(14);
  await expect(page.locator("#connection")).toHaveText("live");
  await engine.api.put(group, "o-1003", { customer: "linus", status: "paid", total: 131, lines: [{ sku: "sku-3", qty: 1 }] });
  await engine.api.put(group, "o-1015", { customer: "ada", status: "new", total: 42, lines: [{ sku: "sku-15", qty: 2 }] });
  await engine.api.delete(group, "o-1008");
  await expect(page.locator("#changes-list li")).toHaveCount(3);
  await expect(page.locator("#group-count")).toHaveText("14 items");
  await expect(page.locator("#items-table").getByRole("link", { name: "o-1008", exact: true })).toHaveCount(0);
  await expect(page.locator("#items-table tr.leaving")).toHaveCount(0);

  const out = resolve(here, "../results/console.png");
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, animations: "disabled" });
  if (process.env.CONSOLE_SCREENSHOT === "1") {
    copyFileSync(out, join(here, "../../../docs/console.png"));
  }
});
