// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence serve [--listen ADDR:PORT] [--policy-dir DIR] [--tls-cert F --tls-key F]
 *                [--token-file F] [--max-connections N] [--max-client-connections N]
 *                [--request-timeout S]
 *
 * Prometheus /metrics (SPEC §7), read from the kernel at scrape time, and,
 * with --policy-dir, `apply --prune DIR` at start and after every change of
 * DIR (inotify, debounced), including the Kubernetes ConfigMap volume layout:
 * DIR/x.json -> ..data/x.json, ..data -> ..2024_01_01_00_00_00.1234; an
 * update writes a new timestamped directory, points ..data_tmp at it and
 * renames ..data_tmp to ..data (IN_MOVED_TO "..data" in DIR).
 *
 * Also, in the node's network namespace (the one serve runs in):
 * - the node's addresses followed live (SPEC §3.8): every rtnetlink address
 *   event re-syncs the ipcache's NF_ID_HOST entries (dp__sync_host_addrs);
 * - interfaces that appear in a fenced workload's namespace without being
 *   attached are fenced default-deny (SPEC §3.11, unfenced.c).
 *
 * Threads: libmicrohttpd's internal polling thread answers scrapes (one at a
 * time, non-blocking I/O for all connections); the guard thread enforces the
 * request deadline; the main thread waits for signals (signalfd), inotify,
 * netlink events and runs the unfenced-interface watcher.
 *
 * Connection hardening (no client can hold the slots):
 * - per client address at most --max-client-connections (libmicrohttpd's
 *   per-IP limit: the extra connection is closed at accept);
 * - every connection must complete a request within --request-timeout of
 *   its start or of its previous request, else the guard shuts its socket
 *   down: a client that trickles a header a byte at a time (slowloris), a
 *   stalled TLS handshake, a reader that never drains the response.
 *   libmicrohttpd's own timeout only measures inactivity, which a trickle
 *   resets;
 * - over --max-connections, the connection that has waited longest for a
 *   request is shut down to admit the new one, so a scrape gets in even while
 *   clients from many addresses hold connections open.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include "apply.h"
#include "cmd.h"
#include "datapath.h"
#include "log.h"
#include "metrics.h"
#include "unfenced.h"
#include "promote.h"

#define NF_SERVE_DEFAULT_LISTEN "127.0.0.1:9471"
#define NF_SERVE_CONN_LIMIT	64 /* --max-connections */
#define NF_SERVE_PER_IP_LIMIT	8  /* --max-client-connections */
#define NF_SERVE_CONN_TIMEOUT	10 /* seconds, --request-timeout */
/* libmicrohttpd's hard cap above ours: room for the connections the guard
 * has shut down and libmicrohttpd has not reaped yet. */
#define NF_SERVE_CONN_SLACK	16
#define NF_GUARD_TICK_MS	100
#define NF_FILE_MAX		(1 << 20) /* certificate, key */
#define NF_TOKEN_MAX		4096
#define NF_DEBOUNCE_MS		200
#define NF_CONTENT_TYPE		"text/plain; version=0.0.4; charset=utf-8"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

/*
 * libmicrohttpd is opened by `serve` alone: it brings GnuTLS and a dozen
 * more shared libraries whose loading added ~3.5 ms to every other netfence
 * command (a policy replace took ~9.5 ms, this was a third of it).
 */
#define NF_MHD_SONAME "libmicrohttpd.so.12"
static struct {
	typeof(&MHD_start_daemon) start_daemon;
	typeof(&MHD_stop_daemon) stop_daemon;
	typeof(&MHD_create_response_from_buffer) create_response_from_buffer;
	typeof(&MHD_add_response_header) add_response_header;
	typeof(&MHD_queue_response) queue_response;
	typeof(&MHD_destroy_response) destroy_response;
	typeof(&MHD_lookup_connection_value) lookup_connection_value;
	typeof(&MHD_get_connection_info) get_connection_info;
	typeof(&MHD_is_feature_supported) is_feature_supported;
} mhd;

static int mhd_open(void)
{
	void *h = dlopen(NF_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		pr_err("serve needs %s: %s", NF_MHD_SONAME, dlerror());
		return -1;
	}
#define NF_MHD_SYM(f)                                                                     \
	do {                                                                               \
		*(void **)&mhd.f = dlsym(h, "MHD_" #f);                                     \
		if (!mhd.f) {                                                              \
			pr_err("serve: %s has no MHD_" #f, NF_MHD_SONAME);                 \
			return -1;                                                         \
		}                                                                          \
	} while (0)
	NF_MHD_SYM(start_daemon);
	NF_MHD_SYM(stop_daemon);
	NF_MHD_SYM(create_response_from_buffer);
	NF_MHD_SYM(add_response_header);
	NF_MHD_SYM(queue_response);
	NF_MHD_SYM(destroy_response);
	NF_MHD_SYM(lookup_connection_value);
	NF_MHD_SYM(get_connection_info);
	NF_MHD_SYM(is_feature_supported);
#undef NF_MHD_SYM
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: netfence serve [--listen ADDR:PORT] [--policy-dir DIR]\n"
		"                      [--tls-cert FILE --tls-key FILE] [--token-file FILE]\n"
		"                      [--max-connections N] [--max-client-connections N]\n"
		"                      [--request-timeout SECONDS]\n"
		"\n"
		"Serve Prometheus metrics at http://ADDR:PORT/metrics (GET or HEAD; other paths\n"
		"404, other methods 405). Default " NF_SERVE_DEFAULT_LISTEN " (loopback only).\n"
		"ADDR is an IPv4 address or a bracketed IPv6 address ([::1]:9471); an empty\n"
		"ADDR (:9471) listens on every IPv4 address.\n"
		"\n"
		"  --listen ADDR:PORT   address to listen on\n"
		"  --policy-dir DIR     apply --prune DIR now and whenever a *.json file in it\n"
		"                       changes (Kubernetes ConfigMap volumes supported); an\n"
		"                       invalid change is logged and counted, the last good\n"
		"                       policy stays in force\n"
		"  --tls-cert FILE      serve HTTPS with this PEM certificate (chain) ...\n"
		"  --tls-key FILE       ... and this PEM private key (unencrypted); both or neither\n"
		"  --token-file FILE    require \"Authorization: Bearer TOKEN\" on every request\n"
		"                       (else 401 with WWW-Authenticate: Bearer); TOKEN is the\n"
		"                       file's content without its trailing newline, read once\n"
		"                       at start\n"
		"  --max-connections N  connections at once (default %d); beyond it the one\n"
		"                       that has waited longest for a request is closed\n"
		"  --max-client-connections N\n"
		"                       connections at once from one client address (default %d)\n"
		"  --request-timeout SECONDS\n"
		"                       a connection must complete a request within this time of\n"
		"                       opening or of its previous request, else it is closed\n"
		"                       (default %d)\n"
		"  -v, --verbose        debug logging\n"
		"  -h, --help           this help\n"
		"\n"
		"While it runs, serve also follows the node's addresses (rtnetlink) in its network\n"
		"namespace, trusted for ingress when NETFENCE_ALLOW_HOST_INGRESS is on, and fences\n"
		"default-deny any interface that appears, unattached, in the network namespace of a\n"
		"fenced workload (counted in netfence_unfenced_interfaces_total).\n"
		"\n"
		"Bad options or unreadable/invalid TLS or token files: exit 2.\n"
		"SIGHUP re-applies DIR. Runs until SIGTERM or SIGINT; exit 0 on a clean stop.\n",
		NF_SERVE_CONN_LIMIT, NF_SERVE_PER_IP_LIMIT, NF_SERVE_CONN_TIMEOUT);
}

/* "1.2.3.4:80", "[::1]:80", ":80". 0 or -EINVAL. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs, *he;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hs = s;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, he - hs);
	host[he - hs] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || !colon[1] || *end || port == 0 || port > 65535)
		return -EINVAL;

	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		*v6 = true;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (host[0] && inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		if (!host[0])
			a->sin_addr.s_addr = htonl(INADDR_ANY);
		*v6 = false;
	}
	return 0;
}

/* ---- connection guard (see the comment on top) ---- */

struct guard_conn {
	struct guard_conn *next, **pprev;
	int fd;			/* our dup of the socket: shutdown() never hits a reused fd */
	struct timespec since;	/* opened, or last request */
	bool shut;		/* shut down by the guard; libmicrohttpd reaps it */
	struct timespec shut_at;
};

static struct {
	pthread_mutex_t mu;
	struct guard_conn *head;
	unsigned int n, max;
	unsigned int timeout_s;
	bool stop;
	pthread_t thread;
} guard = { .mu = PTHREAD_MUTEX_INITIALIZER };

static long ms_since(const struct timespec *t, const struct timespec *now)
{
	return (now->tv_sec - t->tv_sec) * 1000 + (now->tv_nsec - t->tv_nsec) / 1000000;
}

/* guard.mu held */
static void guard_shut(struct guard_conn *g, const struct timespec *now, const char *why)
{
	if (g->shut)
		return;
	g->shut = true;
	g->shut_at = *now;
	if (g->fd >= 0)
		shutdown(g->fd, SHUT_RDWR);
	pr_debug("http: closing a connection: %s", why);
}

static void guard_unlink(struct guard_conn *g)
{
	*g->pprev = g->next;
	if (g->next)
		g->next->pprev = g->pprev;
	guard.n--;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct guard_conn *g = *socket_context, *i, *oldest = NULL;
	const union MHD_ConnectionInfo *ci;
	struct timespec now;
	unsigned int live = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!g)
			return;
		pthread_mutex_lock(&guard.mu);
		guard_unlink(g);
		pthread_mutex_unlock(&guard.mu);
		if (g->fd >= 0)
			close(g->fd);
		free(g);
		*socket_context = NULL;
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return;
	ci = mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	g->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
	g->since = now;
	pthread_mutex_lock(&guard.mu);
	g->next = guard.head;
	if (guard.head)
		guard.head->pprev = &g->next;
	g->pprev = &guard.head;
	guard.head = g;
	guard.n++;
	for (i = guard.head; i; i = i->next) {
		if (i->shut)
			continue;
		live++;
		if (i != g && (!oldest || ms_since(&i->since, &oldest->since) > 0))
			oldest = i;
	}
	if (live > guard.max && oldest && oldest != g)
		guard_shut(oldest, &now, "over --max-connections, it waited longest");
	pthread_mutex_unlock(&guard.mu);
	*socket_context = g;
}

/* A request arrived on conn: its deadline starts again. */
static void guard_request(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		mhd.get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct guard_conn *g = ci ? ci->socket_context : NULL;

	if (!g)
		return;
	pthread_mutex_lock(&guard.mu);
	clock_gettime(CLOCK_MONOTONIC, &g->since);
	pthread_mutex_unlock(&guard.mu);
}

static void *guard_main(void *arg)
{
	const struct timespec tick = { 0, NF_GUARD_TICK_MS * 1000000L };

	for (;;) {
		struct guard_conn *g;
		struct timespec now;

		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		pthread_mutex_lock(&guard.mu);
		if (guard.stop) {
			pthread_mutex_unlock(&guard.mu);
			return NULL;
		}
		for (g = guard.head; g; g = g->next) {
			if (!g->shut && ms_since(&g->since, &now) >= guard.timeout_s * 1000L)
				guard_shut(g, &now, "no complete request within --request-timeout");
			/* libmicrohttpd sees the shutdown at once; if it has not
			 * reported the close, our dup must not keep the socket. */
			if (g->shut && g->fd >= 0 && ms_since(&g->shut_at, &now) > 5000) {
				close(g->fd);
				g->fd = -1;
			}
		}
		pthread_mutex_unlock(&guard.mu);
	}
}

/* ---- files: TLS certificate and key, bearer token ---- */

/* Whole file, NUL-terminated; -errno, -EFBIG over max. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int err = 0;

	*out = NULL;
	if (!f)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		err = -EIO;
	else if (n > max)
		err = -EFBIG;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static const char *file_err(int err)
{
	return err == -EFBIG ? "file too large" : strerror(-err);
}

static struct {
	char *tok;
	size_t len;
} token;

/* 0, or -EINVAL after saying what is wrong with FILE. */
static int token_load(const char *path)
{
	size_t len, i;
	int err;

	err = read_file(path, NF_TOKEN_MAX, &token.tok, &len);
	if (err) {
		pr_err("--token-file %s: %s", path, file_err(err));
		return -EINVAL;
	}
	while (len && (token.tok[len - 1] == '\n' || token.tok[len - 1] == '\r'))
		token.tok[--len] = '\0';
	if (!len) {
		pr_err("--token-file %s: the file is empty", path);
		return -EINVAL;
	}
	/* RFC 6750 b64token: visible ASCII; a space or a control character would
	 * never survive a header. */
	for (i = 0; i < len; i++)
		if (token.tok[i] < 0x21 || token.tok[i] > 0x7e) {
			pr_err("--token-file %s: the token holds a space, control or non-ASCII "
			       "character (byte %zu)",
			       path, i + 1);
			return -EINVAL;
		}
	token.len = len;
	return 0;
}

/*
 * "Bearer TOKEN" (scheme case-insensitive, RFC 7235) with our token? The time
 * taken depends on the length of what the client sent only, never on where
 * it differs from the token nor on the token's length.
 */
static bool token_ok(const char *h)
{
	volatile unsigned char diff = 0;
	size_t n, i;

	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n && h[n - 1] == ' ')
		n--;
	diff |= n != token.len;
	for (i = 0; i < n; i++)
		diff |= (unsigned char)h[i] ^ (unsigned char)token.tok[i % token.len];
	return n && !diff;
}

/*
 * Check the certificate and key before libmicrohttpd gets them, to name the
 * file that is wrong (it would only fail to start). GnuTLS is loaded with
 * libmicrohttpd already; its ABI (soname 30) is stable.
 */
#define NF_GNUTLS_SONAME "libgnutls.so.30"
static int tls_check(const char *cert_path, char *cert, size_t cert_len, const char *key_path,
		     char *key, size_t key_len)
{
	struct {
		typeof(&gnutls_x509_crt_init) crt_init;
		typeof(&gnutls_x509_crt_import) crt_import;
		typeof(&gnutls_x509_crt_deinit) crt_deinit;
		typeof(&gnutls_x509_privkey_init) key_init;
		typeof(&gnutls_x509_privkey_import2) key_import2;
		typeof(&gnutls_x509_privkey_deinit) key_deinit;
		typeof(&gnutls_certificate_allocate_credentials) cred_alloc;
		typeof(&gnutls_certificate_set_x509_key_mem) cred_set;
		typeof(&gnutls_certificate_free_credentials) cred_free;
		typeof(&gnutls_strerror) strerror;
	} g;
	gnutls_datum_t cd = { (unsigned char *)cert, (unsigned int)cert_len };
	gnutls_datum_t kd = { (unsigned char *)key, (unsigned int)key_len };
	gnutls_certificate_credentials_t cred;
	gnutls_x509_privkey_t pk;
	gnutls_x509_crt_t crt;
	void *h = dlopen(NF_GNUTLS_SONAME, RTLD_NOW | RTLD_LOCAL);
	int rc;

	if (!h) {
		pr_err("TLS needs %s: %s", NF_GNUTLS_SONAME, dlerror());
		return -ENOENT;
	}
#define NF_GNUTLS_SYM(f, name)                                                            \
	do {                                                                               \
		*(void **)&g.f = dlsym(h, name);                                            \
		if (!g.f) {                                                                \
			pr_err("%s has no %s", NF_GNUTLS_SONAME, name);                     \
			return -ENOENT;                                                    \
		}                                                                          \
	} while (0)
	NF_GNUTLS_SYM(crt_init, "gnutls_x509_crt_init");
	NF_GNUTLS_SYM(crt_import, "gnutls_x509_crt_import");
	NF_GNUTLS_SYM(crt_deinit, "gnutls_x509_crt_deinit");
	NF_GNUTLS_SYM(key_init, "gnutls_x509_privkey_init");
	NF_GNUTLS_SYM(key_import2, "gnutls_x509_privkey_import2");
	NF_GNUTLS_SYM(key_deinit, "gnutls_x509_privkey_deinit");
	NF_GNUTLS_SYM(cred_alloc, "gnutls_certificate_allocate_credentials");
	NF_GNUTLS_SYM(cred_set, "gnutls_certificate_set_x509_key_mem");
	NF_GNUTLS_SYM(cred_free, "gnutls_certificate_free_credentials");
	NF_GNUTLS_SYM(strerror, "gnutls_strerror");
#undef NF_GNUTLS_SYM

	if (g.crt_init(&crt) < 0)
		return -ENOMEM;
	rc = g.crt_import(crt, &cd, GNUTLS_X509_FMT_PEM);
	g.crt_deinit(crt);
	if (rc < 0) {
		pr_err("--tls-cert %s: not a PEM certificate: %s", cert_path, g.strerror(rc));
		return -EINVAL;
	}
	if (g.key_init(&pk) < 0)
		return -ENOMEM;
	rc = g.key_import2(pk, &kd, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	g.key_deinit(pk);
	if (rc < 0) {
		pr_err("--tls-key %s: not an unencrypted PEM private key: %s", key_path,
		       g.strerror(rc));
		return -EINVAL;
	}
	if (g.cred_alloc(&cred) < 0)
		return -ENOMEM;
	rc = g.cred_set(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
	g.cred_free(cred);
	if (rc < 0) {
		pr_err("--tls-key %s does not go with --tls-cert %s: %s", key_path, cert_path,
		       g.strerror(rc));
		return -EINVAL;
	}
	return 0;
}

/* Collect at scrape time. The datapath is opened per scrape, so a `netfence
 * reset` (and a later reload) while serve runs is never served stale. */
static int scrape(char **buf, size_t *len)
{
	struct nf_metrics m;
	struct nf_dp *dp = NULL;
	uint64_t ok, err;
	int ret = 0;

	metrics__init(&m);
	if (dp__is_loaded()) {
		ret = dp__open(&dp, false);
		if (ret == -ENOENT) {
			ret = 0; /* reset meanwhile */
		} else if (!ret) {
			struct nf_meta meta;

			ret = metrics__collect(&m, dp__maps(dp));
			if (!dp__meta(&meta))
				snprintf(m.datapath, sizeof(m.datapath), "%u", meta.version);
			dp__close(dp);
		}
	}
	m.have_unfenced = true;
	m.unfenced_ifaces = unfenced__total();
	if (!ret && !apply__counts(&ok, &err)) {
		m.have_applies = true;
		m.applies_ok = ok;
		m.applies_err = err;
	}
	if (!ret)
		ret = metrics__render(&m, buf, len);
	metrics__free(&m);
	return ret;
}

static mhd_result reply_text(struct MHD_Connection *conn, unsigned int code, const char *text,
			     const char *hname, const char *hval)
{
	struct MHD_Response *r;
	mhd_result ret;

	r = mhd.create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (hname)
		mhd.add_response_header(r, hname, hval);
	ret = mhd.queue_response(conn, code, r);
	mhd.destroy_response(r);
	return ret;
}

static mhd_result handle(void *cls, struct MHD_Connection *conn, const char *url,
			 const char *method, const char *version, const char *upload_data,
			 size_t *upload_data_size, void **con_cls)
{
	struct MHD_Response *r;
	mhd_result ret;
	char *buf;
	size_t len;
	int err;

	guard_request(conn);
	if (token.tok) {
		const char *h = mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
							    MHD_HTTP_HEADER_AUTHORIZATION);

		if (!token_ok(h))
			return reply_text(conn, MHD_HTTP_UNAUTHORIZED,
					  "401 unauthorized: send Authorization: Bearer <token>\n",
					  MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					  h ? "Bearer realm=\"netfence\", error=\"invalid_token\"" :
					      "Bearer realm=\"netfence\"");
	}
	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "404 not found: try /metrics\n", NULL,
				  NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "405 method not allowed: use GET\n", MHD_HTTP_HEADER_ALLOW,
				  "GET, HEAD");

	err = scrape(&buf, &len);
	if (err) {
		pr_err("scrape failed: %s", strerror(-err));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "500 reading the datapath failed, see the daemon's log\n", NULL,
				  NULL);
	}
	r = mhd.create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, NF_CONTENT_TYPE);
	ret = mhd.queue_response(conn, MHD_HTTP_OK, r);
	mhd.destroy_response(r);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pr_warn("http: %s", msg);
}

/* ---- --policy-dir ---- */

struct watcher {
	const char *dir;
	int ifd; /* inotify fd, -1 without --policy-dir */
	int wd; /* -1: DIR is gone, retry every second */
	bool pending;
	struct timespec due; /* when the debounced apply runs */
};

#define WATCH_MASK                                                                               \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF | \
	 IN_MOVE_SELF | IN_ONLYDIR)

static long ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void schedule(struct watcher *w)
{
	clock_gettime(CLOCK_MONOTONIC, &w->due);
	w->due.tv_nsec += NF_DEBOUNCE_MS * 1000000L;
	if (w->due.tv_nsec >= 1000000000L) {
		w->due.tv_sec++;
		w->due.tv_nsec -= 1000000000L;
	}
	w->pending = true;
}

static void apply_dir(struct watcher *w)
{
	struct nf_apply_result res = { 0 };
	char *paths[1] = { (char *)w->dir };
	int err;

	w->pending = false;
	pr_info("policy-dir: applying %s (prune)", w->dir);
	err = apply__paths(paths, 1, true, &res);
	if (err == -EINVAL)
		pr_err("policy-dir: %s has invalid input (problems above); the last good policy "
		       "stays in force",
		       w->dir);
	else if (err)
		pr_err("policy-dir: applying %s failed: %s; tenants not yet swapped keep their "
		       "previous policy",
		       w->dir, strerror(-err));
	else
		pr_info("policy-dir: applied %s: %zu policies, %zu tenant objects, %zu tenants "
			"changed",
			w->dir, res.n_policies, res.n_tenant_objs, res.n_tenants_changed);
}

static bool add_watch(struct watcher *w)
{
	w->wd = inotify_add_watch(w->ifd, w->dir, WATCH_MASK);
	return w->wd >= 0;
}

/* Does an event in DIR concern the policy set? */
static bool relevant(const struct inotify_event *ev, const char *dir)
{
	size_t n;

	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW))
		return true;
	if (!ev->len)
		return true;
	/* ConfigMap swap: ..data_tmp renamed to ..data */
	if (!strcmp(ev->name, "..data"))
		return true;
	n = strlen(ev->name);
	if (n < 5 || strcmp(ev->name + n - 5, ".json"))
		return false;
	/* A new regular file is being written: wait for its IN_CLOSE_WRITE. A new
	 * symlink (ConfigMap key added) is complete at IN_CREATE. */
	if ((ev->mask & IN_CREATE) && !(ev->mask & IN_ISDIR)) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ev->name);
		if (!lstat(path, &st) && S_ISREG(st.st_mode))
			return false;
	}
	return true;
}

static void read_events(struct watcher *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	char *p;

	for (;;) {
		n = read(w->ifd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (p = buf; p < buf + n;
		     p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_IGNORED) {
				/* DIR was removed or moved away: watch again when it is back */
				if (ev->wd == w->wd) {
					pr_warn("policy-dir: %s went away; waiting for it", w->dir);
					w->wd = -1;
				}
				continue;
			}
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (w->wd >= 0)
					inotify_rm_watch(w->ifd, w->wd);
				continue; /* IN_IGNORED follows */
			}
			if (relevant(ev, w->dir)) {
				pr_debug("policy-dir: event 0x%x %s", ev->mask,
					 ev->len ? ev->name : "");
				schedule(w);
			}
		}
	}
}

/* Follow the node's addresses: re-sync under the node lock (SPEC §3.8). */
static void sync_host_addrs(void)
{
	struct nf_dp *dp;
	int lock;

	if (!dp__is_loaded() || dp__open(&dp, false))
		return; /* nothing loaded: the load syncs them */
	lock = dp__lock();
	if (lock >= 0) {
		dp__sync_host_addrs(dp);
		dp__unlock(lock);
	}
	dp__close(dp);
}

/* A positive count option; 0 after saying what is wrong. */
static unsigned int parse_count(const char *opt, const char *v, unsigned int max)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n == 0 || n > max) {
		pr_err("%s %s: expected a whole number from 1 to %u", opt, v, max);
		return 0;
	}
	return (unsigned int)n;
}

/* Soft RLIMIT_NOFILE up to the hard one: a netlink socket per fenced
 * workload namespace (unfenced.c) and the HTTP connections. */
static void raise_nofile(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* ---- cmd_serve: options, credentials, HTTP, watches, main loop, shutdown ---- */

struct serve {
	/* options */
	const char *listen, *cert_path, *key_path, *token_path;
	unsigned int max_conn, max_ip, timeout_s;
	struct sockaddr_storage ss;
	bool v6;
	/* running */
	char *cert, *key;
	size_t cert_len, key_len;
	bool guard_started;
	struct MHD_Daemon *d;
	struct nf_unfenced *uf;
	struct nf_promote *pr;	/* clsact endpoints moved to tcx */
	struct watcher w;
	int sfd, nlfd;
};

/* The options into s; -1 to go on, or the exit code to return now. */
static int serve_parse_opts(struct serve *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "policy-dir", required_argument, NULL, 'd' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "max-connections", required_argument, NULL, 'M' },
		{ "max-client-connections", required_argument, NULL, 'P' },
		{ "request-timeout", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { .shortopts = "l:d:vh", .longopts = opts, .usage_fn = usage };
	int c;

	while ((c = cmd_getopt(&o, argc, argv))) {
		switch (c) {
		case 'l':
			s->listen = optarg;
			break;
		case 'd':
			s->w.dir = optarg;
			break;
		case 'C':
			s->cert_path = optarg;
			break;
		case 'K':
			s->key_path = optarg;
			break;
		case 'T':
			s->token_path = optarg;
			break;
		case 'M':
			s->max_conn = parse_count("--max-connections", optarg, 65536);
			if (!s->max_conn)
				return NF_EXIT_USAGE;
			break;
		case 'P':
			s->max_ip = parse_count("--max-client-connections", optarg, 65536);
			if (!s->max_ip)
				return NF_EXIT_USAGE;
			break;
		case 'R':
			s->timeout_s = parse_count("--request-timeout", optarg, 3600);
			if (!s->timeout_s)
				return NF_EXIT_USAGE;
			break;
		case 'v':
			nf_log_set_level(NF_LOG_DEBUG);
			break;
		}
	}
	if (o.ret >= 0)
		return o.ret;
	if (optind != argc) {
		usage(stderr);
		return NF_EXIT_USAGE;
	}
	return -1;
}

/* The options that must agree with each other or with the system; 0 or
 * NF_EXIT_USAGE after saying what is wrong. */
static int serve_check_opts(struct serve *s)
{
	if (parse_listen(s->listen, &s->ss, &s->v6)) {
		pr_err("--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:9471 or [::1]:9471",
		       s->listen);
		return NF_EXIT_USAGE;
	}
	if (s->w.dir) {
		struct stat st;

		if (stat(s->w.dir, &st) || !S_ISDIR(st.st_mode)) {
			pr_err("--policy-dir %s: not a directory", s->w.dir);
			return NF_EXIT_USAGE;
		}
	}
	if (!s->cert_path != !s->key_path) {
		pr_err("--tls-cert and --tls-key go together: give both or neither");
		return NF_EXIT_USAGE;
	}
	if (s->max_ip > s->max_conn) {
		pr_err("--max-client-connections %u is above --max-connections %u", s->max_ip,
		       s->max_conn);
		return NF_EXIT_USAGE;
	}
	return 0;
}

/* The certificate, key and token files read; false after saying which
 * (the caller exits NF_EXIT_USAGE). */
static bool serve_read_credentials(struct serve *s)
{
	int err;

	if (s->cert_path) {
		err = read_file(s->cert_path, NF_FILE_MAX, &s->cert, &s->cert_len);
		if (err) {
			pr_err("--tls-cert %s: %s", s->cert_path, file_err(err));
			return false;
		}
		err = read_file(s->key_path, NF_FILE_MAX, &s->key, &s->key_len);
		if (err) {
			pr_err("--tls-key %s: %s", s->key_path, file_err(err));
			return false;
		}
	}
	return !(s->token_path && token_load(s->token_path));
}

/* libmicrohttpd loaded and, with TLS, the certificate and key checked;
 * 0 or the exit code. */
static int serve_open_mhd(struct serve *s)
{
	int err;

	if (mhd_open())
		return NF_EXIT_FAIL;
	if (s->cert) {
		if (mhd.is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			pr_err("%s was built without TLS support", NF_MHD_SONAME);
			return NF_EXIT_FAIL;
		}
		err = tls_check(s->cert_path, s->cert, s->cert_len, s->key_path, s->key,
				s->key_len);
		if (err)
			return err == -EINVAL ? NF_EXIT_USAGE : NF_EXIT_FAIL;
	}
	return 0;
}

/* The stop signals on s->sfd; the guard thread running. */
static bool serve_start_signals_guard(struct serve *s)
{
	sigset_t mask;

	/* Block the stop signals in every thread (MHD's inherits the mask) and
	 * take them through a signalfd in the main loop. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) ||
	    (s->sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		pr_err("signalfd: %s", strerror(errno));
		return false;
	}
	signal(SIGPIPE, SIG_IGN);

	guard.max = s->max_conn;
	guard.timeout_s = s->timeout_s;
	if (pthread_create(&guard.thread, NULL, guard_main, NULL)) {
		pr_err("cannot start the connection guard thread");
		return false;
	}
	s->guard_started = true;
	return true;
}

/* libmicrohttpd listening on --listen. */
static bool serve_start_http(struct serve *s)
{
	unsigned int flags;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (s->v6)
		flags |= MHD_USE_IPv6;
	if (s->cert)
		flags |= MHD_USE_TLS;
	s->d = mhd.start_daemon(
		flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->ss, MHD_OPTION_CONNECTION_LIMIT,
		s->max_conn + NF_SERVE_CONN_SLACK, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->max_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_s, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, NULL,
		/* without TLS these two end the list */
		s->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->cert,
		MHD_OPTION_HTTPS_MEM_KEY, s->key, MHD_OPTION_END);
	if (!s->d) {
		pr_err("cannot listen on %s (address in use or not local?)", s->listen);
		return false;
	}
	pr_info("serving metrics on %s://%s/metrics (%s; at most %u connections, %u per "
		"client, %us per request)",
		s->cert ? "https" : "http", s->listen,
		token.tok ? "bearer token required" : "no token", s->max_conn, s->max_ip,
		s->timeout_s);
	return true;
}

/* The node's addresses, the unfenced interfaces and --policy-dir watched,
 * and each brought up to date once. */
static bool serve_start_watches(struct serve *s)
{
	struct watcher *w = &s->w;
	int err;

	/* Node addresses: watch first, then sync, so no change falls between. */
	s->nlfd = nf_hostaddr_watch_open();
	if (s->nlfd < 0) {
		pr_err("cannot watch the node's addresses (rtnetlink): %s", strerror(-s->nlfd));
		return false;
	}
	sync_host_addrs();

	err = unfenced__open(&s->uf);
	if (err) {
		pr_err("cannot start the unfenced-interface watcher: %s", strerror(-err));
		return false;
	}
	err = promote__open(&s->pr);
	if (err) {
		pr_err("cannot start moving endpoints to tcx: %s", strerror(-err));
		return false;
	}

	if (w->dir) {
		w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w->ifd < 0) {
			pr_err("inotify: %s", strerror(errno));
			return false;
		}
		if (!add_watch(w)) {
			pr_err("watching %s: %s", w->dir, strerror(errno));
			return false;
		}
		pr_info("policy-dir: watching %s", w->dir);
		apply_dir(w);
	}
	return true;
}

/* How long poll may wait: until the unfenced watcher's next retry or the
 * debounced apply, and at most a second while DIR is gone (-1: no limit). */
static int serve_poll_timeout(const struct serve *s)
{
	const struct watcher *w = &s->w;
	long timeout = unfenced__timeout_ms(s->uf), t;

	t = promote__timeout_ms(s->pr);
	if (t >= 0 && (timeout < 0 || t < timeout))
		timeout = t;

	if (w->pending) {
		t = ms_until(&w->due);
		if (t < 0)
			t = 0;
		if (timeout < 0 || t < timeout)
			timeout = t;
	}
	if (w->dir && w->wd < 0 && (timeout < 0 || timeout > 1000))
		timeout = 1000;
	return (int)timeout;
}

/* A signal taken from the signalfd: true when it stops serve; SIGHUP
 * re-applies --policy-dir. */
static bool serve_take_signal(struct serve *s)
{
	struct signalfd_siginfo si;

	if (read(s->sfd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGHUP) {
		pr_info("SIGHUP: re-applying");
		if (s->w.dir)
			schedule(&s->w);
		return false;
	}
	pr_info("%s: stopping", strsignal(si.ssi_signo));
	return true;
}

/* --policy-dir after a poll: its events read (readable), the watch set
 * again once DIR is back, the debounced apply run when due. */
static void watcher_run(struct watcher *w, bool readable)
{
	if (readable)
		read_events(w);
	if (w->dir && w->wd < 0 && add_watch(w)) {
		pr_info("policy-dir: %s is back", w->dir);
		schedule(w);
	}
	if (w->pending && ms_until(&w->due) <= 0)
		apply_dir(w);
}

/* Until a stop signal (NF_EXIT_OK) or a poll failure (NF_EXIT_FAIL). */
static int serve_loop(struct serve *s)
{
	struct watcher *w = &s->w;

	for (;;) {
		struct pollfd pfd[4] = {
			{ .fd = s->sfd, .events = POLLIN },
			{ .fd = s->nlfd, .events = POLLIN },
			{ .fd = unfenced__fd(s->uf), .events = POLLIN },
			{ .fd = w->ifd, .events = POLLIN },
		};
		int n;

		n = poll(pfd, w->ifd >= 0 ? 4 : 3, serve_poll_timeout(s));
		if (n < 0 && errno != EINTR) {
			pr_err("poll: %s", strerror(errno));
			return NF_EXIT_FAIL;
		}
		if (n > 0 && (pfd[0].revents & POLLIN) && serve_take_signal(s))
			return NF_EXIT_OK;
		if (n > 0 && (pfd[1].revents & POLLIN) && nf_hostaddr_watch_drain(s->nlfd))
			sync_host_addrs();
		unfenced__run(s->uf);
		promote__run(s->pr);
		watcher_run(w, n > 0 && w->ifd >= 0 && (pfd[3].revents & POLLIN));
	}
}

/* Everything serve started stopped, in reverse; what it holds freed. */
static void serve_stop(struct serve *s)
{
	if (s->d)
		mhd.stop_daemon(s->d);
	if (s->guard_started) {
		pthread_mutex_lock(&guard.mu);
		guard.stop = true;
		pthread_mutex_unlock(&guard.mu);
		pthread_join(guard.thread, NULL);
	}
	unfenced__close(s->uf);
	promote__close(s->pr);
	if (s->nlfd >= 0)
		close(s->nlfd);
	if (s->w.ifd >= 0)
		close(s->w.ifd);
	if (s->sfd >= 0)
		close(s->sfd);
	free(s->cert);
	free(s->key);
	free(token.tok);
	token.tok = NULL;
}

int cmd_serve(int argc, char **argv)
{
	struct serve s = {
		.listen = NF_SERVE_DEFAULT_LISTEN,
		.max_conn = NF_SERVE_CONN_LIMIT,
		.max_ip = NF_SERVE_PER_IP_LIMIT,
		.timeout_s = NF_SERVE_CONN_TIMEOUT,
		.w = { .ifd = -1, .wd = -1 },
		.sfd = -1,
		.nlfd = -1,
	};
	int rc;

	rc = serve_parse_opts(&s, argc, argv);
	if (rc >= 0)
		return rc;
	nf_log_set_daemon(1);
	nf_log_setup_libbpf();
	rc = serve_check_opts(&s);
	if (rc)
		return rc;
	if (!serve_read_credentials(&s)) {
		rc = NF_EXIT_USAGE;
		goto out;
	}
	rc = serve_open_mhd(&s);
	if (rc)
		goto out;
	raise_nofile();
	rc = NF_EXIT_FAIL;
	if (serve_start_signals_guard(&s) && serve_start_http(&s) && serve_start_watches(&s))
		rc = serve_loop(&s);
out:
	serve_stop(&s);
	return rc;
}
