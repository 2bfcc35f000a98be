// Outpost admin page script: the send form's live character and segment counter.
//
// The counting rule is firmware/gsm's (README "Encoding choice and the counting rule"): GSM-7
// when every character is in the default or extension table (an extension character counts 2),
// else UCS-2 (a character above U+FFFF counts 2); one part holds 160/70 units, parts of a
// concatenated message 153/67, filled greedily so a character never straddles two parts. The
// tables come from the page (written by the server from gsm::gsm7), the signature is applied
// as the engine applies it. window.outpostPlan is what the browser test compares with the
// server's /send/count.
(function () {
  "use strict";

  function tables(el) {
    return {
      def: new Set(Array.from(el.dataset.gsmDefault || "")),
      ext: new Set(Array.from(el.dataset.gsmExtension || "")),
    };
  }

  function applySignature(text, sig, suffix) {
    if (!sig) return text;
    if (suffix) return text.endsWith(sig) ? text : text + sig;
    return text.startsWith(sig) ? text : sig + text;
  }

  function plan(body, t, maxParts) {
    const chars = Array.from(body);
    const gsm = chars.every(function (c) { return t.def.has(c) || t.ext.has(c); });
    const units = function (c) {
      if (gsm) return t.ext.has(c) ? 2 : 1;
      return c.codePointAt(0) > 0xffff ? 2 : 1;
    };
    let total = 0;
    for (const c of chars) total += units(c);
    const single = gsm ? 160 : 70;
    let parts = 1, per = single, used = total;
    if (total > single) {
      per = gsm ? 153 : 67;
      used = 0;
      for (const c of chars) {
        const u = units(c);
        if (used + u > per) { parts += 1; used = 0; }
        used += u;
      }
    }
    return {
      encoding: gsm ? "gsm7" : "ucs2",
      parts: parts,
      units: total,
      per_part: per,
      left: per - used,
      too_long: parts > maxParts,
    };
  }

  function setup() {
    const text = document.getElementById("text");
    if (!text) return;
    const counter = document.getElementById("counter");
    const preview = document.getElementById("preview");
    const t = tables(text);
    const sig = text.dataset.signature || "";
    const suffix = text.dataset.suffix === "1";
    const maxParts = parseInt(text.dataset.maxParts || "10", 10);
    const d = text.dataset;

    window.outpostPlan = function (raw) {
      return plan(applySignature(raw, sig, suffix), t, maxParts);
    };

    function update() {
      const body = applySignature(text.value, sig, suffix);
      const p = plan(body, t, maxParts);
      counter.textContent = "";
      const enc = document.createElement("b");
      enc.textContent = p.encoding === "gsm7" ? "GSM-7" : "UCS-2";
      enc.className = "enc";
      const line = document.createElement("span");
      line.textContent = " · " + p.units + " " + d.labelChars + " · " + p.parts + " " + d.labelParts +
        " · " + p.left + " " + d.labelLeft;
      counter.appendChild(enc);
      counter.appendChild(line);
      counter.dataset.parts = String(p.parts);
      counter.dataset.encoding = p.encoding;
      counter.dataset.units = String(p.units);
      counter.dataset.left = String(p.left);
      counter.classList.toggle("too-long", p.too_long);
      if (p.too_long) {
        const warn = document.createElement("span");
        warn.className = "bad-text";
        warn.textContent = " · " + d.labelTooLong;
        counter.appendChild(warn);
      }
      if (preview) preview.textContent = body;
    }
    text.addEventListener("input", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
