// The create-campaign page: sections shown for the chosen radio, rows of pairs, and
// the Liquid editor's line numbers and "@" suggestions. The page works without it
// (every section is then shown); this only makes it easier to use.
(function () {
  "use strict";

  function checkedValue(name) {
    const box = document.querySelector(`input[name="${name}"]:checked`);
    return box ? box.value : "";
  }

  function toggleSections() {
    document.querySelectorAll("[data-show-when]").forEach((el) => {
      const [name, value] = el.dataset.showWhen.split("=");
      const known = document.querySelector(`input[name="${name}"]`);
      el.hidden = Boolean(known) && checkedValue(name) !== value;
    });
  }

  function pairRows(root) {
    root.addEventListener("click", (event) => {
      const add = event.target.closest("[data-add-row]");
      if (add) {
        const body = add.previousElementSibling.querySelector("tbody");
        const row = body.lastElementChild.cloneNode(true);
        row.querySelectorAll("input").forEach((input) => { input.value = ""; });
        body.appendChild(row);
        row.querySelector("input").focus();
        return;
      }
      const remove = event.target.closest("[data-remove-row]");
      if (remove) {
        const row = remove.closest("tr");
        const body = row.parentElement;
        if (body.children.length > 1) row.remove();
        else row.querySelectorAll("input").forEach((input) => { input.value = ""; });
        body.closest("form").dispatchEvent(new Event("input", { bubbles: true }));
      }
    });
  }

  function badLines() {
    const lines = new Set();
    document.querySelectorAll("#body-problems li").forEach((li) => {
      const match = /^Line (\d+):/.exec(li.textContent.trim());
      if (match) lines.add(Number(match[1]));
    });
    return lines;
  }

  function liquidEditor(textarea) {
    const editor = textarea.closest(".editor");
    const gutter = editor.querySelector(".gutter");
    const list = editor.querySelector(".suggestions");
    const source = document.getElementById("liquid-variables");
    const variables = source ? JSON.parse(source.textContent) : [];
    let start = -1;
    let active = 0;

    function numberLines() {
      const count = textarea.value.split("\n").length;
      const bad = badLines();
      gutter.innerHTML = "";
      for (let n = 1; n <= count; n += 1) {
        const line = document.createElement("span");
        line.textContent = String(n);
        if (bad.has(n)) { line.className = "bad"; line.title = "See the problem below"; }
        gutter.appendChild(line);
        gutter.appendChild(document.createTextNode("\n"));
      }
      gutter.scrollTop = textarea.scrollTop;
    }

    function close() { list.hidden = true; start = -1; }

    function choose(variable) {
      const before = textarea.value.slice(0, start);
      const after = textarea.value.slice(textarea.selectionStart);
      const inserted = `{{ ${variable} }}`;
      textarea.value = before + inserted + after;
      const caret = before.length + inserted.length;
      textarea.setSelectionRange(caret, caret);
      close();
      textarea.focus();
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function show(query) {
      const matches = variables.filter((v) => v.toLowerCase().includes(query.toLowerCase())).slice(0, 30);
      if (!matches.length) { list.hidden = true; return; }
      list.innerHTML = "";
      matches.forEach((variable, index) => {
        const item = document.createElement("li");
        item.setAttribute("role", "option");
        item.textContent = variable;
        item.setAttribute("aria-selected", String(index === active));
        item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(variable); });
        list.appendChild(item);
      });
      const lineCount = textarea.value.slice(0, textarea.selectionStart).split("\n").length;
      list.style.top = `${Math.min(lineCount * 20 + 12 - textarea.scrollTop, textarea.clientHeight)}px`;
      list.style.left = "52px";
      list.hidden = false;
    }

    textarea.addEventListener("input", () => {
      numberLines();
      const caret = textarea.selectionStart;
      const text = textarea.value.slice(0, caret);
      const at = text.lastIndexOf("@");
      if (at >= 0 && !/\s/.test(text.slice(at + 1))) {
        if (start !== at) active = 0;
        start = at;
        show(text.slice(at + 1));
      } else {
        close();
      }
    });
    textarea.addEventListener("keydown", (event) => {
      if (list.hidden) return;
      const items = list.querySelectorAll("li");
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items.forEach((item, i) => item.setAttribute("aria-selected", String(i === active)));
      } else if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        choose(items[active].textContent);
      } else if (event.key === "Escape") {
        close();
      }
    });
    textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; });
    textarea.addEventListener("blur", () => setTimeout(close, 150));
    document.body.addEventListener("htmx:afterSettle", numberLines);
    numberLines();
  }

  document.addEventListener("DOMContentLoaded", () => {
    toggleSections();
    document.addEventListener("change", (event) => {
      if (event.target.matches("input[type=radio]")) toggleSections();
    });
    pairRows(document);
    document.querySelectorAll("textarea[data-liquid-editor]").forEach(liquidEditor);
  });
})();
