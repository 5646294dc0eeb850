// Browsing: the address of each view, the groups with their counts, a big
// group by pages and by prefix, one item as a tree; back and forward.
import { consoleUrl, expect, fillFast, test, uniqueGroup } from "./engine.js";

test("a browser opening / is sent to the console, whose files carry a strict CSP", async ({ page, engine }) => {
  const response = await page.goto(`${engine.url}/`);
  await expect(page).toHaveURL(`${engine.url}/ui/groups`);
  const csp = response.headers()["content-security-policy"];
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("unsafe-inline");
  await expect(page.getByRole("heading", { name: "Groups", level: 1 })).toBeVisible();
});

test("a group of 5,000 items is browsed by pages and by prefix", async ({ page, context, engine }) => {
  const group = uniqueGroup("big");
  const entries = Array.from({ length: 5000 }, (_, i) => [
    `k${String(i).padStart(5, "0")}`,
    { n: i, label: `item number ${i}`, tags: ["a", "b"] },
  ]);
  await fillFast(context, engine, group, entries);
  expect(await engine.api.size(group)).toBe(5000);

  await page.goto(`${engine.url}/ui/groups`);
  const groupRow = page.locator("#groups-table tr", { has: page.getByRole("link", { name: group, exact: true }) });
  await expect(groupRow).toContainText("5,000");

  await groupRow.getByRole("link").click();
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  await expect(page.locator("#group-count")).toHaveText("5,000 items");
  const rows = page.locator("#items-table tbody tr");
  await expect(rows).toHaveCount(50);
  await expect(rows.first().locator("td.key")).toHaveText("k00000");
  await expect(rows.first().locator("td.preview")).toContainText('{"n":0,"label":"item number 0"');
  await expect(rows.first().locator("td.version")).toHaveText(/^\d+$/);

  await page.getByRole("button", { name: "Next ›" }).click();
  await expect(rows.first().locator("td.key")).toHaveText("k00050");
  await expect(page.locator("#page-label")).toHaveText("Page 2 · items 51–100");
  await page.getByRole("button", { name: "Next ›" }).click();
  await expect(rows.first().locator("td.key")).toHaveText("k00100");
  await page.getByRole("button", { name: "‹ Previous" }).click();
  await expect(rows.first().locator("td.key")).toHaveText("k00050");

  await page.locator("#page-size").selectOption("250");
  await expect(rows).toHaveCount(250);
  await expect(rows.first().locator("td.key")).toHaveText("k00000");

  await page.getByLabel("Filter").fill("k0420");
  await expect(rows).toHaveCount(10);
  await expect(rows.first().locator("td.key")).toHaveText("k04200");
  await expect(rows.last().locator("td.key")).toHaveText("k04209");
  await expect(page.getByRole("button", { name: "Next ›" })).toBeDisabled();
  // The filter is part of the address.
  await expect(page).toHaveURL(`${consoleUrl.group(engine, group)}?prefix=k0420`);

  await page.getByLabel("Filter").fill("k0499");
  await expect(rows).toHaveCount(10);
  await expect(rows.last().locator("td.key")).toHaveText("k04999");

  await page.getByLabel("Filter").fill("nothing-here");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("No key starts with");

  // The last page of the whole group ends at the last item.
  await page.getByLabel("Filter").fill("");
  // The filter applies after a pause in typing: wait for it before paging.
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  await expect(rows).toHaveCount(250);
  await expect(rows.first().locator("td.key")).toHaveText("k00000");
  for (let i = 0; i < 19; i++) await page.getByRole("button", { name: "Next ›" }).click();
  await expect(page.locator("#page-label")).toHaveText("Page 20 · items 4,751–5,000");
  await expect(rows.last().locator("td.key")).toHaveText("k04999");
  await expect(page.getByRole("button", { name: "Next ›" })).toBeDisabled();
});

test("an item's address opens it directly; back and forward work", async ({ page, engine }) => {
  const group = uniqueGroup("tenant/eu orders");
  const key = "order #1/a b?c%d";
  // Written as text: the integer is beyond what a JS number holds exactly.
  await engine.api.putText(group, key, '{"status":"paid","total":12345678901234567890,"lines":[{"sku":"x","qty":2}]}');
  await engine.api.put(group, "other", 1);

  await page.goto(consoleUrl.item(engine, group, key));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(key);
  const tree = page.locator("#item-content .json-tree");
  await expect(tree).toContainText('"status": "paid"');
  // An integer beyond 2^53 is shown exactly as stored.
  await expect(tree).toContainText("12345678901234567890");
  await expect(page.locator("#item-version")).toHaveText(/^\d+$/);
  await expect(page.locator("#item-meta")).toContainText("Size");
  // Objects collapse and expand.
  const lines = page.locator("#item-content details details").first();
  await expect(lines).toHaveAttribute("open", "");
  await lines.locator("> summary").click();
  await expect(lines).not.toHaveAttribute("open", "");

  await page.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link", { name: group }).click();
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  await expect(page.locator("#items-table tbody tr")).toHaveCount(2);
  await page.getByRole("link", { name: "other" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("other");

  await page.goBack();
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  await expect(page.locator("#items-table tbody tr")).toHaveCount(2);
  await page.goBack();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(key);
  await page.goForward();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(group + " 2 items");
});

test("the keyboard reaches every view: a group is opened with Tab and Enter", async ({ page, engine }) => {
  const group = uniqueGroup("keyboard");
  await engine.api.put(group, "k", { a: 1 });
  await page.goto(`${engine.url}/ui/groups`);
  const link = page.getByRole("link", { name: group, exact: true });
  await expect(link).toBeVisible();
  await link.focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  await page.getByRole("link", { name: "k", exact: true }).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("k");
});
