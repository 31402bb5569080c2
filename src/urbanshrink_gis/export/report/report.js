document.querySelectorAll("table.sortable").forEach(table => {
  table.tHead.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
    const asc = th.dataset.order !== "asc";
    table.tHead.querySelectorAll("th").forEach(h => delete h.dataset.order);
    th.dataset.order = asc ? "asc" : "desc";
    const key = row => {
      const cell = row.cells[col];
      if (cell.dataset.v === undefined) return cell.textContent;
      return cell.dataset.v === "" ? null : Number(cell.dataset.v);
    };
    const rows = [...table.tBodies[0].rows].sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null);
      const d = typeof x === "number" ? x - y : x.localeCompare(y, "zh", {numeric: true});
      return asc ? d : -d;
    });
    table.tBodies[0].append(...rows);
  }));
});
