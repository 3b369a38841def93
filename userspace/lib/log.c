// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "log.h"

static enum nf_log_level log_level = NF_LOG_INFO;
static int log_daemon;

void nf_log_set_level(enum nf_log_level lvl) { log_level = lvl; }
enum nf_log_level nf_log_get_level(void) { return log_level; }
void nf_log_set_daemon(int daemon) { log_daemon = daemon; }
int nf_log_is_daemon(void) { return log_daemon; }

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static void vlog(enum nf_log_level lvl, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	if (lvl > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (log_daemon) {
		struct timespec ts;
		struct tm tm;
		char tbuf[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ level=%s msg=\"%s\"\n", tbuf, ts.tv_nsec / 1000000,
			level_names[lvl], msg);
	} else if (lvl <= NF_LOG_WARN) {
		fprintf(stderr, "netfence: %s%s\n", lvl == NF_LOG_WARN ? "warning: " : "", msg);
	} else {
		fprintf(stderr, "netfence: %s\n", msg);
	}
}

void nf_log(enum nf_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own warnings are details of an error we report ourselves. */
	if (level == LIBBPF_DEBUG || log_level < NF_LOG_DEBUG)
		return 0;
	vlog(NF_LOG_DEBUG, fmt, ap);
	return 0;
}

void nf_log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
