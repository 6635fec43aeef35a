// Live updates for the pathway operations dashboard. The server renders
// every page; this script only swaps in the live part of the page when the
// server sends a new rendering over server-sent events. The browser
// reconnects a dropped stream by itself and sends the id of the last
// rendering it got (Last-Event-ID), from which the server catches up.
(function () {
  'use strict';
  var live = document.getElementById('live');
  var status = document.getElementById('live-status');
  if (!live || !status) return;
  if (!window.EventSource) {
    status.textContent = 'This browser cannot show live updates; reload the page to refresh it.';
    return;
  }
  var last = live.getAttribute('data-seq') || '0';
  var view = live.getAttribute('data-view') || (location.pathname + location.search);
  var source = null;

  function setStatus(state, text) {
    if (status.getAttribute('data-state') === state) return;
    status.setAttribute('data-state', state);
    status.textContent = text;
  }

  function connect() {
    source = new EventSource('/live?view=' + encodeURIComponent(view) + '&since=' + encodeURIComponent(last));
    source.addEventListener('open', function () {
      setStatus('live', 'Live: this page updates by itself.');
    });
    source.addEventListener('update', function (e) {
      if (e.lastEventId) last = e.lastEventId;
      // Keep what the user was doing across the swap: keyboard focus (on
      // an element with an id, or a link by its address) and open
      // disclosures.
      var active = document.activeElement;
      var refocus = '';
      if (active && live.contains(active)) {
        if (active.id) refocus = '#' + CSS.escape(active.id);
        else if (active.tagName === 'A') refocus = 'a[href="' + CSS.escape(active.getAttribute('href')) + '"]';
        else if (active.tagName === 'SUMMARY' && active.parentElement.id) refocus = '#' + CSS.escape(active.parentElement.id) + ' > summary';
      }
      var open = [];
      live.querySelectorAll('details[open][id]').forEach(function (d) { open.push(d.id); });
      live.innerHTML = e.data;
      live.setAttribute('data-seq', last);
      open.forEach(function (id) {
        var d = document.getElementById(id);
        if (d) d.open = true;
      });
      if (refocus) {
        var again = live.querySelector(refocus);
        if (again) again.focus();
      }
    });
    source.addEventListener('signout', function () {
      source.close();
      location.assign('/signin?next=' + encodeURIComponent(location.pathname + location.search));
    });
    source.addEventListener('error', function () {
      setStatus('lost', 'Connection lost: reconnecting…');
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (restarting, say): try again,
        // from the last rendering this page has.
        setTimeout(connect, 2000);
      }
    });
  }
  connect();
})();
