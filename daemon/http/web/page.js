/*
 * page.js — keeps the server-rendered campaign page live: totals and the
 * chart's last point from the stream (/v1/campaigns/{id}/stream), the
 * comments when it says they changed, and "Show more" without leaving the
 * page; a campaign that closes is rendered anew. A dropped stream is
 * opened again, and its first message brings the page up to date. Text
 * from the API is only ever set with textContent, never parsed as HTML.
 * Without this script the page still works: it is complete HTML and "Show
 * more" is a plain link.
 */
"use strict";
(function () {
	var main = document.getElementById("campaign");
	if (!main || !window.fetch) {
		return;
	}
	/* Styles may tell the enhanced page from the plain one. */
	document.documentElement.classList.add("js");
	/* Percent-encoded by the server: an id may hold a NUL, which HTML cannot. */
	var id = decodeURIComponent(main.getAttribute("data-id"));
	var symbol = main.getAttribute("data-symbol");
	var code = main.getAttribute("data-code");
	var decimals = parseInt(main.getAttribute("data-decimals"), 10) || 0;
	/* Browsers resolve "." and "..", even as %2E, as path steps: those two
	 * ids go in the id parameter, after an empty path segment. */
	var dots = id === "." || id === "..";
	function api(sub, params) {
		var q = dots ? ["id=" + encodeURIComponent(id)] : [];
		if (params) {
			q.push(params);
		}
		return "/v1/campaigns/" + (dots ? "" : encodeURIComponent(id)) + sub +
			(q.length ? "?" + q.join("&") : "");
	}
	function pageUrl(params) {
		return dots ? "/c/?id=" + encodeURIComponent(id) + "&" + params
			: "/c/" + encodeURIComponent(id) + "?" + params;
	}
	var feed = document.getElementById("comments");
	var months = ["January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"];
	var shownComments = parseInt(text("comment-count"), 10) || 0;

	function text(elementId) {
		var e = document.getElementById(elementId);
		return e ? e.textContent : "";
	}

	function setText(elementId, value) {
		var e = document.getElementById(elementId);
		if (e && e.textContent !== value) {
			e.textContent = value;
		}
	}

	/* An integer field of a JSON object, exactly, read from its text:
	 * JSON.parse would round amounts above 2^53 to the nearest double.
	 * Inside strings quotes are escaped, so only the key itself matches. */
	function exactInt(json, key) {
		var m = new RegExp('"' + key + '":(-?[0-9]+)').exec(json);
		return m ? BigInt(m[1]) : null;
	}

	/* Mirrors http_format_money() in daemon/http/http_format.c, in BigInt. */
	function money(minor) {
		var zero = BigInt(0);
		var negative = minor < zero;
		var mag = negative ? -minor : minor;
		var scale = BigInt(10) ** BigInt(decimals);
		var whole = mag / scale;
		var frac = mag % scale;
		var grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
		var out = (symbol ? symbol : code + " ") + grouped;
		if (frac > zero) {
			var f = frac.toString();
			while (f.length < decimals) {
				f = "0" + f;
			}
			out += "." + f;
		}
		return (negative ? "-" : "") + out;
	}

	/* Mirrors http_format_date(): "15th January 2020", in UTC. */
	function day(ms) {
		var d = new Date(ms);
		var n = d.getUTCDate();
		var suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
			: n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th";
		return n + suffix + " " + months[d.getUTCMonth()] + " " + d.getUTCFullYear();
	}

	function commentItem(c) {
		var li = document.createElement("li");
		li.setAttribute("data-id", c.id);
		var article = document.createElement("article");
		var header = document.createElement("header");
		var name = document.createElement("h3");
		name.className = "name";
		name.textContent = c.name === null ? "Anonymous" : c.name;
		var time = document.createElement("time");
		var when = new Date(c.at);
		if (!isNaN(when.getTime())) { /* beyond ±8.64e15 ms a Date is invalid and toISOString throws */
			time.setAttribute("datetime", when.toISOString().replace(/\.\d{3}Z$/, "Z"));
		}
		time.textContent = day(c.at);
		var body = document.createElement("p");
		body.className = "text";
		body.textContent = c.text;
		header.appendChild(name);
		header.appendChild(document.createTextNode(" "));
		header.appendChild(time);
		article.appendChild(header);
		article.appendChild(body);
		li.appendChild(article);
		return li;
	}

	function shownIds() {
		var ids = {};
		var items = feed ? feed.children : [];
		for (var i = 0; i < items.length; i++) {
			ids[items[i].getAttribute("data-id")] = true;
		}
		return ids;
	}

	function getJSON(url) {
		return fetch(url, {headers: {"Accept": "application/json"}}).then(function (r) {
			if (!r.ok) {
				throw new Error(url + ": " + r.status);
			}
			return r.json();
		});
	}

	/* "Show more" after the feed, from the cursor next, or none when null.
	 * A page that showed every comment has none: a redrawn feed may need one. */
	function setMore(next) {
		var more = document.getElementById("more");
		if (next === null) {
			if (more) {
				more.parentNode.parentNode.removeChild(more.parentNode);
			}
			return;
		}
		if (!more) {
			var wrap = document.createElement("p");
			wrap.className = "more-wrap";
			more = document.createElement("a");
			more.id = "more";
			more.className = "more";
			more.textContent = "Show more comments";
			more.addEventListener("click", showMore);
			wrap.appendChild(more);
			feed.parentNode.appendChild(wrap);
		}
		more.setAttribute("data-next", next);
		more.setAttribute("href", pageUrl("before=" + encodeURIComponent(next)));
	}

	/* The first page of comments as it stands replaces the feed down to the
	 * page's oldest comment: new comments take their place, removed and
	 * erased ones go, older ones loaded with "Show more" stay. Unless the
	 * feed shows that comment and what changed adds up to the new count
	 * (summaries come at most every 100 ms, and all at once after a
	 * reconnect: a removal and posts, or more posts than a page, may come
	 * together), the feed starts again from the page. One request at a
	 * time: a summary that comes meanwhile asks again once it is answered,
	 * since the answer may predate that summary. An answer that does not
	 * add up to the count may come from a cache in front (cache_s_maxage)
	 * older than the summary: it is asked for again, 1, 2 and 3 s later,
	 * before the page takes it as it is (more posts than a page, say). */
	var asking = false;
	var askAgain = null;
	/* The log position of the event that last asked: a "comments" event
	 * after a summary of the same position, whose count already asked,
	 * asks nothing more. */
	var askedAt = null;
	var staleTries = 0;
	var staleTimer = null;
	function refreshComments(count) {
		if (!feed) {
			return;
		}
		if (asking) {
			askAgain = count;
			return;
		}
		asking = true;
		clearTimeout(staleTimer);
		getJSON(api("/comments", "limit=20")).then(function (page) {
			var empty = document.getElementById("no-comments");
			if (empty && page.comments.length) {
				empty.parentNode.removeChild(empty);
			}
			var ids = shownIds();
			var oldest = page.comments.length ? page.comments[page.comments.length - 1].id : null;
			var end = -1;
			for (var i = 0; i < feed.children.length; i++) {
				if (feed.children[i].getAttribute("data-id") === oldest) {
					end = i;
				}
			}
			var added = page.comments.filter(function (c) { return !ids[c.id]; }).length;
			var gone = end + 1 - (page.comments.length - added);
			var fits = count - shownComments === added - gone;
			var restart = end < 0 || !fits;
			var addsUp = page.comments.length ? fits && (end >= 0 || !feed.firstElementChild)
							  : count === 0;
			var drop = restart ? feed.children.length : end + 1;
			for (var n = 0; n < drop; n++) {
				feed.removeChild(feed.firstElementChild);
			}
			var first = feed.firstElementChild;
			page.comments.forEach(function (c) { feed.insertBefore(commentItem(c), first); });
			if (first === null) { /* the feed is the first page: more from where it ends */
				setMore(page.next);
			}
			if (addsUp || staleTries === 3) {
				shownComments = count;
				staleTries = 0;
			} else {
				staleTries++;
				staleTimer = setTimeout(function () { refreshComments(count); }, 1000 * staleTries);
			}
		}).catch(function () { /* the next change retries */ }).then(function () {
			asking = false;
			if (askAgain !== null) {
				var latest = askAgain;
				askAgain = null;
				refreshComments(latest);
			}
		});
	}

	/* The chart's last point follows the total; the scale grows if it must.
	 * Doubles place points only: amounts shown are formatted from BigInt. */
	var chart = document.getElementById("chart");
	function updateChart(raised) {
		if (!chart) {
			return;
		}
		var values = chart.getAttribute("data-values").split(" ").map(function (v) { return BigInt(v); });
		values[values.length - 1] = raised;
		chart.setAttribute("data-values", values.join(" "));
		var target = BigInt(chart.getAttribute("data-target"));
		var top = values.reduce(function (a, v) { return v > a ? v : a; }, target);
		var box = chart.viewBox.baseVal;
		var margin = 4;
		var height = box.height - 2 * margin;
		function y(v) {
			return top > BigInt(0) && v > BigInt(0)
				? (height + margin - Number(v) * height / Number(top)).toFixed(1)
				: String(height + margin);
		}
		var points = values.map(function (v, i) {
			return (i * box.width / (values.length - 1)).toFixed(1) + "," + y(v);
		});
		document.getElementById("chart-line").setAttribute("points", points.join(" "));
		document.getElementById("chart-area").setAttribute("points",
			"0," + (height + margin) + " " + points.join(" ") + " " + box.width + "," + (height + margin));
		var line = chart.querySelector(".chart-target");
		if (line) {
			line.setAttribute("y1", y(target));
			line.setAttribute("y2", y(target));
		}
		setText("chart-raised", money(raised));
	}

	/* The state the heading says, as the server judges it (http_page.c). */
	function pageState(s, raised, target) {
		if (s.status === "open") {
			return "raising";
		}
		var reached = target === null || target <= BigInt(0) || raised >= target;
		return raised > BigInt(0) && reached ? "succeeded" : "closed";
	}

	/* A campaign that closed, or a closed one that a refund took below its
	 * target, changes the page's words, not just its figures: the server
	 * renders it anew. At most once in 10 s, should an instance behind the
	 * stream disagree with the one behind the page. */
	function reloadOnChange(state) {
		if (state === main.getAttribute("data-state")) {
			return false;
		}
		var key = "pledged-reload:" + id;
		try { /* storage may be switched off: then the page just stays */
			if (Date.now() - (parseInt(sessionStorage.getItem(key), 10) || 0) < 10000) {
				return false;
			}
			sessionStorage.setItem(key, String(Date.now()));
		} catch (e) {
			return false;
		}
		window.location.reload();
		return true;
	}

	function update(s, json, resync, seq) {
		var raised = exactInt(json, "raised");
		var target = exactInt(json, "target");
		if (reloadOnChange(pageState(s, raised, target))) {
			return;
		}
		setText("raised", money(raised));
		setText("supporters", String(s.supporters));
		setText("supporters-word", s.supporters === 1 ? "supporter" : "supporters");
		setText("days", String(s.days));
		setText("days-word", s.days === 1 ? "day" : "days");
		setText("comment-count", String(s.comments));
		var progress = document.getElementById("progress");
		if (progress && target !== null && target > BigInt(0)) {
			/* As the server draws it: a little raised is never an empty bar. */
			var shown = raised < target ? raised : target;
			if (raised > BigInt(0) && shown < target / BigInt(50)) {
				shown = target / BigInt(50);
			}
			progress.value = Number(shown);
			var percent = raised * BigInt(100) / target;
			setText("percent", percent === BigInt(0) && raised > BigInt(0) ? "<1" : percent.toString());
		}
		updateChart(raised);
		if (resync || asking || s.comments !== shownComments) {
			askedAt = seq;
			refreshComments(s.comments);
		}
	}

	/* "Show more" appends the next page in place. */
	function showMore(event) {
		var more = event.currentTarget;
		event.preventDefault();
		var next = more.getAttribute("data-next");
		more.setAttribute("aria-busy", "true");
		getJSON(api("/comments", "limit=20&before=" + encodeURIComponent(next))).then(function (page) {
			more.removeAttribute("aria-busy");
			/* The feed started again from the newest meanwhile: this page
			 * continued the old one, and would leave a gap after the new. */
			if (!more.isConnected || more.getAttribute("data-next") !== next) {
				return;
			}
			var ids = shownIds();
			page.comments.forEach(function (c) {
				if (!ids[c.id]) {
					feed.appendChild(commentItem(c));
				}
			});
			setMore(page.next);
		}).catch(function () {
			/* Fall back to the plain link. */
			window.location.href = more.getAttribute("href");
		});
	}
	var more = document.getElementById("more");
	if (more) {
		more.addEventListener("click", showMore);
	}

	/* EventSource reconnects by itself after a network error, sending
	 * Last-Event-ID; after an HTTP error (a 503 when the server is busy) it
	 * gives up, so the page opens a new one, waiting longer each time. */
	var retryMs = 1000;
	/* While the page was cut off, as many comments may have gone as came:
	 * the count is the same, so the first summary after a reconnect
	 * refreshes the comments whatever it says. */
	var opened = false;
	var resync = false;
	/* The log position the page was rendered at: a first summary from a
	 * later one may follow a comment removed and another posted before the
	 * stream opened, which its count does not show: it refreshes them. */
	var renderedSeq = main.getAttribute("data-seq");
	/* In a consumer group a rebalance may give the campaign to another
	 * instance, which this one names with a 307. A stream may not follow it
	 * (another origin: the page's connect-src, and CORS), so it would retry
	 * here for ever, its figures standing still; the page may: it is loaded
	 * again, and the browser follows the 307 to the page at the owner. */
	function followIfMoved() {
		fetch(api("/stream"), {method: "HEAD", redirect: "manual"}).then(function (r) {
			if (r.type === "opaqueredirect") {
				window.location.reload();
			}
		}).catch(function () {});
	}
	function listen() {
		var stream = new EventSource(api("/stream"));
		stream.addEventListener("summary", function (event) {
			retryMs = 1000;
			var moved = renderedSeq !== null && event.lastEventId !== renderedSeq;
			update(JSON.parse(event.data), event.data, resync || moved, event.lastEventId);
			resync = false;
			renderedSeq = null;
		});
		/* The feed changed where its count may not show it: a comment
		 * removed and another posted, a name erased. */
		stream.addEventListener("comments", function (event) {
			if (event.lastEventId !== askedAt) {
				askedAt = event.lastEventId;
				refreshComments(JSON.parse(event.data).comments);
			}
		});
		stream.addEventListener("open", function () {
			resync = opened;
			opened = true;
			main.setAttribute("data-live", "true");
		});
		/* The server lost Kafka: its figures stop moving until "fresh". */
		stream.addEventListener("stale", function (event) {
			var since = new Date(JSON.parse(event.data).since);
			var note = document.getElementById("stale");
			if (note) {
				note.textContent = "Updates paused since " +
					since.toLocaleString([], { dateStyle: "long", timeStyle: "short" }) +
					": these figures may be behind.";
				note.hidden = false;
			}
			main.setAttribute("data-live", "stale");
		});
		stream.addEventListener("fresh", function () {
			var note = document.getElementById("stale");
			if (note) {
				note.hidden = true;
			}
			main.setAttribute("data-live", "true");
		});
		stream.addEventListener("error", function () {
			main.setAttribute("data-live", "false");
			followIfMoved();
			if (stream.readyState === EventSource.CLOSED) {
				setTimeout(listen, retryMs);
				retryMs = Math.min(retryMs * 2, 30000);
			}
		});
	}
	if (window.EventSource && typeof BigInt === "function") {
		listen();
	}
})();
