// Place the outlines of the fields on their pages, and link each field's row to its outline.
(function () {
  "use strict";
  document.querySelectorAll(".box[data-rect]").forEach(function (box) {
    var r = box.getAttribute("data-rect").split(",");
    box.style.left = r[0] + "%";
    box.style.top = r[1] + "%";
    box.style.width = r[2] + "%";
    box.style.height = r[3] + "%";
  });
  function mark(field, on) {
    document.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.classList.toggle("active", on);
    });
  }
  document.querySelectorAll("[data-field]").forEach(function (el) {
    var field = el.getAttribute("data-field");
    el.addEventListener("mouseenter", function () { mark(field, true); });
    el.addEventListener("mouseleave", function () { mark(field, false); });
  });
  document.querySelectorAll(".field-table tr.has-box").forEach(function (row) {
    row.addEventListener("click", function () {
      var box = document.querySelector('.box[data-field="' + row.getAttribute("data-field") + '"]');
      if (box) { box.scrollIntoView({behavior: "smooth", block: "center"}); }
    });
  });
})();
