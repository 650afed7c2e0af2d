// The reports table sorts by any column when its heading is clicked (again: reversed).
"use strict";
document.querySelectorAll("table[data-sortable]").forEach((table) => {
  table.querySelectorAll("thead th button").forEach((button, column) => {
    button.addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows).filter((row) => row.cells.length > 1);
      const descending = button.dataset.order !== "desc";
      table.querySelectorAll("thead th button").forEach((b) => delete b.dataset.order);
      button.dataset.order = descending ? "desc" : "asc";
      const key = (row) => {
        const raw = row.cells[column].dataset.sort || "";
        const number = Number(raw);
        return raw !== "" && !Number.isNaN(number) ? number : raw.toLowerCase();
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return descending ? -order : order;
      });
      rows.forEach((row) => body.appendChild(row));
      table.querySelectorAll("thead th").forEach((th) => th.removeAttribute("aria-sort"));
      button.parentElement.setAttribute("aria-sort", descending ? "descending" : "ascending");
    });
  });
});

// The column chooser: a box ticked or unticked shows or hides its column at once, and
// the browser remembers the choice (localStorage) for the next visit. Without
// JavaScript the page shows the default set, and the chooser's form asks the server.
(() => {
  const STORAGE = "clinic-report-columns";
  const table = document.querySelector('table[data-table="report"]');
  const form = document.querySelector("[data-column-form]");
  if (!table || !form) return;
  const boxes = Array.from(form.querySelectorAll('input[type="checkbox"][name="col"]'));
  const known = new Set(boxes.map((box) => box.value));
  const defaults = boxes.filter((box) => "default" in box.dataset).map((box) => box.value);
  const count = document.querySelector("[data-columns-count]");

  const show = (names) => {
    const wanted = new Set(names);
    boxes.forEach((box) => { box.checked = wanted.has(box.value); });
    table.querySelectorAll("[data-column]").forEach((cell) => {
      if (known.has(cell.dataset.column)) cell.hidden = !wanted.has(cell.dataset.column);
    });
    const empty = table.querySelector("tbody td[colspan]");
    if (empty) empty.colSpan = wanted.size + 1;
    count.textContent = `(${wanted.size} of ${boxes.length} shown)`;
  };
  const chosen = () => boxes.filter((box) => box.checked).map((box) => box.value);
  const remember = (names) => {
    try {
      if (names) localStorage.setItem(STORAGE, JSON.stringify(names));
      else localStorage.removeItem(STORAGE);
    } catch (error) { /* storage off: the choice lasts this page */ }
  };
  const remembered = () => {
    try {
      const names = JSON.parse(localStorage.getItem(STORAGE));
      return Array.isArray(names) ? names.filter((name) => known.has(name)) : null;
    } catch (error) {
      return null;
    }
  };

  // A choice in the address (the form sent without JavaScript) wins and is remembered.
  const asked = new URLSearchParams(window.location.search).getAll("columns");
  if (asked.includes("default")) remember(null);
  else if (asked.includes("chosen")) remember(chosen());
  else {
    const names = remembered();
    if (names) show(names);
  }
  // From here the browser keeps the choice: the filters need not carry it.
  document.querySelectorAll("[data-kept-column]").forEach((input) => input.remove());
  form.querySelector("[data-columns-apply]").hidden = true;
  boxes.forEach((box) => box.addEventListener("change", () => {
    show(chosen());
    remember(chosen());
  }));
  form.querySelector("[data-columns-default]").addEventListener("click", (event) => {
    event.preventDefault();
    remember(null);
    show(defaults);
  });
})();
