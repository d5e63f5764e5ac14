/* One keep-alive HTTP/1.1 client on a unix socket, for bench/api.py.
 *
 * Why C: the benchmark compares a Python service with a Go one at up to four
 * concurrent clients on a small machine, so the client has to cost next to
 * nothing per request, and the same for both services.  bench/api.py starts
 * one of these processes per concurrent client.
 *
 * usage: apiload SOCKET PATH WARMUP_SECONDS DURATION_SECONDS
 *
 * It sends `GET PATH` on one connection, waits for the whole response
 * (Content-Length or chunked body), and repeats: WARMUP_SECONDS unrecorded,
 * then DURATION_SECONDS recorded.  On stdout: one line
 * "requests errors reconnects body_bytes", then the latency of each recorded
 * request in nanoseconds, one a line.  A response other than 200 counts as an
 * error; a connection the server closes is reopened and counted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char *buf;
static size_t cap, len, pos; /* buffered bytes are buf[pos..len) */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int connect_unix(const char *path) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "apiload: socket path too long\n");
        exit(2);
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    len = pos = 0;
    return fd;
}

/* Read more bytes into the buffer; 0 when the peer closed the connection. */
static int fill(int fd) {
    if (len == cap) {
        cap = cap ? cap * 2 : 65536;
        buf = realloc(buf, cap);
        if (!buf)
            die("realloc");
    }
    ssize_t n;
    do
        n = read(fd, buf + len, cap - len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        die("read");
    len += (size_t)n;
    return n > 0;
}

/* Index just past the next "\r\n" at or after `from`, filling as needed; 0 on EOF. */
static size_t line_end(int fd, size_t from) {
    for (;;) {
        char *hit = len > from ? memmem(buf + from, len - from, "\r\n", 2) : NULL;
        if (hit)
            return (size_t)(hit - buf) + 2;
        if (!fill(fd))
            return 0;
    }
}

static int have(int fd, size_t until) {
    while (len < until)
        if (!fill(fd))
            return 0;
    return 1;
}

/* One response: its status, or -1 if the connection closed first. */
static int read_response(int fd, size_t *body_bytes) {
    if (pos > 0) { /* what is left of the last read starts the buffer */
        memmove(buf, buf + pos, len - pos);
        len -= pos;
        pos = 0;
    }
    size_t start = 0, end;
    for (;;) { /* the header block ends with an empty line */
        char *hit = len > start ? memmem(buf + start, len - start, "\r\n\r\n", 4) : NULL;
        if (hit) {
            end = (size_t)(hit - buf) + 4;
            break;
        }
        if (!fill(fd))
            return -1;
    }
    int status = atoi(buf + start + 9); /* "HTTP/1.1 200 OK" */
    long content_length = -1;
    int chunked = 0;
    for (size_t at = start; at < end;) {
        char *eol = memmem(buf + at, end - at, "\r\n", 2);
        size_t next = (size_t)(eol - buf) + 2;
        if (!strncasecmp(buf + at, "content-length:", 15))
            content_length = atol(buf + at + 15);
        else if (!strncasecmp(buf + at, "transfer-encoding:", 18) && memmem(buf + at, next - at, "chunked", 7))
            chunked = 1;
        at = next;
    }
    *body_bytes = 0;
    if (chunked) {
        size_t at = end;
        for (;;) {
            size_t after = line_end(fd, at);
            if (!after)
                return -1;
            size_t size = strtoul(buf + at, NULL, 16);
            if (size == 0) { /* last chunk, no trailers expected: one more CRLF */
                size_t done = line_end(fd, after);
                if (!done)
                    return -1;
                pos = done;
                return status;
            }
            if (!have(fd, after + size + 2))
                return -1;
            *body_bytes += size;
            at = after + size + 2;
        }
    }
    if (content_length < 0)
        content_length = 0; /* no body framing: only bodiless answers are expected */
    if (!have(fd, end + (size_t)content_length))
        return -1;
    *body_bytes = (size_t)content_length;
    pos = end + (size_t)content_length;
    return status;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: apiload SOCKET PATH WARMUP_SECONDS DURATION_SECONDS\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed connection is seen as a failed write */
    const char *socket_path = argv[1];
    char request[4096];
    int request_len = snprintf(request, sizeof request,
                               "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: husk-bench\r\n\r\n", argv[2]);
    if (request_len <= 0 || (size_t)request_len >= sizeof request) {
        fprintf(stderr, "apiload: path too long\n");
        return 2;
    }
    uint64_t started = now_ns();
    uint64_t measure_from = started + (uint64_t)(atof(argv[3]) * 1e9);
    uint64_t measure_until = measure_from + (uint64_t)(atof(argv[4]) * 1e9);
    size_t count = 0, samples_cap = 1 << 16;
    uint64_t *samples = malloc(samples_cap * sizeof *samples);
    unsigned long errors = 0, reconnects = 0;
    size_t body_bytes = 0;
    int fd = connect_unix(socket_path);
    for (;;) {
        uint64_t t0 = now_ns();
        if (t0 >= measure_until)
            break;
        ssize_t sent = write(fd, request, (size_t)request_len);
        int status = sent == request_len ? read_response(fd, &body_bytes) : -1;
        uint64_t t1 = now_ns();
        if (status < 0) { /* closed by the server: count it, reconnect */
            close(fd);
            fd = connect_unix(socket_path);
            reconnects++;
            continue;
        }
        if (t0 < measure_from)
            continue;
        if (status != 200) {
            errors++;
            continue;
        }
        if (count == samples_cap) {
            samples_cap *= 2;
            samples = realloc(samples, samples_cap * sizeof *samples);
            if (!samples)
                die("realloc");
        }
        samples[count++] = t1 - t0;
    }
    close(fd);
    printf("%zu %lu %lu %zu\n", count, errors, reconnects, body_bytes);
    for (size_t i = 0; i < count; i++)
        printf("%llu\n", (unsigned long long)samples[i]);
    return 0;
}
