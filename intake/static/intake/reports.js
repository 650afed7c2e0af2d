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
