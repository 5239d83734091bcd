// The live view: the device's samples and events pushed by the server (Server-Sent Events) as they arrive,
// force drawn against band and tolerance at the browser's next frame.
(function () {
  "use strict";
  var root = document.getElementById("live");
  var device = root.getAttribute("data-device");
  var canvas = document.getElementById("chart");
  var g = canvas.getContext("2d");
  var session = null, points = [], band = null, shown = 0, frame = 0;

  function draw() {
    frame = 0;
    var w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    if (!points.length) { return; }
    var t1 = points[points.length - 1][0], t0 = Math.max(0, t1 - 60);
    var top = 1;
    points.forEach(function (p) { if (p[1] !== null && p[1] > top) { top = p[1]; } });
    if (band) { top = Math.max(top, band.max); }
    top *= 1.15;
    function x(t) { return (t - t0) / Math.max(1, t1 - t0) * w; }
    function y(f) { return h - f / top * h; }
    if (band) {
      g.fillStyle = "rgba(44,160,44,0.15)";
      g.fillRect(0, y(band.high), w, y(band.low) - y(band.high));
      g.strokeStyle = "#ff7f0e"; g.beginPath(); g.moveTo(0, y(band.tolerance)); g.lineTo(w, y(band.tolerance)); g.stroke();
    }
    g.strokeStyle = "#222"; g.beginPath();
    var started = false;
    points.forEach(function (p) {
      if (p[0] < t0 || p[1] === null) { started = false; return; }
      if (started) { g.lineTo(x(p[0]), y(p[1])); } else { g.moveTo(x(p[0]), y(p[1])); started = true; }
    });
    g.stroke();
  }

  function apply(data) {
    if (data.session_id !== session) { session = data.session_id; points = []; band = null;
      document.getElementById("events").textContent = ""; }
    var newest = points.length ? points[points.length - 1][0] : -Infinity;
    data.samples.forEach(function (s) {  // a stream started over on another process repeats what was shown
      if (s[0] > newest) { points.push(s); newest = s[0]; }
    });
    if (points.length > 6000) { points = points.slice(points.length - 6000); }
    if (data.band) { band = data.band; }
    var status = data.status || {};
    document.getElementById("phase").textContent = status.phase || "idle";
    var last = points.length ? points[points.length - 1][1] : status.force_n;
    document.getElementById("force").textContent = (last === null || last === undefined) ? "–" : last.toFixed(1) + " N";
    document.getElementById("session").textContent = session || "–";
    shown += data.samples.length;
    document.getElementById("samples").textContent = String(shown);
    var list = document.getElementById("events");
    data.events.forEach(function (e) {
      var item = document.createElement("li");
      item.textContent = (e.t === null ? "" : e.t.toFixed(2) + " s ") + e.type + (e.cue ? " " + e.cue : "") +
        (e.phase ? " " + e.phase : "");
      list.insertBefore(item, list.firstChild);
    });
    if (!frame) { frame = window.requestAnimationFrame(draw); }
  }

  // EventSource reconnects by itself and resumes after the last message's id.
  var stream = new EventSource("/api/v1/devices/" + encodeURIComponent(device) + "/live/stream");
  stream.onmessage = function (message) { apply(JSON.parse(message.data)); };
})();
