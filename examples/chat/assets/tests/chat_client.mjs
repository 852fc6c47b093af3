// Drives examples/chat with the official `phoenix` client under Node.
// Usage: node chat_client.mjs http://127.0.0.1:PORT [websocket|longpoll]
// Exits 0 when every step matched; 1 with the failing step otherwise.

import { Socket, Presence, LongPoll } from "phoenix";
import WebSocket from "ws";

const base = process.argv[2];
const transport = process.argv[3] || "websocket";
if (!base || !["websocket", "longpoll"].includes(transport)) {
  console.error("usage: node chat_client.mjs http://host:port [websocket|longpoll]");
  process.exit(2);
}
const url = base.replace(/^http/, "ws") + "/socket";
let step = "start";
const fail = (msg) => { console.error(`FAIL [${transport}] at "${step}": ${msg}`); process.exit(1); };
const ok = (msg) => console.log(`ok - [${transport}] ${msg}`);
setTimeout(() => fail("timed out after 30 s"), 30000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waitFor = (pred, what, ms = 5000) => new Promise((resolve) => {
  const started = Date.now();
  const tick = () => {
    const v = pred();
    if (v) return resolve(v);
    if (Date.now() - started > ms) return fail(`waited ${ms} ms for ${what}`);
    setTimeout(tick, 10);
  };
  tick();
});

function connect(params) {
  const socket = new Socket(url, {
    transport: transport === "longpoll" ? LongPoll : WebSocket,
    params,
    heartbeatIntervalMs: 500,
    reconnectAfterMs: () => 200,
  });
  socket.connect();
  return socket;
}

function join(socket, topic) {
  const channel = socket.channel(topic, {});
  const presence = new Presence(channel);
  const state = { synced: 0, joins: [], leaves: [], messages: [], joined: null };
  presence.onSync(() => { state.synced += 1; });
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

// 1. A connection without `user` is refused.
step = "refused connect";
{
  const socket = new Socket(url, { transport: transport === "longpoll" ? LongPoll : WebSocket, reconnectAfterMs: () => 10000 });
  let errored = false, opened = false;
  socket.onError(() => { errored = true; });
  socket.onOpen(() => { opened = true; });
  socket.connect();
  await waitFor(() => errored || opened, "an error or an open");
  if (opened) fail("the server accepted a connection without a user");
  socket.disconnect();
  ok("a connection without a user is refused");
}

// 2. alice joins and sees herself in the presence list.
step = "alice joins";
const alice = connect({ user: "alice" });
const a = join(alice, "room:test");
await waitFor(() => a.state.joined, "alice's join reply");
if (a.state.joined !== "ok") fail(`join refused: ${JSON.stringify(a.state.joined)}`);
await waitFor(() => a.presence.list((k) => k).includes("alice"), "alice in her own presence list");
const meta = a.presence.list((k, { metas }) => metas[0])[0];
if (typeof meta.online_at !== "number" || typeof meta.phx_ref !== "string") fail(`meta ${JSON.stringify(meta)}`);
ok("alice joined room:test and is tracked with {online_at, phx_ref}");

// 3. bob joins: both see both.
step = "bob joins";
const bob = connect({ user: "bob" });
const b = join(bob, "room:test");
await waitFor(() => b.state.joined === "ok", "bob's join");
await waitFor(() => a.state.joins.includes("bob"), "alice's onJoin for bob");
await waitFor(() => b.presence.list((k) => k).sort().join() === "alice,bob", "bob seeing alice and bob");
ok("presence: alice saw bob join, bob sees alice and bob");

// 4. A message is replied ok and broadcast to the room.
step = "new_msg";
const reply = await push(a.channel, "new_msg", { body: "hello bob" });
if (reply.status !== "ok") fail(`reply ${JSON.stringify(reply)}`);
await waitFor(() => b.state.messages.length > 0, "bob receiving the broadcast");
const got = b.state.messages[0];
if (got.user !== "alice" || got.body !== "hello bob") fail(`broadcast ${JSON.stringify(got)}`);
await waitFor(() => a.state.messages.length > 0, "alice receiving her own broadcast");
ok("new_msg replied ok and broadcast as {user, body}");

// 5. An empty body is refused.
step = "empty body";
const empty = await push(a.channel, "new_msg", { body: "" });
if (empty.status !== "error" || empty.response.reason !== "empty") fail(`reply ${JSON.stringify(empty)}`);
ok("an empty body is replied error {reason: empty}");

// 6. Heartbeats keep the connection up (WebSocket: the client sends one every 500 ms).
step = "heartbeat";
let closes = 0;
alice.onClose(() => { closes += 1; });
await sleep(1600);
if (closes !== 0 || !alice.isConnected()) fail("the connection dropped while heartbeating");
const again = await push(a.channel, "new_msg", { body: "still here" });
if (again.status !== "ok") fail(`after heartbeats: ${JSON.stringify(again)}`);
ok("the connection stays up across heartbeats");

// 7. bob leaves: alice sees him go.
step = "leave";
await new Promise((resolve) => b.channel.leave().receive("ok", resolve));
await waitFor(() => a.state.leaves.includes("bob"), "alice's onLeave for bob");
await waitFor(() => a.presence.list((k) => k).join() === "alice", "only alice left");
ok("bob left and alice's presence list shows only alice");

alice.disconnect();
bob.disconnect();
console.log(`# all steps passed (${transport})`);
process.exit(0);
