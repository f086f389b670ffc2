// tenant-sim report: details on hover and click, the tenant filter. The page is complete
// without this script; it only adds interaction. <body data-ready="1"> once it has run.
(function () {
  "use strict";
  var details = JSON.parse(document.getElementById("details").textContent);
  var tip = document.getElementById("tip");
  var panel = document.getElementById("panel");
  var panelBody = document.getElementById("panel-body");
  var selected = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function fill(target, item, limit) {
    target.textContent = "";
    target.appendChild(el(target === tip ? "b" : "h4", item.title));
    var table = el("table");
    item.rows.slice(0, limit).forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", row[0], "k"));
      tr.appendChild(el("td", row[1]));
      table.appendChild(tr);
    });
    target.appendChild(table);
    if (item.rows.length > limit) target.appendChild(el("div", "… click for all " + item.rows.length + " lines", "k"));
  }

  function itemOf(target) {
    var node = target.closest ? target.closest("[data-i]") : null;
    if (!node) return null;
    var i = Number(node.getAttribute("data-i"));
    return details[i] ? { node: node, item: details[i] } : null;
  }

  document.addEventListener("mouseover", function (e) {
    var found = itemOf(e.target);
    if (!found) { tip.hidden = true; return; }
    fill(tip, found.item, 8);
    tip.hidden = false;
  });
  document.addEventListener("mousemove", function (e) {
    if (tip.hidden) return;
    var x = e.clientX + 14, y = e.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 8) x = e.clientX - w - 14;
    if (y + h > window.innerHeight - 8) y = e.clientY - h - 14;
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  });
  document.addEventListener("click", function (e) {
    var found = itemOf(e.target);
    if (!found) return;
    if (selected) selected.classList.remove("selected");
    selected = found.node;
    selected.classList.add("selected");
    fill(panelBody, found.item, 1000);
    panel.hidden = false;
  });
  document.getElementById("panel-close").addEventListener("click", function () {
    panel.hidden = true;
    if (selected) selected.classList.remove("selected");
    selected = null;
  });

  var filter = document.getElementById("filter");
  var troubledOnly = document.getElementById("troubled-only");
  function applyFilter() {
    var text = filter ? filter.value.trim().toLowerCase() : "";
    var only = troubledOnly ? troubledOnly.checked : false;
    document.querySelectorAll("[data-tenant]").forEach(function (node) {
      var code = node.getAttribute("data-tenant");
      var troubled = node.getAttribute("data-troubled");
      var hide = (text && code.indexOf(text) < 0) || (only && troubled === "0");
      node.classList.toggle("hidden", Boolean(hide));
    });
  }
  if (filter) filter.addEventListener("input", applyFilter);
  if (troubledOnly) troubledOnly.addEventListener("change", applyFilter);

  document.body.setAttribute("data-lanes", String(document.querySelectorAll(".lane[data-tenant]").length));
  document.body.setAttribute("data-ready", "1");
})();
