// Two pages of examples/chat in Debian's Chromium (driven by playwright-core, no
// downloaded browser): each sees the other in the presence list and their messages.
// Usage: node browser_chat.mjs http://127.0.0.1:PORT [/usr/bin/chromium]

import { chromium } from "playwright-core";

const base = process.argv[2];
const executablePath = process.argv[3] || "/usr/bin/chromium";
let step = "launch";
const fail = (msg) => { console.error(`FAIL at "${step}": ${msg}`); process.exit(1); };
setTimeout(() => fail("timed out after 60 s"), 60000).unref();

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext();
  const alice = await context.newPage();
  const bob = await context.newPage();
  for (const page of [alice, bob]) page.on("pageerror", (e) => fail(`page error: ${e.message}`));

  step = "alice opens the room";
  await alice.goto(`${base}/?user=alice&room=browser`);
  await alice.waitForSelector("body[data-joined=true]", { timeout: 10000 });
  step = "bob opens the room";
  await bob.goto(`${base}/?user=bob&room=browser`);
  await bob.waitForSelector("body[data-joined=true]", { timeout: 10000 });

  step = "presence lists";
  for (const [page, name] of [[alice, "alice"], [bob, "bob"]]) {
    await page.waitForSelector('#users li[data-user="alice"]', { timeout: 10000 });
    await page.waitForSelector('#users li[data-user="bob"]', { timeout: 10000 });
    console.log(`ok - ${name}'s page lists alice and bob`);
  }

  step = "chatting";
  await alice.fill("#body", "hi from alice");
  await alice.click("button");
  await bob.waitForSelector('#messages li:has-text("alice: hi from alice")', { timeout: 10000 });
  await bob.fill("#body", "hi back");
  await bob.press("#body", "Enter");
  await alice.waitForSelector('#messages li:has-text("bob: hi back")', { timeout: 10000 });
  console.log("ok - each page shows the other's message");

  step = "empty message";
  await alice.fill("#body", "   ");
  await alice.click("button");
  await alice.waitForSelector("#status:has-text('not sent: empty')", { timeout: 10000 });
  console.log("ok - an empty message is refused on the page");

  step = "bob leaves";
  await bob.close();
  await alice.waitForSelector('#users li[data-user="bob"]', { state: "detached", timeout: 10000 });
  console.log("ok - bob's page closed and alice's list dropped him");
} finally {
  await browser.close();
}
console.log("# browser chat passed");
process.exit(0);
