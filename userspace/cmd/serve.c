// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence serve [--listen ADDR:PORT] [--policy-dir DIR]
 *
 * Prometheus /metrics (SPEC §7), read from the kernel at scrape time, and,
 * with --policy-dir, `apply --prune DIR` at start and after every change of
 * DIR (inotify, debounced), including the Kubernetes ConfigMap volume layout:
 * DIR/x.json -> ..data/x.json, ..data -> ..2024_01_01_00_00_00.1234; an
 * update writes a new timestamped directory, points ..data_tmp at it and
 * renames ..data_tmp to ..data (IN_MOVED_TO "..data" in DIR).
 *
 * Threads: libmicrohttpd's internal polling thread answers scrapes (one at a
 * time); the main thread waits for signals (signalfd) and inotify events.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include "apply.h"
#include "cmd.h"
#include "datapath.h"
#include "log.h"
#include "metrics.h"

#define NF_SERVE_DEFAULT_LISTEN "127.0.0.1:9471"
#define NF_SERVE_CONN_LIMIT	32
#define NF_SERVE_PER_IP_LIMIT	16
#define NF_SERVE_CONN_TIMEOUT	10 /* seconds */
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
#undef NF_MHD_SYM
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: netfence serve [--listen ADDR:PORT] [--policy-dir DIR]\n"
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
		"  -v, --verbose        debug logging\n"
		"  -h, --help           this help\n"
		"\n"
		"SIGHUP re-applies DIR. Runs until SIGTERM or SIGINT; exit 0 on a clean stop.\n");
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
			ret = metrics__collect(&m, &dp->maps);
			dp__close(dp);
		}
	}
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
			     const char *allow)
{
	struct MHD_Response *r;
	mhd_result ret;

	r = mhd.create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
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

	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "404 not found: try /metrics\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "405 method not allowed: use GET\n", "GET, HEAD");

	err = scrape(&buf, &len);
	if (err) {
		pr_err("scrape failed: %s", strerror(-err));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "500 reading the datapath failed, see the daemon's log\n", NULL);
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

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "policy-dir", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NF_SERVE_DEFAULT_LISTEN;
	struct watcher w = { .ifd = -1, .wd = -1 };
	struct MHD_Daemon *d = NULL;
	struct sockaddr_storage ss;
	unsigned int flags;
	sigset_t mask;
	bool v6 = false;
	int sfd = -1, rc = NF_EXIT_FAIL, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "l:d:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			w.dir = optarg;
			break;
		case 'v':
			nf_log_set_level(NF_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return NF_EXIT_OK;
		default:
			usage(stderr);
			return NF_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return NF_EXIT_USAGE;
	}
	nf_log_set_daemon(1);
	nf_log_setup_libbpf();
	if (parse_listen(listen, &ss, &v6)) {
		pr_err("--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:9471 or [::1]:9471",
		       listen);
		return NF_EXIT_USAGE;
	}
	if (w.dir) {
		struct stat st;

		if (stat(w.dir, &st) || !S_ISDIR(st.st_mode)) {
			pr_err("--policy-dir %s: not a directory", w.dir);
			return NF_EXIT_USAGE;
		}
	}
	if (mhd_open())
		return NF_EXIT_FAIL;

	/* Block the stop signals in every thread (MHD's inherits the mask) and
	 * take them through a signalfd in the main loop. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) || (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		pr_err("signalfd: %s", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	d = mhd.start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_EXTERNAL_LOGGER,
			     mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)NF_SERVE_CONN_LIMIT,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			     (unsigned int)NF_SERVE_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned int)NF_SERVE_CONN_TIMEOUT, MHD_OPTION_END);
	if (!d) {
		pr_err("cannot listen on %s (address in use or not local?)", listen);
		goto out;
	}
	pr_info("serving metrics on http://%s/metrics", listen);

	if (w.dir) {
		w.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w.ifd < 0) {
			pr_err("inotify: %s", strerror(errno));
			goto out;
		}
		if (!add_watch(&w)) {
			pr_err("watching %s: %s", w.dir, strerror(errno));
			goto out;
		}
		pr_info("policy-dir: watching %s", w.dir);
		apply_dir(&w);
	}

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = w.ifd, .events = POLLIN },
		};
		long timeout = -1;
		int n;

		if (w.pending) {
			timeout = ms_until(&w.due);
			if (timeout < 0)
				timeout = 0;
		}
		if (w.dir && w.wd < 0 && (timeout < 0 || timeout > 1000))
			timeout = 1000;
		n = poll(pfd, w.ifd >= 0 ? 2 : 1, (int)timeout);
		if (n < 0 && errno != EINTR) {
			pr_err("poll: %s", strerror(errno));
			goto out;
		}
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					pr_info("SIGHUP: re-applying");
					if (w.dir)
						schedule(&w);
				} else {
					pr_info("%s: stopping", strsignal(si.ssi_signo));
					rc = NF_EXIT_OK;
					goto out;
				}
			}
		}
		if (n > 0 && w.ifd >= 0 && (pfd[1].revents & POLLIN))
			read_events(&w);
		if (w.dir && w.wd < 0 && add_watch(&w)) {
			pr_info("policy-dir: %s is back", w.dir);
			schedule(&w);
		}
		if (w.pending && ms_until(&w.due) <= 0)
			apply_dir(&w);
	}
out:
	if (d)
		mhd.stop_daemon(d);
	if (w.ifd >= 0)
		close(w.ifd);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
