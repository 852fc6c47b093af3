// Drives a two-node chat cluster with the official `phoenix` client under Node.
// Usage: node cluster_client.mjs http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B ROOM
// alice connects to node A, bob to node B; both join ROOM, see each other in the presence
// list and see each other's messages. Then the script prints "READY" and waits for bob to
// leave alice's list (the test stops node B meanwhile); it prints "# bob left" and exits 0,
// or exits 1 with the failing step.

import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

const [baseA, baseB, room] = process.argv.slice(2);
if (!baseA || !baseB || !room) {
  console.error("usage: node cluster_client.mjs http://host:portA http://host:portB room:topic");
  process.exit(2);
}
let step = "start";
const fail = (msg) => { console.error(`FAIL at "${step}": ${msg}`); process.exit(1); };
const ok = (msg) => console.log(`ok - ${msg}`);
setTimeout(() => fail("timed out after 90 s"), 90000).unref();
const waitFor = (pred, what, ms = 30000) => new Promise((resolve) => {
  const started = Date.now();
  const tick = () => {
    const v = pred();
    if (v) return resolve(v);
    if (Date.now() - started > ms) return fail(`waited ${ms} ms for ${what}`);
    setTimeout(tick, 20);
  };
  tick();
});

function connect(base, user) {
  const socket = new Socket(base.replace(/^http/, "ws") + "/socket", {
    transport: WebSocket,
    params: { user },
    heartbeatIntervalMs: 1000,
    reconnectAfterMs: () => 500,
  });
  socket.connect();
  return socket;
}

function join(socket, topic) {
  const channel = socket.channel(topic, {});
  const presence = new Presence(channel);
  const state = { joins: [], leaves: [], messages: [], joined: null };
  presence.onJoin((key, current) => { if (!current) state.joins.push(key); });
  presence.onLeave((key, current) => { if (current.metas.length === 0) state.leaves.push(key); });
  channel.on("new_msg", (msg) => state.messages.push(msg));
  channel.join().receive("ok", () => { state.joined = "ok"; }).receive("error", (r) => { state.joined = r; });
  return { channel, presence, state };
}

const push = (channel, event, payload) => new Promise((resolve) => {
  channel.push(event, payload)
    .receive("ok", (r) => resolve({ status: "ok", response: r }))
    .receive("error", (r) => resolve({ status: "error", response: r }))
    .receive("timeout", () => resolve({ status: "timeout" }));
});
const names = (p) => p.presence.list((k) => k).sort().join();

// 1. alice on node A, bob on node B: each sees both in the presence list.
step = "join on both nodes";
const alice = connect(baseA, "alice");
const bob = connect(baseB, "bob");
const a = join(alice, room);
const b = join(bob, room);
await waitFor(() => a.state.joined && b.state.joined, "both join replies");
if (a.state.joined !== "ok" || b.state.joined !== "ok") fail(`joins: ${JSON.stringify([a.state.joined, b.state.joined])}`);
await waitFor(() => names(a) === "alice,bob", `alice (node A) seeing bob (node B); she sees ${names(a)}`);
await waitFor(() => names(b) === "alice,bob", `bob (node B) seeing alice (node A); he sees ${names(b)}`);
const bobMeta = a.presence.list((k, { metas }) => (k === "bob" ? metas[0] : null)).find(Boolean);
if (typeof bobMeta.online_at !== "number" || typeof bobMeta.phx_ref !== "string") fail(`bob's meta ${JSON.stringify(bobMeta)}`);
ok("presence crosses nodes: alice on A and bob on B both see alice and bob");

// 2. Messages cross nodes both ways.
step = "messages across nodes";
const r1 = await push(a.channel, "new_msg", { body: "hello from A" });
if (r1.status !== "ok") fail(`alice's reply ${JSON.stringify(r1)}`);
await waitFor(() => b.state.messages.find((m) => m.user === "alice" && m.body === "hello from A"), "bob receiving alice's message");
const r2 = await push(b.channel, "new_msg", { body: "hello from B" });
if (r2.status !== "ok") fail(`bob's reply ${JSON.stringify(r2)}`);
await waitFor(() => a.state.messages.find((m) => m.user === "bob" && m.body === "hello from B"), "alice receiving bob's message");
if (a.state.messages.filter((m) => m.body === "hello from A").length !== 1) fail(`alice got her own message ${a.state.messages.filter((m) => m.body === "hello from A").length} times`);
ok("messages cross nodes both ways, each delivered once");

// 3. The test stops node B: bob must leave alice's list.
step = "node B stopped";
a.state.leaves = [];
console.log("READY");
await waitFor(() => a.state.leaves.includes("bob") && names(a) === "alice", `bob leaving alice's list; she sees ${names(a)}`, 60000);
ok("bob left alice's presence list after node B stopped");
alice.disconnect();
bob.disconnect();
console.log("# bob left");
process.exit(0);
