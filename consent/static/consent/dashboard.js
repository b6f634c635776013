// The admin index's lookup charts (Chart.js, served from this site's static files). The figures come from the
// page's own <script type="application/json" id="dashboard-data">; the same figures are in the tables below.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var colours = {allowed: "#3a9d5d", denied: "#c0392b"};
    var common = {responsive: true, maintainAspectRatio: false, animation: false};
    new Chart(document.getElementById("chart-days"), {
      type: "bar",
      data: {labels: data.labels, datasets: data.series.map(function (s) {
        return {label: s.label, data: s.data, backgroundColor: colours[s.key], stack: "answers"};
      })},
      options: Object.assign({}, common, {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true,
        title: {display: true, text: data.axis}}}})
    });
    new Chart(document.getElementById("chart-purposes"), {
      type: "bar",
      data: {labels: data.purposes.labels, datasets: [
        {label: data.series[0].label, data: data.purposes.allowed, backgroundColor: colours.allowed},
        {label: data.series[1].label, data: data.purposes.denied, backgroundColor: colours.denied}]},
      options: Object.assign({}, common, {indexAxis: "y", scales: {x: {stacked: true, beginAtZero: true},
        y: {stacked: true}}})
    });
    new Chart(document.getElementById("chart-jurisdictions"), {
      type: "doughnut",
      data: {labels: data.jurisdictions.labels, datasets: [{data: data.jurisdictions.data}]},
      options: common
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
