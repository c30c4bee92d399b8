// Markdown to safe HTML for assistant replies: `marked` parses, DOMPurify removes anything a
// model (or a prompt injection) could use to run script. Without the libraries (a build
// without `npm ci`) replies are shown as escaped plain text.
"use strict";

(function () {
  const haveLibraries = typeof window.marked === "object" && typeof window.DOMPurify === "function";

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // A fence still being streamed ("```js\nconst x" without the closing fence) is closed
  // for display, so partial code shows as code rather than jumping between layouts.
  function closeOpenFence(text) {
    const fences = text.match(/^\s{0,3}(```|~~~)/gm);
    return fences && fences.length % 2 === 1 ? text + "\n```" : text;
  }

  function render(text) {
    if (!haveLibraries) return `<p class="plain">${escapeHtml(text)}</p>`;
    const html = window.marked.parse(closeOpenFence(text), { gfm: true, breaks: true, async: false });
    // No images: a reply must not make the page fetch anything (tracking pixels, offline use).
    return window.DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ["img", "style"] });
  }

  window.stMarkdown = { render, haveLibraries, escapeHtml };
})();
