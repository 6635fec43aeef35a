// A table too wide for the screen scrolls sideways inside its .scroll
// box. Such a box must be reachable by keyboard (WCAG 2.1.1; axe-core's
// scrollable-region-focusable), so while it scrolls it is a named region
// in the tab order, and it leaves the tab order again when it fits (a
// wide window). Checked at load, on resize, and after each live update.
(function () {
  'use strict';
  function mark() {
    document.querySelectorAll('.scroll').forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute('tabindex')) {
          var cap = box.querySelector('caption');
          box.setAttribute('tabindex', '0');
          box.setAttribute('role', 'region');
          box.setAttribute('aria-label', ((cap && cap.textContent.trim()) || 'Table') + ' (scrolls sideways)');
        }
      } else if (box.getAttribute('tabindex') === '0') {
        box.removeAttribute('tabindex');
        box.removeAttribute('role');
        box.removeAttribute('aria-label');
      }
    });
  }
  var pending = false;
  function soon() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; mark(); });
  }
  function start() {
    mark();
    window.addEventListener('resize', soon);
    var live = document.getElementById('live');
    if (live && window.MutationObserver) {
      new MutationObserver(soon).observe(live, { childList: true });
    }
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
