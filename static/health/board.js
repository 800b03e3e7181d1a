// The health board's charts (Apache ECharts, vendored). Each panel arrives by htmx; its data
// is in a <script type="application/json"> beside the chart (no inline script: CSP). A chart
// is drawn again each time its panel is swapped in. window.boardCharts holds the instances.
(function () {
  "use strict";
  var charts = {};
  var mapReady = null;
  window.boardCharts = charts;

  function ensureMap() {
    if (mapReady) return mapReady;
    var url = document.body.getAttribute("data-map-url");
    mapReady = fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (geo) { window.echarts.registerMap("china", geo); });
    return mapReady;
  }

  function optionFor(kind, data) {
    if (kind === "funnel") {
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 40, right: 10, top: 30, bottom: 60 },
        xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: "value", minInterval: 1 },
        series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
      };
    }
    if (kind === "map") {
      var max = data.data.reduce(function (m, d) { return Math.max(m, d.value); }, 1);
      return {
        tooltip: { trigger: "item" },
        visualMap: { min: 0, max: max, left: 0, bottom: 0, calculable: true },
        series: [{ type: "map", map: "china", roam: false, data: data.data }]
      };
    }
    if (kind === "trends") {
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 40, right: 40, top: 30, bottom: 30 },
        xAxis: { type: "category", data: data.days },
        yAxis: [{ type: "value", min: 0, max: 100 }, { type: "value", minInterval: 1 }],
        series: [
          { name: data.names[0], type: "line", data: data.score, connectNulls: true },
          { name: data.names[1], type: "bar", yAxisIndex: 1, data: data.opened },
          { name: data.names[2], type: "line", yAxisIndex: 1, data: data.recovery, connectNulls: true },
          { name: data.names[3], type: "line", data: data.auto, connectNulls: true }
        ]
      };
    }
    return null;
  }

  function draw(element, kind, data) {
    var old = window.echarts.getInstanceByDom(element);
    if (old) old.dispose();
    var chart = window.echarts.init(element);
    chart.setOption(optionFor(kind, data));
    charts[kind] = chart;
    element.setAttribute("data-rendered", "true");
  }

  function render(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-source"));
      if (!source) return;
      var data = JSON.parse(source.textContent);
      var kind = element.getAttribute("data-chart");
      if (kind === "map") {
        ensureMap().then(function () { draw(element, kind, data); });
      } else {
        draw(element, kind, data);
      }
    });
  }

  document.addEventListener("htmx:afterSwap", function (event) { render(event.detail.target); });
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (key) { charts[key].resize(); });
  });
})();
