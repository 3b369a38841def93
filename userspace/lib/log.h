/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* One logging module: levels, one line per message, to stderr. */
#ifndef NETFENCE_LOG_H
#define NETFENCE_LOG_H

#include <stdarg.h>

enum nf_log_level { NF_LOG_ERR = 0, NF_LOG_WARN, NF_LOG_INFO, NF_LOG_DEBUG };

void nf_log_set_level(enum nf_log_level lvl);
enum nf_log_level nf_log_get_level(void);
/* Prefix every line with "netfence: " (CLI) or a timestamp and level (daemon). */
void nf_log_set_daemon(int daemon);
int nf_log_is_daemon(void);
void nf_log(enum nf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route libbpf's messages through nf_log (debug only unless -v). */
void nf_log_setup_libbpf(void);

#define pr_err(...) nf_log(NF_LOG_ERR, __VA_ARGS__)
#define pr_warn(...) nf_log(NF_LOG_WARN, __VA_ARGS__)
#define pr_info(...) nf_log(NF_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) nf_log(NF_LOG_DEBUG, __VA_ARGS__)

#endif
