"""The demo web chat: a page at `/` where a visitor plays a seeded demo borrower, and its JSON.

    GET  /                 the page (plain HTML, a little vanilla JS, works on a phone)
    GET  /chat/borrowers   the demo borrowers the page offers
    POST /chat/start       {"sender", "borrower_id"?}: opens the conversation, linked by phone

The page then talks through Rasa's REST channel (`webhooks.rest`). The browser's conversation
address is a random id kept in `sessionStorage`, so each tab is one conversation and "New
conversation" starts another. Demo credentials (date of birth, last 4 of the ID) appear only when
the router is built with `demo_credentials=True`, which the composition root does in development.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from bots import webchat
from dialogue import Dialogue, InvalidInbound
from webhooks.rest import PATH as REST_PATH
from webhooks.rest import invalid

DEMO_BORROWERS_SHOWN = 12
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}


class StartChat(BaseModel):
    """Open a demo conversation at `sender`, linked to a demo borrower unless none is given."""

    sender: Annotated[str, Field(min_length=1, max_length=webchat.MAX_SENDER_CHARS)]
    borrower_id: int | None = None


class DemoCredentials(BaseModel):
    date_of_birth: str | None
    id_last4: str | None


class DemoBorrowerOut(BaseModel):
    id: int
    name: str
    language: str
    situation: str
    days_past_due: int
    # Present only on a development server.
    credentials: DemoCredentials | None = None


def build_webchat_router(
    *,
    dialogue: Callable[[], Dialogue],
    sessions: sessionmaker[Session],
    demo_credentials: bool,
    clock: Callable[[], datetime] | None = None,
    shown: int = DEMO_BORROWERS_SHOWN,
) -> APIRouter:
    """The demo page and its routes; `dialogue` is called per conversation start (lazy load)."""
    router = APIRouter()
    now = clock or (lambda: datetime.now(UTC))

    def listed() -> list[DemoBorrowerOut]:
        with sessions() as session:
            found = webchat.demo_borrowers(session, shown, as_of=now().date())
        return [_borrower_out(b, demo_credentials) for b in found]

    @router.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        """The demo chat page."""
        nonce = secrets.token_urlsafe(16)
        body = render_page(listed(), demo_credentials=demo_credentials, nonce=nonce)
        return HTMLResponse(body, headers=_page_headers(nonce))

    @router.get("/chat/borrowers", tags=["web chat"])
    def borrowers() -> list[DemoBorrowerOut]:
        """The demo borrowers a visitor may play, in varied situations."""
        return listed()

    @router.post("/chat/start", tags=["web chat"])
    def start(request: StartChat) -> list[dict[str, Any]]:
        """Open a conversation: share the demo borrower's phone and greet; returns the replies."""
        phone = None
        if request.borrower_id is not None:
            try:
                with sessions() as session:
                    phone = webchat.linkable_phone(
                        session=session, borrower_id=request.borrower_id, demo_only=True
                    )
            except webchat.ChatLinkError as exc:
                raise HTTPException(404, str(exc)) from None
        try:
            inbound = webchat.start_inbound(sender=request.sender, phone=phone, received_at=now())
            return webchat.answer(dialogue(), inbound)
        except webchat.InvalidMessage as exc:
            raise invalid(exc.field, exc.message) from None
        except InvalidInbound as exc:
            raise invalid("body", str(exc)) from None

    return router


def _borrower_out(borrower: webchat.DemoBorrower, credentials: bool) -> DemoBorrowerOut:
    return DemoBorrowerOut(
        id=borrower.id,
        name=borrower.name,
        language=borrower.language,
        situation=borrower.situation.value,
        days_past_due=borrower.days_past_due,
        credentials=DemoCredentials(
            date_of_birth=borrower.date_of_birth.isoformat() if borrower.date_of_birth else None,
            id_last4=borrower.id_last4,
        )
        if credentials
        else None,
    )


def _page_headers(nonce: str) -> dict[str, str]:
    # The page may carry demo credentials: never cached, never framed, scripts only our own.
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _situation(borrower: DemoBorrowerOut) -> str:
    if borrower.days_past_due <= 0:
        return "up to date"
    day = "day" if borrower.days_past_due == 1 else "days"
    return f"{borrower.days_past_due} {day} past due"


def _option(borrower: DemoBorrowerOut) -> str:
    language = LANGUAGE_NAMES.get(borrower.language, borrower.language)
    label = f"{borrower.name} · {language} · {_situation(borrower)}"
    data = ""
    if borrower.credentials is not None:
        data = (
            f' data-dob="{html.escape(borrower.credentials.date_of_birth or "")}"'
            f' data-last4="{html.escape(borrower.credentials.id_last4 or "")}"'
        )
    return f'<option value="{borrower.id}"{data}>{html.escape(label)}</option>'


def render_page(borrowers: list[DemoBorrowerOut], *, demo_credentials: bool, nonce: str) -> str:
    """The page's HTML; credentials are written into it only when `demo_credentials`."""
    options = "\n".join(_option(b) for b in borrowers)
    options += '\n<option value="">Nobody in particular (not linked to a borrower)</option>'
    empty = (
        ""
        if borrowers
        else '<p class="note">No demo borrowers yet: run <code>settle seed</code> to add the '
        "demo portfolio. You can still chat without one.</p>"
    )
    return (
        PAGE.replace("%%NONCE%%", nonce)
        .replace("%%OPTIONS%%", options)
        .replace("%%EMPTY%%", empty)
        .replace("%%CREDENTIALS%%", CREDENTIALS_PANEL if demo_credentials else "")
        .replace("%%REST_PATH%%", REST_PATH)
    )


CREDENTIALS_PANEL = """
<aside id="credentials" class="credentials" aria-labelledby="credentials-title">
  <h2 id="credentials-title">Demo credentials</h2>
  <p>The assistant asks you to prove who you are before it talks about the loan.
  This borrower's details (shown on a development server only):</p>
  <dl>
    <dt>Date of birth</dt><dd id="credential-dob">-</dd>
    <dt>Last 4 digits of ID number</dt><dd id="credential-last4">-</dd>
  </dl>
</aside>
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Settle: demo chat</title>
<style nonce="%%NONCE%%">
  :root { color-scheme: light; --accent: #0b5cad; --bot: #eef1f5; --user: #0b5cad; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
         "PingFang SC", "Microsoft YaHei", sans-serif; color: #1b1f24; background: #fafbfc; }
  header, main, footer { max-width: 42rem; margin: 0 auto; padding: 0 1rem; }
  header h1 { margin: 1rem 0 0; font-size: 1.5rem; }
  header p { margin: .25rem 0 1rem; color: #4a525c; }
  h2 { font-size: 1.15rem; margin: 1rem 0 .5rem; }
  label { display: block; font-weight: 600; margin-bottom: .25rem; }
  select, input[type=text], button { font: inherit; border-radius: .5rem; }
  select, input[type=text] { width: 100%; padding: .6rem; border: 1px solid #8a939e;
         background: #fff; color: inherit; }
  button { padding: .6rem 1rem; border: 1px solid var(--accent); background: var(--accent);
           color: #fff; cursor: pointer; min-height: 2.75rem; }
  button.secondary { background: #fff; color: var(--accent); }
  button:disabled { opacity: .55; cursor: default; }
  :focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
  .row { display: flex; gap: .5rem; margin-top: .5rem; }
  .row > input, .row > select { flex: 1; min-width: 0; }
  .log { list-style: none; margin: 0; padding: .75rem; min-height: 12rem; max-height: 60vh;
         overflow-y: auto; background: #fff; border: 1px solid #d0d5db; border-radius: .75rem; }
  .msg { margin: .4rem 0; display: flex; flex-direction: column; }
  .msg p { margin: 0; padding: .5rem .75rem; border-radius: .75rem; max-width: 85%;
           white-space: pre-line; overflow-wrap: anywhere; }
  .bot p { background: var(--bot); align-self: flex-start; }
  .user p { background: var(--user); color: #fff; align-self: flex-end; }
  .choices { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: .4rem; }
  .choices button { background: #fff; color: var(--accent); min-height: 2.5rem; }
  .status { min-height: 1.5em; color: #4a525c; margin: .25rem 0; }
  .credentials { margin: 1rem 0; padding: .5rem 1rem; border: 2px dashed #b26b00;
                 border-radius: .75rem; background: #fff8ec; }
  .credentials dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; }
  .credentials dt { font-weight: 600; }
  .credentials dd { margin: 0; font-family: ui-monospace, monospace; }
  .note { color: #4a525c; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden;
             clip: rect(0 0 0 0); white-space: nowrap; }
  footer { margin-top: 2rem; padding-bottom: 1rem; font-size: .9rem; }
  footer a { color: var(--accent); }
  @media (max-width: 30rem) { .row { flex-direction: column; } .msg p { max-width: 95%; } }
</style>
</head>
<body>
<header>
  <h1>Settle</h1>
  <p>Try the collections and loan servicing assistant as one of the demo borrowers.
  Write in English or Chinese; it answers in the language you write.</p>
</header>
<main>
  %%CREDENTIALS%%
  <section id="pick" aria-labelledby="pick-title">
    <h2 id="pick-title">Choose a demo borrower</h2>
    %%EMPTY%%
    <form id="start-form">
      <label for="borrower">Demo borrower</label>
      <div class="row">
        <select id="borrower" name="borrower">
%%OPTIONS%%
        </select>
        <button type="submit">Start conversation</button>
      </div>
    </form>
  </section>
  <section id="chat" aria-labelledby="chat-title" hidden>
    <h2 id="chat-title">Conversation<span id="chat-who"></span></h2>
    <ol id="log" class="log" aria-live="polite" aria-relevant="additions"
        aria-label="Messages"></ol>
    <p id="status" class="status" role="status"></p>
    <form id="send-form">
      <label for="text" class="sr-only">Your message</label>
      <div class="row">
        <input type="text" id="text" name="text" maxlength="2000" autocomplete="off"
               placeholder="Type a message" required>
        <button type="submit" id="send">Send</button>
      </div>
    </form>
    <div class="row">
      <button type="button" id="restart" class="secondary">New conversation</button>
    </div>
  </section>
</main>
<footer>
  <a href="/docs">API documentation</a> · <a href="/healthz">Health check</a>
</footer>
<script nonce="%%NONCE%%">
(() => {
  "use strict";
  const KEY = "settle.webchat";
  const REST = "%%REST_PATH%%";
  const byId = (id) => document.getElementById(id);
  const pick = byId("pick"), chat = byId("chat"), log = byId("log"), text = byId("text");
  const select = byId("borrower"), status = byId("status"), send = byId("send");
  let state = null;
  let busy = false;

  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { return null; }
  }
  function save() {
    try { sessionStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }
  function showCredentials(dob, last4) {
    const d = byId("credential-dob"), l = byId("credential-last4");
    if (d) d.textContent = dob || "-";
    if (l) l.textContent = last4 || "-";
  }
  function selectedCredentials() {
    const option = select.selectedOptions[0];
    return option ? [option.dataset.dob, option.dataset.last4] : [];
  }

  function render(message) {
    const item = document.createElement("li");
    item.className = "msg " + message.from;
    const body = document.createElement("p");
    const who = document.createElement("span");
    who.className = "sr-only";
    who.textContent = message.from === "bot" ? "Settle: " : "You: ";
    body.append(who, document.createTextNode(message.text));
    item.append(body);
    if (message.buttons && message.buttons.length) {
      const group = document.createElement("div");
      group.className = "choices";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Choices");
      for (const choice of message.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = choice.title;
        button.addEventListener("click", () => say(choice.payload, choice.title));
        group.append(button);
      }
      item.append(group);
    }
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }
  function add(message) {
    state.messages.push(message);
    save();
    render(message);
  }
  function setBusy(on, note) {
    busy = on;
    send.disabled = on;
    for (const b of log.querySelectorAll(".choices button")) b.disabled = on;
    status.textContent = note || "";
  }

  async function post(path, body) {
    // One retry after a network failure; the same message id makes it safe.
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(path, {
          method: "POST",
          headers: {"Content-Type": "application/json"},
          body: JSON.stringify(body),
        });
        const data = await response.json().catch(() => null);
        if (!response.ok) {
          const reason = data && data.error ? data.error.message : response.statusText;
          throw new Error(reason || "the server refused the message");
        }
        return data;
      } catch (error) {
        if (attempt >= 2 || !(error instanceof TypeError)) throw error;
      }
    }
  }
  async function exchange(path, body) {
    setBusy(true, "Settle is writing…");
    try {
      const replies = await post(path, body);
      for (const reply of replies) {
        add({from: "bot", text: reply.text || "", buttons: reply.buttons || []});
      }
      setBusy(false, replies.length ? "" : "No reply: a person may be handling this chat.");
    } catch (error) {
      setBusy(false, "Not sent: " + error.message);
    }
  }
  function say(message, shown) {
    if (busy || !state || !message.trim()) return;
    add({from: "user", text: shown || message});
    exchange(REST, {sender: state.sender, message: message,
                    metadata: {message_id: randomId()}});
    text.focus();
  }

  function openChat() {
    pick.hidden = true;
    chat.hidden = false;
    byId("chat-who").textContent = state.who ? " as " + state.who : "";
    showCredentials(state.dob, state.last4);
    log.replaceChildren();
    state.messages.forEach(render);
  }
  function start(event) {
    event.preventDefault();
    const option = select.selectedOptions[0];
    const id = option && option.value ? Number(option.value) : null;
    const [dob, last4] = selectedCredentials();
    state = {sender: "web-" + randomId(), borrowerId: id, messages: [],
             who: id === null ? "" : option.textContent.split(" · ")[0], dob: dob, last4: last4};
    save();
    openChat();
    exchange("/chat/start", {sender: state.sender, borrower_id: id});
    text.focus();
  }
  function restart() {
    state = null;
    try { sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
    chat.hidden = true;
    pick.hidden = false;
    status.textContent = "";
    showCredentials(...selectedCredentials());
    select.focus();
  }

  byId("start-form").addEventListener("submit", start);
  byId("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return;
    const message = text.value;
    text.value = "";
    say(message);
  });
  byId("restart").addEventListener("click", restart);
  select.addEventListener("change", () => showCredentials(...selectedCredentials()));

  state = load();
  if (state && state.sender) openChat(); else showCredentials(...selectedCredentials());
})();
</script>
</body>
</html>
"""
