/*
 * http_client.h — the tests' plain HTTP client: one GET on a fresh
 * connection to 127.0.0.1, read until the server closes it.
 */
#ifndef HTTP_CLIENT_H
#define HTTP_CLIENT_H

#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline int64_t http_client_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * GET path from port within timeout_ms: the status (-1 when there was no
 * answer), with the body, NUL-terminated, in buf.
 */
static inline int http_client_get(int port, const char *path, char *buf, size_t size,
				  int timeout_ms)
{
	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
			 path);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	buf[0] = '\0';
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) ||
	    write(fd, req, (size_t)n) != n) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t len = 0;
	int64_t deadline = http_client_now_ms() + timeout_ms;
	while (len + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - http_client_now_ms());
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		ssize_t r = read(fd, buf + len, size - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	int status = 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || !body)
		return -1;
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return status;
}

#endif
