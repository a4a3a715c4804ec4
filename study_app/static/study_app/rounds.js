// The rounds page client (protocol: study_app/live.py docstring). Opaque data only: URLs and slot numbers.
(function () {
  'use strict';
  var phase = js_vars.phase;
  var board = document.getElementById('study-board');
  var targetImg = document.getElementById('study-target-img');
  var grid = document.getElementById('study-grid');
  var progress = document.getElementById('study-progress');
  var feedback = document.getElementById('study-feedback');
  var statusLine = document.getElementById('study-status');
  var current = null;        // the round message being shown
  var shownAt = null;        // performance.now() when all its images were decoded and visible
  var pending = null;        // the answer sent and not yet acknowledged
  var resendTimer = null;
  var waitingFeedback = false;
  var preloaded = [];        // keep references so the browser keeps the decoded images
  var finished = false;

  function request() { liveSend({type: 'state'}); }

  function decoded(img) {
    if (img.decode) {
      return img.decode().catch(function () { return loaded(img); });
    }
    return loaded(img);
  }
  function loaded(img) {
    return new Promise(function (resolve) {
      if (img.complete && img.naturalWidth) { resolve(); return; }
      img.addEventListener('load', function () { resolve(); }, {once: true});
      img.addEventListener('error', function () { resolve(); }, {once: true});
    });
  }

  function buildGrid(n) {
    if (grid.children.length === n) return;
    grid.innerHTML = '';
    for (var i = 1; i <= n; i++) {
      var b = document.createElement('button');
      b.type = 'button';
      b.dataset.slot = String(i);
      var img = document.createElement('img');
      img.alt = 'option ' + i;
      var key = document.createElement('span');
      key.className = 'key';
      key.textContent = String(i);
      b.appendChild(img);
      b.appendChild(key);
      b.addEventListener('click', onClick);
      grid.appendChild(b);
    }
  }

  function show(msg) {
    if (msg.type === 'done') { finish(); return; }
    if (msg.type !== 'round') return;
    if (current && current.token === msg.token) return;   // already showing this round
    current = msg;
    shownAt = null;
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    board.classList.add('loading');
    board.style.setProperty('--rows', String(msg.rows));
    progress.textContent = 'Round ' + msg.round + ' of ' + msg.of;
    feedback.innerHTML = '';
    buildGrid(msg.images.length);
    targetImg.src = msg.target;
    var imgs = [targetImg];
    Array.prototype.forEach.call(grid.children, function (b, i) {
      b.className = '';
      var img = b.querySelector('img');
      img.src = msg.images[i];
      imgs.push(img);
    });
    var token = msg.token;
    Promise.all(imgs.map(decoded)).then(function () {
      if (!current || current.token !== token) return;
      board.classList.remove('loading');
      requestAnimationFrame(function () {
        if (current && current.token === token) shownAt = performance.now();
      });
    });
    preloaded = (msg.preload || []).map(function (url) {
      var im = new Image();
      im.src = url;
      if (im.decode) im.decode().catch(function () {});
      return im;
    });
  }

  function choose(slot) {
    if (!current || shownAt === null || pending || waitingFeedback || finished) return;
    if (slot < 1 || slot > current.images.length) return;
    var ms = Math.round((performance.now() - shownAt) * 10) / 10;
    pending = {type: 'answer', round: current.round, token: current.token, choice: slot, response_ms: ms};
    grid.children[slot - 1].classList.add('chosen');
    send();
  }

  function send() {
    if (!pending) return;
    liveSend(pending);
    clearTimeout(resendTimer);
    resendTimer = setTimeout(send, 4000);   // no ack yet: resend (the server ignores duplicates)
  }

  function onClick(e) { choose(parseInt(e.currentTarget.dataset.slot, 10)); }

  document.addEventListener('keydown', function (e) {
    if (waitingFeedback && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); continueAfterFeedback(); return; }
    if (/^[1-9]$/.test(e.key)) choose(parseInt(e.key, 10));
  });

  var nextState = null;
  function continueAfterFeedback() {
    waitingFeedback = false;
    var s = nextState;
    nextState = null;
    if (s) show(s);
  }

  function showFeedback(fb, state) {
    waitingFeedback = true;
    nextState = state;
    fb.correct_slots.forEach(function (s) { grid.children[s - 1].classList.add('right'); });
    if (!fb.correct) grid.querySelector('button.chosen') && grid.querySelector('button.chosen').classList.add('wrong');
    feedback.innerHTML = '';
    var text = document.createElement('span');
    text.textContent = fb.correct ? 'Correct! ' : 'Not this time: the green images come from the same source as the target. ';
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'btn btn-primary btn-sm';
    btn.id = 'study-next';
    btn.textContent = 'Next';
    btn.addEventListener('click', continueAfterFeedback);
    feedback.appendChild(text);
    feedback.appendChild(btn);
  }

  function finish() {
    if (finished) return;
    finished = true;
    progress.textContent = 'Saving...';
    document.getElementById('form').submit();
  }

  function pause(text) {
    // nothing more will come: say so in the page instead of spinning on "Loading..."
    finished = true;
    clearTimeout(resendTimer);
    pending = null;
    board.classList.add('loading');
    progress.textContent = '';
    feedback.innerHTML = '';
    statusLine.textContent = text;
  }

  // oTree's live.js drops replies with otree_success: false (a server error) silently: say so in the page (the
  // unacknowledged answer keeps being resent by send()'s timer, and the page asks for the state again).
  liveSocket.addEventListener('message', function (e) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    if (!data || data.otree_success !== false || finished) return;
    statusLine.textContent = 'The server could not process the last request; retrying... Your answers so far ' +
      'are saved. If this message stays, please contact the researcher.';
    setTimeout(request, 3000);
  });

  window.liveRecv = function (msg) {
    if (!msg) { statusLine.textContent = 'Server error; retrying...'; setTimeout(request, 2000); return; }
    if (msg.type === 'paused') { pause(msg.message); return; }
    if (msg.type === 'ack' || msg.type === 'error') {
      if (msg.type === 'error') console.warn('study: answer rejected:', msg.code, msg.message);
      if (pending && (msg.type === 'error' || msg.round === pending.round)) {
        pending = null;
        clearTimeout(resendTimer);
      }
      if (msg.feedback && !msg.duplicate) { showFeedback(msg.feedback, msg.state); return; }
      if (msg.state) show(msg.state);
      return;
    }
    statusLine.textContent = '';
    show(msg);
  };

  // (Re)connected: ask where we are, and resend an unacknowledged answer.
  liveSocket.addEventListener('open', function () {
    if (finished) return;
    statusLine.textContent = '';
    request();
    send();
  });
  liveSocket.addEventListener('close', function () {
    if (!finished) statusLine.textContent = 'Connection lost; reconnecting...';
  });
  request();
})();
