// The token prompt when the engine runs with --token, and keys and values
// holding markup shown as text, running nothing.
import { consoleUrl, expect, startEngine, test, uniqueGroup } from "./engine.js";

test("with --token nothing is shown until the token is given; it lasts for the tab", async ({ browser }) => {
  const engine = await startEngine(["--token", "s3cret-token"]);
  const context = await browser.newContext();
  try {
    await engine.api.put("guarded", "k", { secret: "value" });
    const page = await context.newPage();
    await page.goto(`${engine.url}/ui/groups`);
    const dialog = page.getByRole("dialog", { name: "This engine needs a token" });
    await expect(dialog).toBeVisible();
    await expect(page.getByRole("link", { name: "guarded" })).toHaveCount(0);

    await dialog.getByLabel("Token").fill("wrong");
    await dialog.getByRole("button", { name: "Continue" }).click();
    await expect(dialog).toContainText("The token was refused");
    await expect(page.getByRole("link", { name: "guarded" })).toHaveCount(0);

    await dialog.getByLabel("Token").fill("s3cret-token");
    await dialog.getByRole("button", { name: "Continue" }).click();
    await expect(dialog).toBeHidden();
    await expect(page.getByRole("link", { name: "guarded", exact: true })).toBeVisible();
    await expect(page.locator("#connection")).toHaveText("live");

    // Kept in sessionStorage: a reload of the tab does not ask again...
    await page.reload();
    await expect(page.getByRole("link", { name: "guarded", exact: true })).toBeVisible();
    await expect(page.getByRole("dialog")).toHaveCount(0);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    // ...and the live feed carries it too.
    await page.getByRole("link", { name: "guarded", exact: true }).click();
    await expect(page.locator("#connection")).toHaveText("live");
    await engine.api.put("guarded", "k2", 2);
    await expect(page.locator("#items-table").getByRole("link", { name: "k2", exact: true })).toBeVisible();

    // Another browser session starts without it.
    const other = await browser.newContext();
    const second = await other.newPage();
    await second.goto(`${engine.url}/ui/groups`);
    await expect(second.getByRole("dialog", { name: "This engine needs a token" })).toBeVisible();
    await other.close();
  } finally {
    await context.close();
    await engine.stop();
  }
});

test("markup in a group, key or value is shown as text and runs nothing", async ({ page, engine }) => {
  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  const group = uniqueGroup('<svg onload="window.__xss=1">');
  const key = '<img src=x onerror="window.__xss=2">';
  const value = { html: "<script>window.__xss=3</script>", img: '<img src=x onerror="alert(4)">' };
  await engine.api.put(group, key, value);

  await page.goto(`${engine.url}/ui/groups`);
  await expect(page.getByRole("link", { name: group, exact: true })).toBeVisible();
  await page.goto(consoleUrl.group(engine, group));
  await expect(page.getByRole("link", { name: key, exact: true })).toBeVisible();
  await expect(page.locator("#items-table td.preview")).toContainText("<script>window.__xss=3</script>");
  await expect(page.locator("#connection")).toHaveText("live");
  // A live change carrying markup, in the table and the changes panel.
  await engine.api.put(group, "<b>bold</b>", "<iframe src=javascript:alert(5)>");
  await expect(page.locator("#changes-list")).toContainText("<b>bold</b>");

  await page.getByRole("link", { name: key, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(key);
  await expect(page.locator("#item-content .json-tree")).toContainText('"<img src=x onerror=\\"alert(4)\\">"');

  for (const selector of ["main img", "main script", "main svg", "main iframe", "main b", "aside b"]) {
    await expect(page.locator(selector), selector).toHaveCount(0);
  }
  expect(await page.evaluate(() => window.__xss)).toBeUndefined();
  expect(dialogs).toEqual([]);
});
