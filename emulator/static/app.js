// The emulator's web chat: act as any user, see their chats live, press the bot's buttons.
// Vanilla JS, no build step; everything comes from the emulator's /web API and its event stream.
"use strict";

const $ = (id) => document.getElementById(id);
const app = $("app");
const ui = {
  persona: $("persona"),
  personaAvatar: $("persona-avatar"),
  personaNote: $("persona-note"),
  chatList: $("chat-list"),
  empty: $("chat-empty"),
  head: $("chat-head"),
  back: $("back"),
  chatAvatar: $("chat-avatar"),
  chatTitle: $("chat-title"),
  chatSubtitle: $("chat-subtitle"),
  messages: $("messages"),
  replyKeyboard: $("reply-keyboard"),
  startBar: $("start-bar"),
  start: $("start"),
  composer: $("composer"),
  input: $("input"),
  menuButton: $("menu-button"),
  attachButton: $("attach-button"),
  attachMenu: $("attach-menu"),
  commandMenu: $("command-menu"),
  photoInput: $("photo-input"),
  fileInput: $("file-input"),
  toast: $("toast"),
  alert: $("alert"),
  alertText: $("alert-text"),
  alertOk: $("alert-ok"),
};

const state = {
  personas: [],
  persona: null, // user id the page acts as
  chats: [],
  openKey: null, // chatKey of the open chat
  source: null, // EventSource
  hiddenKeyboards: new Set(),
};

const COLORS = ["#e17076", "#7bc862", "#65aadd", "#a695e7", "#ee7aae", "#6ec9cb", "#faa774", "#5b9bd5"];

// ------------------------------------------------------------------ small helpers

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data;
  try {
    data = await response.json();
  } catch (error) {
    throw new Error(`HTTP ${response.status}`);
  }
  if (!data.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data.result;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function paintAvatar(node, id, name) {
  node.textContent = Array.from((name || "?").trim())[0] || "?";
  node.style.background = COLORS[Math.abs(Number(id)) % COLORS.length];
}

function chatKey(id, botId) {
  return Number(id) > 0 ? `${id}:${botId || ""}` : String(id);
}

function openChat() {
  return state.chats.find((c) => chatKey(c.id, c.bot_id) === state.openKey) || null;
}

function clock(seconds) {
  const date = new Date(seconds * 1000);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

function listTime(seconds) {
  if (!seconds) return "";
  const date = new Date(seconds * 1000);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return clock(seconds);
  return date.toLocaleDateString([], { month: "2-digit", day: "2-digit" });
}

function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

let toastTimer = null;
function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.hidden = true;
  }, 3500);
}

function showAlert(text) {
  ui.alertText.textContent = text;
  ui.alert.hidden = false;
  ui.alertOk.focus();
}
ui.alertOk.addEventListener("click", () => {
  ui.alert.hidden = true;
});

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

// ------------------------------------------------------------------ Telegram HTML, safely

// Only the tags Telegram's HTML has; attributes are dropped except a checked href.
const TAGS = {
  B: "b", STRONG: "b", I: "i", EM: "i", U: "u", INS: "u", S: "s", STRIKE: "s", DEL: "s",
  CODE: "code", PRE: "pre", BLOCKQUOTE: "blockquote", A: "a", "TG-SPOILER": "spoiler",
  "TG-EMOJI": "span", SPAN: "span",
};

function copyNodes(from, to) {
  for (const node of Array.from(from.childNodes)) {
    if (node.nodeType === Node.TEXT_NODE) {
      to.appendChild(document.createTextNode(node.data));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue;
    const kind = TAGS[node.tagName];
    let out;
    if (!kind) {
      copyNodes(node, to);
      continue;
    } else if (kind === "a") {
      const href = node.getAttribute("href") || "";
      if (/^https?:\/\//i.test(href) || /^mailto:/i.test(href)) {
        out = el("a");
        out.href = href;
        out.target = "_blank";
        out.rel = "noopener noreferrer";
      } else {
        out = el("span", "mention");
      }
    } else if (kind === "spoiler" || (kind === "span" && node.classList.contains("tg-spoiler"))) {
      out = el("span", "spoiler");
      out.title = "点击显示 · Tap to reveal";
      out.addEventListener("click", () => out.classList.add("shown"));
    } else if (kind === "blockquote") {
      out = el("blockquote");
      if (node.hasAttribute("expandable")) out.className = "expandable";
    } else {
      out = el(kind);
    }
    copyNodes(node, out);
    to.appendChild(out);
  }
}

const COMMAND = /(?<![\w/@])\/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])/g;

// Commands in the bot's text can be tapped, as in Telegram's apps.
function linkCommands(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const node of texts) {
    if (node.parentElement && node.parentElement.closest("a, code, pre, .mention")) continue;
    const text = node.data;
    COMMAND.lastIndex = 0;
    if (!COMMAND.test(text)) continue;
    COMMAND.lastIndex = 0;
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(COMMAND)) {
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      const link = el("a", "cmd", match[0]);
      link.href = "#";
      link.addEventListener("click", (event) => {
        event.preventDefault();
        sendText(match[0].split("@")[0]);
      });
      fragment.appendChild(link);
      last = match.index + match[0].length;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    node.replaceWith(fragment);
  }
}

function richText(html, fromBot) {
  const template = document.createElement("template");
  template.innerHTML = html; // inert: nothing in a template runs or loads
  const box = el("div", "text");
  copyNodes(template.content, box);
  if (fromBot) linkCommands(box);
  return box;
}

// ------------------------------------------------------------------ personas and chats

function renderPersonas() {
  const select = ui.persona;
  select.textContent = "";
  for (const person of state.personas) {
    const option = el("option");
    option.value = String(person.id);
    const note = person.note ? ` · ${person.note}` : "";
    const unread = person.unread ? ` (${person.unread})` : "";
    option.textContent = `${person.name}${note}${unread}`;
    option.selected = person.id === state.persona;
    select.appendChild(option);
  }
  const me = state.personas.find((p) => p.id === state.persona);
  if (me) {
    paintAvatar(ui.personaAvatar, me.id, me.name);
    ui.personaNote.textContent = me.note || (me.username ? `@${me.username}` : "");
  }
}

async function loadPersonas() {
  state.personas = await api("GET", "/web/personas");
  renderPersonas();
}

function renderChatList() {
  ui.chatList.textContent = "";
  for (const chat of state.chats) {
    const key = chatKey(chat.id, chat.bot_id);
    const item = el("li");
    const button = el("button", "chat-item");
    button.type = "button";
    button.dataset.key = key;
    button.dataset.title = chat.title;
    if (key === state.openKey) button.classList.add("active");
    const avatar = el("span", "avatar");
    paintAvatar(avatar, chat.id, chat.title);
    const body = el("div", "chat-item-body");
    const top = el("div", "chat-item-top");
    top.append(el("span", "chat-name", chat.title), el("span", "chat-time", listTime(chat.last_date)));
    const bottom = el("div", "chat-item-bottom");
    bottom.append(el("span", "chat-preview", chat.last_text || (chat.started ? "" : "点击开始 · Tap to start")));
    if (chat.unread) {
      const badge = el("span", "unread", String(chat.unread));
      badge.setAttribute("aria-label", `${chat.unread} 条未读 unread`);
      bottom.append(badge);
    }
    body.append(top, bottom);
    button.append(avatar, body);
    button.addEventListener("click", () => showChat(key));
    item.appendChild(button);
    ui.chatList.appendChild(item);
  }
}

async function loadChats() {
  if (state.persona === null) return;
  const persona = state.persona;
  const chats = await api("GET", `/web/chats?user_id=${persona}`);
  if (persona !== state.persona) return;
  state.chats = chats;
  renderChatList();
  const chat = openChat();
  if (chat) renderChrome(chat);
}

const refreshPersonas = debounce(() => loadPersonas().catch(() => {}), 150);

const refreshLists = debounce(() => {
  loadChats().catch((error) => toast(`⚠️ ${error.message}`));
  loadPersonas().catch(() => {});
}, 80);

// ------------------------------------------------------------------ the open chat

function renderChrome(chat) {
  ui.empty.hidden = true;
  ui.head.hidden = false;
  ui.messages.hidden = false;
  paintAvatar(ui.chatAvatar, chat.id, chat.title);
  ui.chatTitle.textContent = chat.title;
  ui.chatSubtitle.textContent =
    chat.type === "private"
      ? `机器人 · bot${chat.username ? ` · @${chat.username}` : ""}`
      : `${chat.members} 位成员 · members`;
  const started = chat.started;
  ui.startBar.hidden = started;
  ui.composer.hidden = !started;
  renderReplyKeyboard(chat);
}

function renderReplyKeyboard(chat) {
  const markup = chat.reply_keyboard;
  const id = markup ? JSON.stringify(markup) : "";
  ui.replyKeyboard.textContent = "";
  if (!markup || !markup.keyboard || state.hiddenKeyboards.has(`${state.openKey}|${id}`)) {
    ui.replyKeyboard.hidden = true;
    return;
  }
  for (const row of markup.keyboard) {
    const line = el("div", "keyboard-row");
    for (const button of row) {
      const text = typeof button === "string" ? button : button.text;
      const node = el("button", "kb-button", text);
      node.type = "button";
      node.addEventListener("click", () => {
        if (markup.one_time_keyboard) {
          state.hiddenKeyboards.add(`${state.openKey}|${id}`);
          ui.replyKeyboard.hidden = true;
        }
        sendText(text);
      });
      line.appendChild(node);
    }
    ui.replyKeyboard.appendChild(line);
  }
  ui.replyKeyboard.hidden = false;
}

function renderMessage(message, chat) {
  const own = message.from && message.from.id === state.persona;
  const box = el("div", "msg");
  box.dataset.id = String(message.message_id);
  box.dataset.edits = String(message.edit_count || 0);
  if (message.service_note) {
    box.classList.add("service");
    box.appendChild(el("div", "service-note", message.service_note));
    return box;
  }
  box.classList.add(own ? "own" : "other");
  const bubble = el("div", "bubble");
  if (!own && chat && chat.type !== "private") {
    bubble.appendChild(el("div", "sender", message.sender_name));
  }
  if (message.photo) {
    const link = el("a");
    link.href = message.photo.url;
    link.target = "_blank";
    link.rel = "noopener";
    const image = el("img", "photo");
    image.src = message.photo.url;
    image.alt = "照片 · photo";
    image.loading = "lazy";
    link.appendChild(image);
    bubble.appendChild(link);
  }
  if (message.document) {
    const doc = message.document;
    const link = el("a", "document");
    link.href = `${doc.url}?download=1`;
    link.download = doc.file_name || "";
    link.title = "下载 · Download";
    const info = el("div");
    info.append(
      el("div", "document-name", doc.file_name || "文件 · file"),
      el("div", "document-size", `${fileSize(doc.size)} · 下载 Download`),
    );
    link.append(el("span", "document-icon", "⬇"), info);
    bubble.appendChild(link);
  }
  if (message.html) bubble.appendChild(richText(message.html, message.is_bot));
  const meta = el("div", "meta");
  if (message.edit_count) meta.appendChild(el("span", "edited", "已编辑 · edited"));
  meta.appendChild(document.createTextNode(clock(message.date)));
  bubble.appendChild(meta);
  box.appendChild(bubble);
  if (message.buttons && message.buttons.length) {
    const keyboard = el("div", "keyboard");
    for (const row of message.buttons) {
      const line = el("div", "keyboard-row");
      for (const button of row) line.appendChild(inlineButton(message, button));
      keyboard.appendChild(line);
    }
    box.appendChild(keyboard);
  }
  return box;
}

function inlineButton(message, button) {
  if (button.url) {
    const link = el("a", "kb-button", button.text);
    link.href = button.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.appendChild(el("span", "url-mark", "↗"));
    return link;
  }
  const node = el("button", "kb-button", button.text);
  node.type = "button";
  node.addEventListener("click", () => press(node, message, button));
  return node;
}

function nearBottom() {
  const box = ui.messages;
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function scrollDown() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function upsertMessage(message) {
  const chat = openChat();
  const node = renderMessage(message, chat);
  const existing = ui.messages.querySelector(`.msg[data-id="${message.message_id}"]`);
  if (existing) {
    existing.replaceWith(node);
    return;
  }
  const follow = nearBottom() || (message.from && message.from.id === state.persona);
  const later = Array.from(ui.messages.children).find(
    (child) => Number(child.dataset.id) > message.message_id,
  );
  ui.messages.insertBefore(node, later || null);
  if (follow) scrollDown();
}

function removeMessage(messageId) {
  const existing = ui.messages.querySelector(`.msg[data-id="${messageId}"]`);
  if (existing) existing.remove();
}

function openParams() {
  const chat = openChat();
  return chat ? { chat, bot: chat.type === "private" ? chat.bot_id : undefined } : null;
}

async function loadMessages() {
  const open = openParams();
  if (!open) return;
  const key = state.openKey;
  const query = open.bot ? `&bot_id=${open.bot}` : "";
  const messages = await api("GET", `/web/chats/${open.chat.id}/messages?user_id=${state.persona}${query}`);
  if (key !== state.openKey) return;
  ui.messages.textContent = "";
  for (const message of messages) ui.messages.appendChild(renderMessage(message, open.chat));
  scrollDown();
  markRead();
}

const markRead = debounce(async () => {
  const open = openParams();
  if (!open || document.visibilityState !== "visible") return;
  try {
    await api("POST", `/web/chats/${open.chat.id}/read`, { user_id: state.persona, bot_id: open.bot });
    open.chat.unread = 0;
    refreshLists();
  } catch (error) {
    /* the chat may have gone; the list refresh shows it */
  }
}, 150);

async function showChat(key) {
  state.openKey = key;
  app.classList.add("chat-open");
  closePopups();
  const chat = openChat();
  if (!chat) return;
  renderChatList();
  renderChrome(chat);
  ui.messages.textContent = "";
  await loadMessages();
  if (window.matchMedia("(min-width: 721px)").matches) ui.input.focus();
}

function closeChat() {
  state.openKey = null;
  app.classList.remove("chat-open");
  ui.empty.hidden = false;
  ui.head.hidden = true;
  ui.messages.hidden = true;
  ui.composer.hidden = true;
  ui.startBar.hidden = true;
  ui.replyKeyboard.hidden = true;
  closePopups();
  renderChatList();
}

// ------------------------------------------------------------------ acting

async function sendText(text) {
  const open = openParams();
  if (!open || !text.trim()) return;
  try {
    const message = await api("POST", `/web/chats/${open.chat.id}/send`, {
      user_id: state.persona,
      bot_id: open.bot,
      text,
    });
    upsertMessage(message);
    scrollDown();
  } catch (error) {
    toast(`⚠️ ${error.message}`);
  }
}

async function sendFile(file, kind) {
  const open = openParams();
  if (!open || !file) return;
  const form = new FormData();
  form.append("user_id", String(state.persona));
  if (open.bot) form.append("bot_id", String(open.bot));
  form.append("kind", kind);
  const caption = ui.input.value.trim();
  if (caption) form.append("caption", caption);
  form.append("file", file, file.name);
  try {
    const message = await api("POST", `/web/chats/${open.chat.id}/send`, form);
    ui.input.value = "";
    upsertMessage(message);
    scrollDown();
  } catch (error) {
    toast(`⚠️ ${error.message}`);
  }
}

async function press(node, message, button) {
  const open = openParams();
  if (!open || node.classList.contains("busy")) return;
  node.classList.add("busy");
  try {
    const result = await api("POST", `/web/chats/${open.chat.id}/press`, {
      user_id: state.persona,
      bot_id: open.bot,
      message_id: message.message_id,
      callback_data: button.callback_data,
      text: button.text,
    });
    const answer = result.answer;
    if (answer && answer.text) {
      if (answer.show_alert) showAlert(answer.text);
      else toast(answer.text);
    }
  } catch (error) {
    toast(`⚠️ ${error.message}`);
  } finally {
    node.classList.remove("busy");
  }
}

function closePopups() {
  ui.attachMenu.hidden = true;
  ui.commandMenu.hidden = true;
}

async function showCommands() {
  const open = openParams();
  if (!open) return;
  if (!ui.commandMenu.hidden) {
    closePopups();
    return;
  }
  closePopups();
  const query = open.bot ? `&bot_id=${open.bot}` : "";
  const commands = await api("GET", `/web/chats/${open.chat.id}/commands?user_id=${state.persona}${query}`);
  ui.commandMenu.textContent = "";
  if (!commands.length) ui.commandMenu.appendChild(el("div", "command-description", "（没有命令 · no commands）"));
  for (const command of commands) {
    const item = el("button");
    item.type = "button";
    item.append(el("span", "command-name", `/${command.command}`), el("span", "command-description", command.description));
    item.addEventListener("click", () => {
      closePopups();
      sendText(`/${command.command}`);
    });
    ui.commandMenu.appendChild(item);
  }
  ui.commandMenu.hidden = false;
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value;
  if (!text.trim()) return;
  ui.input.value = "";
  autoSize();
  sendText(text);
});
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
function autoSize() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 140)}px`;
}
ui.input.addEventListener("input", autoSize);
ui.start.addEventListener("click", () => sendText("/start"));
ui.back.addEventListener("click", closeChat);
ui.menuButton.addEventListener("click", (event) => {
  event.stopPropagation();
  showCommands().catch((error) => toast(`⚠️ ${error.message}`));
});
ui.attachButton.addEventListener("click", (event) => {
  event.stopPropagation();
  const hidden = ui.attachMenu.hidden;
  closePopups();
  ui.attachMenu.hidden = !hidden;
});
for (const choice of ui.attachMenu.querySelectorAll("button")) {
  choice.addEventListener("click", () => {
    closePopups();
    (choice.dataset.kind === "photo" ? ui.photoInput : ui.fileInput).click();
  });
}
ui.photoInput.addEventListener("change", () => {
  sendFile(ui.photoInput.files[0], "photo");
  ui.photoInput.value = "";
});
ui.fileInput.addEventListener("change", () => {
  sendFile(ui.fileInput.files[0], "document");
  ui.fileInput.value = "";
});
document.addEventListener("click", (event) => {
  if (!event.target.closest(".popup")) closePopups();
});
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") markRead();
});

// ------------------------------------------------------------------ live updates

function handleEvent(event) {
  if (event.type === "reset") {
    closeChat();
    refreshLists();
    return;
  }
  if (event.type === "chats") {
    refreshLists();
    return;
  }
  if (event.type === "elsewhere") {
    refreshPersonas();
    return;
  }
  const key = chatKey(event.chat_id, event.bot_id);
  if (key === state.openKey) {
    if (event.type === "delete") {
      removeMessage(event.message.message_id);
    } else {
      upsertMessage(event.message);
      markRead();
    }
  }
  refreshLists();
}

function connect() {
  if (state.source) state.source.close();
  const source = new EventSource(`/web/events?user_id=${state.persona}`);
  // "hello" comes once the server listens for us: load now and nothing falls in between.
  source.addEventListener("hello", () => {
    loadChats()
      .then(loadMessages)
      .catch((error) => toast(`⚠️ ${error.message}`));
    loadPersonas().catch(() => {});
  });
  source.onmessage = (message) => handleEvent(JSON.parse(message.data));
  state.source = source;
}

function switchPersona(id) {
  state.persona = id;
  ui.toast.hidden = true;
  localStorage.setItem("sandbox.persona", String(id));
  state.chats = [];
  closeChat();
  renderPersonas();
  connect();
}

ui.persona.addEventListener("change", () => switchPersona(Number(ui.persona.value)));

async function boot() {
  await loadPersonas();
  if (!state.personas.length) {
    toast("还没有用户 · No users yet");
    return;
  }
  const wanted = Number(new URLSearchParams(location.search).get("as") || localStorage.getItem("sandbox.persona"));
  const found = state.personas.find((p) => p.id === wanted) || state.personas[0];
  switchPersona(found.id);
}

boot().catch((error) => toast(`⚠️ ${error.message}`));
