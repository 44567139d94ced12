/*
 * page.js — keeps the server-rendered campaign page live: totals from the
 * stream (/v1/campaigns/{id}/stream), new comments when the count changes,
 * and "Show more" without leaving the page. Text from the API is only ever
 * set with textContent, never parsed as HTML. Without this script the page
 * still works: it is complete HTML and "Show more" is a plain link.
 */
"use strict";
(function () {
	var main = document.getElementById("campaign");
	if (!main || !window.fetch) {
		return;
	}
	/* Styles may tell the enhanced page from the plain one. */
	document.documentElement.classList.add("js");
	var id = main.getAttribute("data-id");
	var symbol = main.getAttribute("data-symbol");
	var code = main.getAttribute("data-code");
	var decimals = parseInt(main.getAttribute("data-decimals"), 10) || 0;
	var api = "/v1/campaigns/" + encodeURIComponent(id);
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

	/* Mirrors http_format_money() in daemon/http_format.c. */
	function money(minor) {
		var negative = minor < 0;
		var mag = Math.abs(minor);
		var scale = Math.pow(10, decimals);
		var whole = Math.floor(mag / scale);
		var frac = mag - whole * scale;
		var grouped = String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
		var out = (symbol ? symbol : code + " ") + grouped;
		if (frac > 0) {
			var f = String(frac);
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
		time.setAttribute("datetime", new Date(c.at).toISOString().replace(/\.\d{3}Z$/, "Z"));
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

	function setMore(next) {
		var more = document.getElementById("more");
		if (!more) {
			return;
		}
		if (next === null) {
			more.parentNode.removeChild(more);
			return;
		}
		more.setAttribute("data-next", next);
		more.setAttribute("href", "/c/" + encodeURIComponent(id) + "?before=" + encodeURIComponent(next));
	}

	/* New comments go on top; after a removal the first page is redrawn. */
	function refreshComments(count) {
		if (!feed) {
			return;
		}
		getJSON(api + "/comments?limit=20").then(function (page) {
			var empty = document.getElementById("no-comments");
			if (empty && page.comments.length) {
				empty.parentNode.removeChild(empty);
			}
			if (count < shownComments) {
				while (feed.firstChild) {
					feed.removeChild(feed.firstChild);
				}
				page.comments.forEach(function (c) { feed.appendChild(commentItem(c)); });
				setMore(page.next);
			} else {
				var ids = shownIds();
				var first = feed.firstChild;
				page.comments.forEach(function (c) {
					if (!ids[c.id]) {
						feed.insertBefore(commentItem(c), first);
					}
				});
			}
			shownComments = count;
		}).catch(function () { /* the next change retries */ });
	}

	function update(s) {
		setText("raised", money(s.raised));
		setText("supporters", String(s.supporters));
		setText("supporters-word", s.supporters === 1 ? "supporter" : "supporters");
		setText("days", String(s.days));
		setText("days-word", s.days === 1 ? "day" : "days");
		setText("comment-count", String(s.comments));
		var progress = document.getElementById("progress");
		if (progress && s.target) {
			progress.value = Math.min(s.raised, s.target);
			setText("percent", String(Math.floor(s.raised * 100 / s.target)));
		}
		if (s.comments !== shownComments) {
			refreshComments(s.comments);
		}
	}

	var more = document.getElementById("more");
	if (more) {
		more.addEventListener("click", function (event) {
			event.preventDefault();
			var next = more.getAttribute("data-next");
			more.setAttribute("aria-busy", "true");
			getJSON(api + "/comments?limit=20&before=" + encodeURIComponent(next)).then(function (page) {
				var ids = shownIds();
				page.comments.forEach(function (c) {
					if (!ids[c.id]) {
						feed.appendChild(commentItem(c));
					}
				});
				more.removeAttribute("aria-busy");
				setMore(page.next);
			}).catch(function () {
				/* Fall back to the plain link. */
				window.location.href = more.getAttribute("href");
			});
		});
	}

	if (window.EventSource) {
		var stream = new EventSource(api + "/stream");
		stream.addEventListener("summary", function (event) {
			update(JSON.parse(event.data));
		});
		stream.addEventListener("open", function () {
			main.setAttribute("data-live", "true");
		});
	}
})();
