// MathJax 3 configuration, read by assets/mathjax/tex-svg-full.js (a local copy, never a CDN).
// Only two kinds of element hold maths, so only they are typeset:
// - Markdown pages: pymdownx.arithmatex wraps maths in <span class="arithmatex">\( ... \)</span>;
// - lesson pages: nbconvert leaves $...$ and $$...$$ in the markdown cells (.jp-MarkdownOutput).
// Code and cell outputs are never scanned, so a "$" printed by a cell stays a dollar sign.
window.MathJax = {
  startup: {
    elements: [".arithmatex", ".jp-MarkdownOutput"],
  },
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    enableMenu: false,  // the menu would lazy-load accessibility modules
  },
  svg: { fontCache: "global" },
};
