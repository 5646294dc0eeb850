// The page follows the change feed: writes made by another client appear
// in the open page with a highlight, and the changes panel lists them with
// their revisions.
import { consoleUrl, expect, test, uniqueGroup } from "./engine.js";

test("another client's writes appear in the open group", async ({ page, engine }) => {
  const group = uniqueGroup("live");
  await engine.api.put(group, "a", { n: 1 });
  await page.goto(consoleUrl.group(engine, group));
  const rows = page.locator("#items-table tbody tr");
  await expect(rows).toHaveCount(1);
  await expect(page.locator("#connection")).toHaveText("live");

  const created = await engine.api.put(group, "b", { n: 2 });
  const row = rows.filter({ has: page.getByRole("link", { name: "b", exact: true }) });
  await expect(row).toBeVisible();
  await expect(row).toHaveClass(/flash-created/);
  await expect(row.locator("td.version")).toHaveText(created.etag.replaceAll('"', ""));
  await expect(page.locator("#group-count")).toHaveText("2 items");
  const latest = page.locator("#changes-list li").first();
  await expect(latest).toContainText("created");
  await expect(latest).toContainText(`#${created.etag.replaceAll('"', "")}`);
  await expect(latest).toContainText(`${group} / b`);

  await engine.api.put(group, "a", { n: 10 });
  await expect(rows.first().locator("td.preview")).toHaveText('{"n":10}');
  await expect(rows.first()).toHaveClass(/flash-changed/);

  await engine.api.delete(group, "b");
  await expect(rows).toHaveCount(1);
  await expect(page.locator("#group-count")).toHaveText("1 item");
  await expect(page.locator("#changes-list li").first()).toContainText("deleted");
});

test("the groups list and an open item follow the feed too", async ({ page, engine }) => {
  const group = uniqueGroup("counted");
  await engine.api.put(group, "a", 1);
  await page.goto(`${engine.url}/ui/groups`);
  const groupRow = page.locator("#groups-table tr", { has: page.getByRole("link", { name: group, exact: true }) });
  await expect(groupRow.locator("td.count")).toHaveText("1");
  await expect(page.locator("#connection")).toHaveText("live");
  await engine.api.put(group, "b", 2);
  await expect(groupRow.locator("td.count")).toHaveText("2");
  const fresh = uniqueGroup("fresh");
  await engine.api.put(fresh, "x", 1);
  await expect(page.getByRole("link", { name: fresh, exact: true })).toBeVisible();

  await page.goto(consoleUrl.item(engine, group, "a"));
  await expect(page.locator("#item-content")).toContainText("1");
  await expect(page.locator("#connection")).toHaveText("live");
  await engine.api.put(group, "a", { now: "changed" });
  await expect(page.locator("#item-content .json-tree")).toContainText('"now": "changed"');
});

test("a change that arrives while the page is being read is not lost", async ({ page, engine }) => {
  const group = uniqueGroup("overlap");
  await engine.api.put(group, "a", 1);
  // The engine answers the page reads at once; the page gets the answers
  // only after a later write's event has reached it.
  let fetched = 0;
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  await page.route(/\/v1\/groups\/[^/]+\/items\?/, async (route) => {
    const response = await route.fetch();
    fetched += 1;
    await held;
    await route.fulfill({ response });
  });
  await page.goto(consoleUrl.group(engine, group));
  await expect(page.locator("#connection")).toHaveText("live");
  // The first read, and the one the opened feed asks for.
  await expect.poll(() => fetched).toBe(2);
  await engine.api.put(group, "b", 2);
  await expect(page.locator("#changes-list")).toContainText(`${group} / b`);
  release();
  const rows = page.locator("#items-table tbody tr");
  await expect(rows).toHaveCount(2);
  await expect(rows.last().locator("td.key")).toHaveText("b");
  await page.unrouteAll({ behavior: "ignoreErrors" });
});
