// Drives a zzz channels server with the official `phoenix` client (ws transport under Node).
//
// Usage: node channels_client.mjs ws://127.0.0.1:PORT/socket [websocket|longpoll]
// The server must mount a socket whose `connect` takes param `user` (or the authToken) and
// refuses without it, with a `room:*` channel that: refuses `room:secret` with
// {reason: "unauthorized"}; tracks the user in Presence and pushes `presence_state` after
// join; answers `new_msg` {body} by broadcasting `new_msg` {user, body} and replying ok
// (empty body: error {reason: "empty"}); panics on `boom`; echoes `binary` payloads reversed.
// Exits 0 when every step matched, 1 with a message naming the step otherwise.

import { Socket, Presence, LongPoll } from "phoenix";
import WebSocket from "ws";

const url = process.argv[2] || process.env.ZZZ_SOCKET_URL;
const transportName = process.argv[3] || "websocket";
if (!url || !["websocket", "longpoll"].includes(transportName)) {
  console.error("usage: node channels_client.mjs ws://host:port/socket [websocket|longpoll]");
  process.exit(2);
}
const longpoll = transportName === "longpoll";
console.log(`# transport: ${transportName}`);

const sockets = [];
let step = "start";
const fail = (msg) => {
  console.error(`FAIL at step "${step}": ${msg}`);
  process.exit(1);
};
setTimeout(() => fail("timed out after 30 s"), 30000).unref();

const log = (msg) => console.log(`ok - ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// JSON with object keys sorted, so key order does not matter
const canon = (v) =>
  Array.isArray(v) ? v.map(canon)
  : v && typeof v === "object" && !(v instanceof ArrayBuffer)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]))
    : v;
const eq = (a, b, what) => {
  const ja = JSON.stringify(canon(a)), jb = JSON.stringify(canon(b));
  if (ja !== jb) fail(`${what}: expected ${jb}, got ${ja}`);
};

function waitFor(pred, what, ms = 5000) {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      const v = pred();
      if (v) return resolve(v);
      if (Date.now() - started > ms) return fail(`waited ${ms} ms for ${what}`);
      setTimeout(tick, 10);
    };
    tick();
  });
}

function socket(opts) {
  const s = new Socket(url, {
    transport: longpoll ? LongPoll : WebSocket,
    heartbeatIntervalMs: 1000,
    rejoinAfterMs: () => 50,
    reconnectAfterMs: () => 100,
    ...opts,
  });
  s.opens = 0;
  s.heartbeatReplies = 0;
  s.closes = [];
  s.onOpen(() => s.opens++);
  s.onClose((e) => s.closes.push(`code ${e.code} ${e.reason || ""} at step ${step}`));
  s.onMessage((m) => {
    if (m.topic === "phoenix" && m.event === "phx_reply") s.heartbeatReplies++;
  });
  sockets.push(s);
  return s;
}

function push(chan, event, payload) {
  return new Promise((resolve) => {
    chan
      .push(event, payload, 5000)
      .receive("ok", (resp) => resolve(["ok", resp]))
      .receive("error", (resp) => resolve(["error", resp]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}

function join(chan) {
  return new Promise((resolve) => {
    chan
      .join(5000)
      .receive("ok", (resp) => resolve(["ok", resp]))
      .receive("error", (resp) => resolve(["error", resp]))
      .receive("timeout", () => resolve(["timeout", null]));
  });
}

// 1. a connection without `user` is refused (403): the socket errors and never opens
step = "refused connect";
{
  const s = socket({ params: {} });
  let errored = false;
  s.onError(() => (errored = true));
  s.connect();
  await waitFor(() => errored, "an error on a refused connection");
  s.disconnect();
  eq(s.opens, 0, "opens of a refused socket");
  log("connect without user is refused");
}

// 2. alice connects, gets a refused join, then joins the lobby with presence
step = "alice joins";
const alice = socket({ params: { user: "alice" } });
alice.connect();
await waitFor(() => alice.isConnected(), "alice to connect");

const secret = alice.channel("room:secret", {});
eq(await join(secret), ["error", { reason: "unauthorized" }], "join room:secret");
secret.leave();
log("join of room:secret refused with unauthorized");

const lobbyA = alice.channel("room:lobby", {});
const presA = new Presence(lobbyA);
let syncsA = 0;
const joinsA = [], leavesA = [];
presA.onSync(() => syncsA++);
presA.onJoin((key, current) => { if (!current) joinsA.push(key); });
presA.onLeave((key, current) => { if (current.metas.length === 0) leavesA.push(key); });
const lobbyMsgsA = [];
lobbyA.on("new_msg", (m) => lobbyMsgsA.push(m));
eq(await join(lobbyA), ["ok", { joined: "room:lobby" }], "join room:lobby");
await waitFor(() => syncsA > 0 && presA.list((k) => k).includes("alice"), "alice's presence onSync");
const aliceMeta = presA.list((k, { metas }) => metas)[0][0];
if (aliceMeta.online_at !== 1 || typeof aliceMeta.phx_ref !== "string") fail(`bad meta ${JSON.stringify(aliceMeta)}`);
log("joined room:lobby; presence onSync lists alice with phx_ref");

// 3. bob connects with an authToken (Sec-WebSocket-Protocol) and joins
step = "bob joins";
const bob = socket({ authToken: "bob" });
bob.connect();
await waitFor(() => bob.isConnected(), "bob to connect with authToken");
const lobbyB = bob.channel("room:lobby", {});
const presB = new Presence(lobbyB);
let syncsB = 0;
presB.onSync(() => syncsB++);
const lobbyMsgsB = [];
lobbyB.on("new_msg", (m) => lobbyMsgsB.push(m));
eq((await join(lobbyB))[0], "ok", "bob joins room:lobby");
await waitFor(() => syncsB > 0 && presB.list((k) => k).sort().join() === "alice,bob", "bob's presence list = alice,bob");
await waitFor(() => joinsA.includes("bob"), "alice's presence onJoin for bob");
log("bob connected with authToken; both see alice and bob in presence");

// 4. push with reply, broadcast seen by both
step = "push and broadcast";
eq(await push(lobbyA, "new_msg", { body: "hello" }), ["ok", {}], "new_msg reply");
await waitFor(() => lobbyMsgsB.length === 1, "bob to receive the broadcast");
eq(lobbyMsgsB[0], { user: "alice", body: "hello" }, "broadcast seen by bob");
await waitFor(() => lobbyMsgsA.length === 1, "alice to receive her own broadcast");
eq(await push(lobbyA, "new_msg", { body: "" }), ["error", { reason: "empty" }], "empty body reply");
eq(await push(lobbyA, "no_such_event", {}), ["error", { reason: 'unhandled event "no_such_event"' }], "unknown event");
log("push replied ok, broadcast reached the second client; empty body and unknown event errored");

// 5. binary payloads (V2 binary frames; LongPoll carries text only)
step = "binary";
if (!longpoll) {
  const [status, resp] = await push(lobbyA, "binary", new Uint8Array([1, 2, 3, 250]).buffer);
  eq(status, "ok", "binary reply status");
  if (!(resp instanceof ArrayBuffer)) fail(`binary reply is not an ArrayBuffer: ${resp}`);
  eq(Array.from(new Uint8Array(resp)), [250, 3, 2, 1], "binary reply bytes");
  log("binary push answered with a binary reply");
}

// 6. a crash in bob's channel: phx_error for it only; the client rejoins; alice unaffected
step = "crash isolation";
{
  let errors = 0;
  lobbyB.onError(() => errors++);
  const opensBefore = bob.opens;
  lobbyB.push("boom", {});
  await waitFor(() => errors > 0, "phx_error on bob's channel");
  await waitFor(() => lobbyB.state === "joined", "bob's channel to rejoin");
  eq(bob.opens, opensBefore, `bob's socket stayed open; closes: ${bob.closes.join("; ")}`);
  eq(await push(lobbyA, "new_msg", { body: "after crash" }), ["ok", {}], "alice after bob's crash");
  await waitFor(() => lobbyMsgsB.some((m) => m.body === "after crash"), "bob to receive after rejoin");
}
log("a channel panic gave phx_error, the channel rejoined, the socket stayed up");

// 7. heartbeats are answered and the connection stays up (LongPoll sends no heartbeats)
step = "heartbeat";
if (!longpoll) {
  const before = alice.heartbeatReplies;
  await sleep(2600);
  if (alice.heartbeatReplies < before + 2) fail(`only ${alice.heartbeatReplies - before} heartbeat replies in 2600 ms`);
  eq(alice.opens, 1, `alice connected once (no heartbeat-timeout reconnect); closes: ${alice.closes.join("; ")}`);
  log("heartbeats answered");
}

// 8. bob leaves: alice's presence sees the leave
step = "leave";
{
  leavesA.length = 0; // the crash above already made bob leave and rejoin once
  const [status] = await new Promise((resolve) => lobbyB.leave().receive("ok", () => resolve(["ok"])));
  eq(status, "ok", "leave reply");
  await waitFor(() => leavesA.includes("bob"), "alice's presence onLeave for bob");
  eq(presA.list((k) => k), ["alice"], "alice's presence list after bob left");
}
log("bob left; alice's Presence saw the leave");

for (const s of sockets) s.disconnect();
console.log("ALL OK");
process.exit(0);
