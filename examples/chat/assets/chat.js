// The chat page: joins room:<room> as ?user=<name> with the official phoenix client.
import { Socket, Presence } from "/assets/phoenix.mjs";

const params = new URLSearchParams(location.search);
const user = params.get("user") || prompt("Your name?") || "anonymous";
const room = params.get("room") || "lobby";
document.getElementById("room").textContent = room;

const socket = new Socket("/socket", { params: { user } });
socket.connect();
const channel = socket.channel(`room:${room}`, {});
const presence = new Presence(channel);

presence.onSync(() => {
  const list = document.getElementById("users");
  list.replaceChildren(...presence.list((name, { metas }) => {
    const item = document.createElement("li");
    item.textContent = name;
    item.dataset.user = name;
    item.title = `${metas.length} connection(s)`;
    return item;
  }));
});

channel.on("new_msg", ({ user, body }) => {
  const item = document.createElement("li");
  item.textContent = `${user}: ${body}`;
  document.getElementById("messages").append(item);
});

channel.join()
  .receive("ok", () => { document.body.dataset.joined = "true"; })
  .receive("error", (reply) => { document.getElementById("status").textContent = `join failed: ${reply.reason}`; });

document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("body");
  channel.push("new_msg", { body: input.value })
    .receive("ok", () => { input.value = ""; document.getElementById("status").textContent = ""; })
    .receive("error", (reply) => { document.getElementById("status").textContent = `not sent: ${reply.reason}`; });
});
