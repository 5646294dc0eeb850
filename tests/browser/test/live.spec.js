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
