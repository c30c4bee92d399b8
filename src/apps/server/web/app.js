// The chat page of `smallthinker serve`: conversations kept in localStorage, replies streamed
// from POST /v1/chat/completions (server-sent events read from fetch's ReadableStream), a stop
// button (AbortController), settings, markdown rendering (markdown.js). Plain JS, no build step.
"use strict";

(function () {
  const STORE_KEY = "smallthinker.chat.conversations";
  const CURRENT_KEY = "smallthinker.chat.current";
  const SETTINGS_KEY = "smallthinker.chat.settings";

  const $ = (id) => document.getElementById(id);
  const el = {
    list: $("conversation-list"), newChat: $("new-chat"), modelInfo: $("model-info"), title: $("chat-title"),
    settingsToggle: $("settings-toggle"), settings: $("settings"), temperature: $("temperature"),
    maxTokens: $("max-tokens"), replyFormat: $("reply-format"), systemPrompt: $("system-prompt"), apiKey: $("api-key"), messages: $("messages"),
    emptyHint: $("empty-hint"), composer: $("composer"), prompt: $("prompt"), send: $("send"), stop: $("stop"),
    status: $("status"),
  };

  // ---- storage ---------------------------------------------------------------------------

  function load(key, fallback) {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v === null || v === undefined ? fallback : v;
    } catch {
      return fallback;  // corrupt or unavailable storage must not break the page
    }
  }
  function save(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      setStatus(`could not save to localStorage: ${e.message}`);
    }
  }

  let conversations = load(STORE_KEY, []).filter((c) => c && typeof c.id === "string" && Array.isArray(c.messages));
  let currentId = load(CURRENT_KEY, null);
  let modelId = null;
  let generation = null;  // {controller, conversation, message, node} while a reply streams

  const current = () => conversations.find((c) => c.id === currentId) || null;
  const persist = () => {
    save(STORE_KEY, conversations);
    save(CURRENT_KEY, currentId);
  };

  function newConversation() {
    const c = { id: `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`, title: "New chat", messages: [], created: Date.now() };
    conversations.unshift(c);
    currentId = c.id;
    persist();
    return c;
  }

  // ---- settings --------------------------------------------------------------------------

  function loadSettings() {
    const s = load(SETTINGS_KEY, {});
    if (typeof s.temperature === "number") el.temperature.value = s.temperature;
    if (typeof s.maxTokens === "number") el.maxTokens.value = s.maxTokens;
    if (typeof s.systemPrompt === "string") el.systemPrompt.value = s.systemPrompt;
    if (s.replyFormat === "json_object") el.replyFormat.value = s.replyFormat;
    if (typeof s.apiKey === "string") el.apiKey.value = s.apiKey;
  }
  function settings() {
    const num = (input, fallback) => (Number.isFinite(parseFloat(input.value)) ? parseFloat(input.value) : fallback);
    return {
      temperature: Math.min(2, Math.max(0, num(el.temperature, 0.7))),
      maxTokens: Math.max(1, Math.round(num(el.maxTokens, 512))),
      systemPrompt: el.systemPrompt.value,
      replyFormat: el.replyFormat.value === "json_object" ? "json_object" : "text",
      apiKey: el.apiKey.value.trim(),
    };
  }
  function saveSettings() {
    save(SETTINGS_KEY, settings());
  }

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = settings().apiKey;
    if (key) h.Authorization = `Bearer ${key}`;
    return h;
  }

  // ---- rendering -------------------------------------------------------------------------

  function setStatus(text) {
    el.status.textContent = text;
  }

  function renderList() {
    el.list.replaceChildren();
    for (const c of conversations) {
      const li = document.createElement("li");
      li.className = c.id === currentId ? "active" : "";
      li.dataset.id = c.id;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open";
      open.textContent = c.title || "New chat";
      open.title = c.title || "New chat";
      open.addEventListener("click", () => switchTo(c.id));
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.textContent = "×";
      del.title = "Delete this conversation";
      del.setAttribute("aria-label", `Delete ${c.title || "conversation"}`);
      del.addEventListener("click", () => deleteConversation(c.id));
      li.append(open, del);
      el.list.append(li);
    }
  }

  // Adds copy buttons to rendered code blocks.
  function decorateCode(container) {
    for (const pre of container.querySelectorAll("pre")) {
      if (pre.querySelector("button.copy")) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy";
      button.textContent = "Copy";
      button.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(pre.querySelector("code")?.textContent ?? pre.textContent);
          button.textContent = "Copied";
        } catch {
          button.textContent = "Copy failed";
        }
        setTimeout(() => (button.textContent = "Copy"), 1500);
      });
      pre.append(button);
    }
  }

  function fillContent(node, message) {
    const content = node.querySelector(".content");
    if (message.role === "assistant" && message.format === "json_object") {
      // Constrained JSON replies are shown as they are, in a code block.
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.className = "language-json";
      code.textContent = message.content;
      pre.append(code);
      content.replaceChildren(pre);
      decorateCode(content);
    } else if (message.role === "assistant") {
      content.innerHTML = window.stMarkdown.render(message.content);
      decorateCode(content);
    } else {
      content.textContent = message.content;
    }
    const meta = node.querySelector(".meta");
    meta.textContent = message.meta || "";
    node.dataset.state = message.state || "done";
  }

  function messageNode(message) {
    const node = document.createElement("article");
    node.className = `message ${message.role}`;
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = message.role === "user" ? "You" : message.role === "assistant" ? "Assistant" : message.role;
    const content = document.createElement("div");
    content.className = "content";
    const meta = document.createElement("div");
    meta.className = "meta";
    node.append(who, content, meta);
    fillContent(node, message);
    return node;
  }

  function renderMessages() {
    const c = current();
    el.title.textContent = c ? c.title : "New chat";
    el.messages.replaceChildren();
    const messages = c ? c.messages : [];
    if (messages.length === 0) el.messages.append(el.emptyHint);
    for (const m of messages) el.messages.append(messageNode(m));
    scrollToEnd(true);
  }

  function scrollToEnd(force) {
    const nearEnd = el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 80;
    if (force || nearEnd) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function setBusy(busy) {
    el.send.hidden = busy;
    el.stop.hidden = !busy;
    el.send.disabled = busy;
    el.prompt.readOnly = false;
    document.body.dataset.busy = busy ? "true" : "false";
  }

  // ---- conversations -----------------------------------------------------------------------

  function switchTo(id) {
    if (generation) stopGeneration();
    currentId = id;
    persist();
    renderList();
    renderMessages();
  }

  function deleteConversation(id) {
    if (generation && generation.conversation.id === id) stopGeneration();
    conversations = conversations.filter((c) => c.id !== id);
    if (currentId === id) currentId = conversations.length ? conversations[0].id : null;
    persist();
    renderList();
    renderMessages();
  }

  // ---- streaming -------------------------------------------------------------------------

  // Splits server-sent events out of a growing text buffer; returns the unfinished rest.
  function takeEvents(buffer, onData) {
    const events = buffer.split(/\r?\n\r?\n/);
    const rest = events.pop();
    for (const event of events) {
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) onData(data);
    }
    return rest;
  }

  function errorText(status, body) {
    try {
      const j = JSON.parse(body);
      if (j && j.error && j.error.message) return `${status ? `HTTP ${status}: ` : ""}${j.error.message}`;
    } catch {
      /* not JSON */
    }
    return `${status ? `HTTP ${status}: ` : ""}${body.slice(0, 300) || "request failed"}`;
  }

  function timingText(count, timings, started) {
    if (timings && Number.isFinite(timings.predicted_per_second) && timings.predicted_n > 0) {
      return `${timings.predicted_n} tokens · ${timings.predicted_per_second.toFixed(1)} tokens/s`;
    }
    const seconds = (performance.now() - started) / 1000;
    return count > 0 && seconds > 0 ? `${count} chunks · ${(count / seconds).toFixed(1)} chunks/s` : "";
  }

  async function sendMessage(text) {
    if (generation || !text.trim()) return;
    const c = current() || newConversation();
    if (c.messages.length === 0) c.title = text.trim().replace(/\s+/g, " ").slice(0, 48);
    c.messages.push({ role: "user", content: text });
    const s = settings();
    const history = c.messages.map((m) => ({ role: m.role, content: m.content }));
    if (s.systemPrompt.trim()) history.unshift({ role: "system", content: s.systemPrompt });

    const reply = { role: "assistant", content: "", state: "streaming", meta: "", format: s.replyFormat };
    c.messages.push(reply);
    persist();
    renderList();
    renderMessages();
    const node = el.messages.lastElementChild;
    const controller = new AbortController();
    generation = { controller, conversation: c, message: reply, node };
    setBusy(true);
    setStatus("generating…");

    const started = performance.now();
    let chunks = 0;
    let timings = null;
    // Re-rendering the markdown of the whole reply per token would be quadratic: redraw at most
    // every 40 ms. (A timer rather than requestAnimationFrame, which headless or hidden pages
    // may not run while the reply streams.)
    let timer = null;
    let lastDraw = 0;
    const redraw = () => {
      timer = null;
      lastDraw = performance.now();
      fillContent(node, reply);
      scrollToEnd(false);
    };
    const scheduleRedraw = () => {
      if (timer === null) timer = setTimeout(redraw, Math.max(0, 40 - (performance.now() - lastDraw)));
    };

    try {
      const body = { messages: history, stream: true, temperature: s.temperature, max_tokens: s.maxTokens };
      if (modelId) body.model = modelId;
      if (s.replyFormat === "json_object") body.response_format = { type: "json_object" };
      const res = await fetch("/v1/chat/completions", {
        method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal,
      });
      if (!res.ok || !res.body) throw new Error(errorText(res.status, await res.text()));
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let done = false;
      while (!done) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffer += decoder.decode(value, { stream: true });
        buffer = takeEvents(buffer, (data) => {
          if (data === "[DONE]") {
            done = true;
            return;
          }
          let chunk;
          try {
            chunk = JSON.parse(data);
          } catch {
            return;  // tolerate a malformed event rather than losing the reply
          }
          if (chunk.error) throw new Error(errorText(0, data));
          const choice = chunk.choices && chunk.choices[0];
          const delta = choice && choice.delta && choice.delta.content;
          if (typeof delta === "string" && delta.length) {
            reply.content += delta;
            chunks += 1;
            scheduleRedraw();
          }
          if (chunk.timings) timings = chunk.timings;
        });
      }
      reply.state = "done";
      reply.meta = timingText(chunks, timings, started);
      setStatus(reply.meta);
    } catch (e) {
      if (e.name === "AbortError") {
        reply.state = "stopped";
        reply.meta = `stopped · ${timingText(chunks, null, started)}`;
        setStatus("stopped");
      } else {
        reply.state = "error";
        reply.meta = e.message;
        if (!reply.content) reply.content = "";
        setStatus(`error: ${e.message}`);
      }
    } finally {
      clearTimeout(timer);
      if (generation && generation.message === reply) generation = null;
      persist();
      fillContent(node, reply);
      setBusy(false);
      scrollToEnd(false);
      el.prompt.focus();
    }
  }

  function stopGeneration() {
    if (generation) generation.controller.abort();
  }

  async function loadModel() {
    try {
      const res = await fetch("/v1/models", { headers: headers() });
      const body = await res.text();
      if (!res.ok) throw new Error(errorText(res.status, body));
      const data = JSON.parse(body).data || [];
      modelId = data.length ? data[0].id : null;
      el.modelInfo.textContent = modelId ? `model: ${modelId}` : "no model listed";
    } catch (e) {
      el.modelInfo.textContent = `server: ${e.message}`;
    }
  }

  // ---- wiring ----------------------------------------------------------------------------

  el.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = el.prompt.value;
    if (!text.trim() || generation) return;
    el.prompt.value = "";
    sendMessage(text);
  });
  el.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      el.composer.requestSubmit();
    }
  });
  el.stop.addEventListener("click", stopGeneration);
  el.newChat.addEventListener("click", () => {
    if (generation) stopGeneration();
    const c = current();
    if (!c || c.messages.length > 0) newConversation();
    renderList();
    renderMessages();
    el.prompt.focus();
  });
  el.settingsToggle.addEventListener("click", () => {
    el.settings.hidden = !el.settings.hidden;
    el.settingsToggle.setAttribute("aria-expanded", String(!el.settings.hidden));
  });
  for (const input of [el.temperature, el.maxTokens, el.replyFormat, el.systemPrompt, el.apiKey]) input.addEventListener("change", saveSettings);
  el.apiKey.addEventListener("change", loadModel);

  loadSettings();
  // A reply interrupted by closing the page is kept as it was, marked stopped.
  for (const c of conversations) for (const m of c.messages) if (m.state === "streaming") m.state = "stopped";
  if (!current()) currentId = conversations.length ? conversations[0].id : null;
  renderList();
  renderMessages();
  setBusy(false);
  loadModel();

  // For tests and the console: render a message through the page's own pipeline.
  window.chatApp = {
    renderMarkdown: (text) => window.stMarkdown.render(text),
    showMessage(message) {
      el.emptyHint.remove();
      const node = messageNode({ state: "done", ...message });
      el.messages.append(node);
      scrollToEnd(true);
      return node;
    },
    send: sendMessage,
    stop: stopGeneration,
  };
})();
