// Rich messages in the page: the server's sanitised HTML, mention highlights, reply quotes,
// the reactions bar with its emoji picker, and the @-mention autocomplete of the composer.
// Everything but `body_html` goes in as text.

let nextId = 0;
const uniqueId = (prefix) => `${prefix}-${++nextId}`;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function mentionsMe(message, myId) {
  return Boolean(message.mentions_room || message.mentions?.includes(myId));
}

// The message's body: the HTML the server rendered and sanitised (the one innerHTML of the
// page), or the tombstone of a deleted message; mentions of me stand out more.
export function renderBody(container, message, myId) {
  // Rows stored around the services (bulk loads) have no HTML: their text shows as text.
  const formatted = !message.deleted && Boolean(message.body_html);
  container.classList.toggle("formatted", formatted);
  if (!formatted) {
    container.textContent = message.deleted ? "This message was deleted." : message.body;
    return;
  }
  container.innerHTML = message.body_html;
  for (const mention of container.querySelectorAll(".mention[data-user-id]")) {
    mention.classList.toggle("mention-me", Number(mention.dataset.userId) === myId);
  }
}

// The quoted excerpt a reply shows: a button that jumps to the original.
export function replyQuote(reply, onJump) {
  const quote = element("button", "reply-quote");
  quote.type = "button";
  quote.dataset.replyTo = reply.id;
  quote.dataset.reply = JSON.stringify(reply); // so that the original's changes can redraw it
  const author = element("span", "reply-quote-author", reply.author.display_name);
  const excerpt = reply.deleted
    ? element("span", "reply-quote-text muted", "This message was deleted.")
    : element("span", "reply-quote-text", reply.excerpt);
  quote.append(author, " ", excerpt);
  const said = reply.deleted ? "a deleted message" : `${reply.author.display_name}: ${reply.excerpt}`;
  quote.setAttribute("aria-label", `In reply to ${said}. Show the original`);
  quote.addEventListener("click", () => onJump(reply));
  return quote;
}

function names(users) {
  return users.map((user) => user.display_name).join(", ");
}

// The reactions under a message: one toggle per emoji (pressed when I reacted), who reacted in
// its title and accessible name, and a button that opens the picker.
export function reactionsBar(message, myId, { onToggle, onPick, canReact }) {
  const bar = element("div", "reactions");
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Reactions");
  for (const reaction of message.reactions || []) {
    const mine = reaction.users.some((user) => user.id === myId);
    const button = element("button", "reaction");
    button.type = "button";
    button.dataset.emoji = reaction.emoji;
    button.append(element("span", "reaction-emoji", reaction.emoji), element("span", "reaction-count", String(reaction.count)));
    button.setAttribute("aria-pressed", String(mine));
    button.title = names(reaction.users);
    const people = reaction.count === 1 ? "1 reaction" : `${reaction.count} reactions`;
    const action = mine ? "remove yours" : "add yours";
    button.setAttribute("aria-label", `${reaction.emoji} ${people} from ${names(reaction.users)}; ${action}`);
    button.disabled = !canReact;
    button.addEventListener("click", () => onToggle(reaction.emoji, !mine));
    bar.append(button);
  }
  if (canReact) {
    const add = element("button", "reaction reaction-add", "☺+");
    add.type = "button";
    add.setAttribute("aria-label", `Add a reaction to message ${message.id}`);
    add.addEventListener("click", () => onPick(add));
    bar.append(add);
  }
  return bar;
}

// The emoji picker: one per page, opened beside the button that asked for it. Its data (the
// searchable emoji and my six most used) is loaded the first time it opens.
export class EmojiPicker {
  constructor(url) {
    this.url = url;
    this.data = null;
    this.onChoose = null;
    this.opener = null;
    this.root = element("div", "emoji-picker hidden");
    this.root.setAttribute("role", "dialog");
    this.root.setAttribute("aria-label", "Choose a reaction");
    const label = element("label", "visually-hidden", "Search emoji");
    const search = element("input", "emoji-search");
    search.type = "search";
    search.id = uniqueId("emoji-search");
    search.placeholder = "Search emoji";
    label.htmlFor = search.id;
    this.search = search;
    this.frequent = element("div", "emoji-grid emoji-frequent");
    this.frequent.setAttribute("role", "group");
    this.frequent.setAttribute("aria-label", "Most used");
    this.grid = element("div", "emoji-grid");
    this.grid.setAttribute("role", "group");
    this.grid.setAttribute("aria-label", "All emoji");
    this.root.append(label, search, this.frequent, this.grid);
    document.body.append(this.root);
    search.addEventListener("input", () => this.fill());
    this.root.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    document.addEventListener("mousedown", (event) => {
      if (!this.root.contains(event.target) && event.target !== this.opener) this.close();
    });
  }

  async open(opener, onChoose) {
    this.opener = opener;
    this.onChoose = onChoose;
    if (!this.data) {
      const response = await fetch(this.url, { credentials: "same-origin" });
      this.data = await response.json();
    }
    this.search.value = "";
    this.fill();
    const box = opener.getBoundingClientRect();
    this.root.classList.remove("hidden");
    const top = Math.max(8, Math.min(box.bottom + 4, innerHeight - this.root.offsetHeight - 8));
    const left = Math.max(8, Math.min(box.left, innerWidth - this.root.offsetWidth - 8));
    this.root.style.top = `${top}px`;
    this.root.style.left = `${left}px`;
    this.search.focus();
  }

  close() {
    if (this.root.classList.contains("hidden")) return;
    this.root.classList.add("hidden");
    this.opener?.focus();
    this.opener = null;
  }

  choice(emoji, name) {
    const button = element("button", "emoji-choice", emoji);
    button.type = "button";
    button.setAttribute("aria-label", name);
    button.title = name;
    button.addEventListener("click", () => {
      const choose = this.onChoose;
      this.close();
      choose(emoji);
    });
    return button;
  }

  fill() {
    const names = new Map(this.data.emoji);
    this.frequent.replaceChildren(
      ...this.data.frequent.map((emoji) => this.choice(emoji, names.get(emoji) || emoji)),
    );
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const found = this.data.emoji.filter(([, name]) => words.every((word) => name.includes(word)));
    this.grid.replaceChildren(...found.slice(0, 400).map(([emoji, name]) => this.choice(emoji, name)));
    this.frequent.classList.toggle("hidden", words.length > 0);
  }
}

// "@" in the composer offers the room's members: a listbox of options that the text box controls
// (aria-autocomplete, aria-controls and aria-activedescendant: a textarea may not take the
// combobox role), driven by the arrow keys, Enter or Tab to choose and Escape to close.
export class MentionAutocomplete {
  constructor(input, { members, myId }) {
    this.input = input;
    this.members = members; // () => [{id, username, display_name, avatar_url}]
    this.myId = myId;
    this.options = [];
    this.active = -1;
    this.listbox = element("ul", "mention-options hidden");
    this.listbox.id = uniqueId("mention-options");
    this.listbox.setAttribute("role", "listbox");
    this.listbox.setAttribute("aria-label", "People to mention");
    input.after(this.listbox);
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.listbox.id);
    input.addEventListener("input", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    // Captured first, so that Enter chooses a person instead of sending the message.
    input.addEventListener("keydown", (event) => this.onKey(event), { capture: true });
  }

  // The "@word" being typed just before the caret, if any.
  query() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = /(?:^|[^\w@])@([\w.+-]*)$/.exec(before);
    return match ? { text: match[1], start: before.length - match[1].length - 1 } : null;
  }

  update() {
    const query = this.query();
    const text = query?.text.toLowerCase();
    this.options = query
      ? this.members()
          .filter((member) => member.id !== this.myId)
          .filter(
            (member) =>
              member.username.toLowerCase().startsWith(text) ||
              member.display_name.toLowerCase().split(/\s+/).some((word) => word.startsWith(text)),
          )
          .slice(0, 8)
      : [];
    if (!this.options.length) {
      this.close();
      return;
    }
    this.active = 0;
    this.listbox.replaceChildren(
      ...this.options.map((member, index) => {
        const option = element("li", "mention-option");
        option.id = `${this.listbox.id}-${index}`;
        option.setAttribute("role", "option");
        option.append(
          element("span", "mention-option-name", member.display_name),
          " ",
          element("span", "muted", `@${member.username}`),
        );
        option.addEventListener("mousedown", (event) => {
          event.preventDefault(); // keep the focus in the composer
          this.choose(index);
        });
        return option;
      }),
    );
    this.listbox.classList.remove("hidden");
    this.highlight();
  }

  highlight() {
    this.listbox.querySelectorAll("[role=option]").forEach((option, index) => {
      option.setAttribute("aria-selected", String(index === this.active));
    });
    this.input.setAttribute("aria-activedescendant", `${this.listbox.id}-${this.active}`);
  }

  close() {
    this.options = [];
    this.listbox.classList.add("hidden");
    this.input.removeAttribute("aria-activedescendant");
  }

  choose(index) {
    const query = this.query();
    const member = this.options[index];
    if (!query || !member) return;
    const value = this.input.value;
    const caret = this.input.selectionStart;
    const inserted = `@${member.username} `;
    this.input.value = value.slice(0, query.start) + inserted + value.slice(caret);
    const at = query.start + inserted.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.input.dispatchEvent(new Event("input"));
  }

  onKey(event) {
    if (!this.options.length) return;
    const count = this.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      this.highlight();
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}
