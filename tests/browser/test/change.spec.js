// Changing state through the page, each result checked through the HTTP
// API: create, edit (with JSON validation), update ops, delete, clear a
// group, and an edit against an item changed meanwhile.
import { consoleUrl, expect, test, uniqueGroup } from "./engine.js";

test("an item is created from the groups page and lands in the engine", async ({ page, engine }) => {
  const group = uniqueGroup("created");
  await page.goto(`${engine.url}/ui/groups`);
  await page.getByRole("button", { name: "New item…" }).click();
  const dialog = page.getByRole("dialog", { name: "New item" });
  await dialog.getByLabel("Group").fill(group);
  await dialog.getByLabel("Key").fill("o-1");
  await dialog.getByLabel("Value (JSON)").fill('{"status": "new", "total": 5}');
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  await expect(page.locator("#items-table tbody tr")).toHaveCount(1);
  const stored = await engine.api.get(group, "o-1");
  expect(stored.status).toBe(200);
  expect(stored.body).toEqual({ status: "new", total: 5 });

  // "New" never replaces an existing item.
  await page.getByRole("button", { name: "New item…" }).click();
  const again = page.getByRole("dialog", { name: `New item in ${group}` });
  await again.getByLabel("Key").fill("o-1");
  await again.getByLabel("Value (JSON)").fill("1");
  await again.getByRole("button", { name: "Create" }).click();
  await expect(again.getByRole("alert")).toHaveText(`An item o-1 exists already in ${group}: open it to edit it.`);
  await again.getByRole("button", { name: "Cancel" }).click();
  expect((await engine.api.get(group, "o-1")).body).toEqual({ status: "new", total: 5 });
});

test("an error from the engine is shown with its code", async ({ page, engine }) => {
  const group = uniqueGroup("refused");
  await page.goto(consoleUrl.group(engine, group));
  await page.getByRole("button", { name: "New item…" }).click();
  const dialog = page.getByRole("dialog", { name: `New item in ${group}` });
  // Keys are at most 1 KiB.
  await dialog.getByLabel("Key").fill("k".repeat(2000));
  await dialog.getByLabel("Value (JSON)").fill("1");
  await dialog.getByRole("button", { name: "Create" }).click();
  await expect(dialog.getByRole("alert")).toContainText("(invalid_argument)");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  expect(await engine.api.size(group)).toBe(0);
});

test("an item is edited as JSON; invalid JSON is refused with its message", async ({ page, engine }) => {
  const group = uniqueGroup("edit");
  const first = await engine.api.put(group, "o-1", { status: "new", total: 5 });
  await page.goto(consoleUrl.item(engine, group, "o-1"));
  await expect(page.locator("#item-content .json-tree")).toContainText('"status": "new"');
  await expect(page.locator("#item-version")).toHaveText(first.etag.replaceAll('"', ""));

  await page.getByRole("button", { name: "Edit" }).click();
  const editor = page.getByLabel("Value (JSON)");
  await expect(editor).toHaveValue('{\n  "status": "new",\n  "total": 5\n}');
  await editor.fill('{"status": "paid", "total": ');
  await expect(page.locator("#edit-value-status")).toHaveText(/^Not valid JSON: unexpected end of text at position 28\.$/);
  await expect(editor).toHaveAttribute("aria-invalid", "true");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator(".notice")).toHaveText("Not saved: the value is not valid JSON.");
  expect((await engine.api.get(group, "o-1")).body).toEqual({ status: "new", total: 5 });

  await editor.fill('{"status": "paid", "total": 7}');
  await expect(page.locator("#edit-value-status")).toHaveText("Valid JSON.");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#item-content .json-tree")).toContainText('"status": "paid"');
  const saved = await engine.api.get(group, "o-1");
  expect(saved.body).toEqual({ status: "paid", total: 7 });
  expect(saved.etag).not.toBe(first.etag);
  await expect(page.locator("#item-version")).toHaveText(saved.etag.replaceAll('"', ""));
});

test("update ops apply to the item", async ({ page, engine }) => {
  const group = uniqueGroup("ops");
  await engine.api.put(group, "o-1", { total: 5, log: [] });
  await page.goto(consoleUrl.item(engine, group, "o-1"));
  await page.getByRole("button", { name: "Update ops…" }).click();
  const dialog = page.getByRole("dialog", { name: "Update o-1" });
  await dialog
    .getByLabel("Ops (a JSON array)")
    .fill('[{"type": "increment", "path": "total", "by": 2}, {"type": "append", "path": "log", "value": "paid"}]');
  await dialog.getByRole("button", { name: "Apply" }).click();
  await expect(dialog).toBeHidden();
  await expect(page.locator("#item-content .json-tree")).toContainText('"total": 7');
  expect((await engine.api.get(group, "o-1")).body).toEqual({ total: 7, log: ["paid"] });
});

test("an item is deleted, and a group cleared, after confirming", async ({ page, engine }) => {
  const group = uniqueGroup("gone");
  for (const key of ["a", "b", "c"]) await engine.api.put(group, key, { key });
  await page.goto(consoleUrl.item(engine, group, "b"));
  await page.getByRole("button", { name: "Delete…" }).click();
  const confirmDelete = page.getByRole("dialog", { name: "Delete b?" });
  await confirmDelete.getByRole("button", { name: "Delete" }).click();
  await expect(page).toHaveURL(consoleUrl.group(engine, group));
  expect((await engine.api.get(group, "b")).status).toBe(404);
  await expect(page.locator("#items-table tbody tr")).toHaveCount(2);

  await page.getByRole("button", { name: "Clear group…" }).click();
  const confirmClear = page.getByRole("dialog", { name: `Clear ${group}?` });
  await expect(confirmClear).toContainText(`This deletes all 2 items of the group ${group}.`);
  // Cancelling keeps everything.
  await confirmClear.getByRole("button", { name: "Cancel" }).click();
  expect(await engine.api.size(group)).toBe(2);
  await page.getByRole("button", { name: "Clear group…" }).click();
  await page.getByRole("button", { name: "Delete 2 items" }).click();
  await expect(page.locator("#items-table tbody tr")).toHaveText(["This group holds no item."]);
  expect(await engine.api.size(group)).toBe(0);
});

test("an edit against an item changed meanwhile shows the conflict instead of overwriting", async ({ page, engine }) => {
  const group = uniqueGroup("conflict");
  await engine.api.put(group, "o-1", { status: "new" });
  await page.goto(consoleUrl.item(engine, group, "o-1"));
  await expect(page.locator("#connection")).toHaveText("live");
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Value (JSON)").fill('{"status": "mine"}');

  // Another client changes the item while the edit is open.
  const theirs = await engine.api.put(group, "o-1", { status: "theirs" });
  await expect(page.locator(".notice")).toContainText("This item was changed");
  await page.getByRole("button", { name: "Save" }).click();
  const conflict = page.getByRole("alert").filter({ hasText: "Conflict: not saved" });
  await expect(conflict).toContainText(`it is now at version ${theirs.etag.replaceAll('"', "")}`);
  await expect(conflict.locator(".json-tree")).toContainText('"status": "theirs"');
  // Nothing was overwritten, and our text is still in the editor.
  expect((await engine.api.get(group, "o-1")).body).toEqual({ status: "theirs" });
  await expect(page.getByLabel("Value (JSON)")).toHaveValue('{"status": "mine"}');

  // Saving over it is a choice made knowingly.
  await conflict.getByRole("button", { name: "Save mine over it" }).click();
  await expect(page.locator("#item-content .json-tree")).toContainText('"status": "mine"');
  expect((await engine.api.get(group, "o-1")).body).toEqual({ status: "mine" });
});
