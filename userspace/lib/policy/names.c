// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS-1123 names as Kubernetes validates them (k8s.io/apimachinery
 * pkg/util/validation IsDNS1123Label, IsDNS1123Subdomain): object names,
 * namespaces (tenants) and label values that name a tenant; and network
 * names (SPEC §12).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "policy_internal.h"

static bool is_alnum_lower(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? of n bytes. */
static bool is_label_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool nf_is_dns1123_label(const char *s)
{
	return s && is_label_n(s, strlen(s));
}

/*
 * [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*, at most 253
 * bytes. Like Kubernetes (one regex over the name), a part may exceed 63.
 */
bool nf_is_dns1123_subdomain(const char *s)
{
	size_t n, i, start = 0;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!is_alnum_lower(s[i]) && s[i] != '-')
				return false;
			continue;
		}
		if (i == start || !is_alnum_lower(s[start]) || !is_alnum_lower(s[i - 1]))
			return false;
		start = i + 1;
	}
	return true;
}

/* A CNI network name (the CNI spec's ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$) of n bytes. */
static bool is_cni_name_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > NF_NETWORK_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
			return false;
	}
	return true;
}

bool nf_is_network_name(const char *s)
{
	const char *slash;

	if (!s)
		return false;
	slash = strchr(s, '/');
	if (!slash)
		return is_cni_name_n(s, strlen(s));
	return is_label_n(s, (size_t)(slash - s)) && is_cni_name_n(slash + 1, strlen(slash + 1));
}

int nf_network_key(const char *ns, const char *net, char *buf, size_t len)
{
	int n;

	if (!nf_is_network_name(net) || !nf_is_dns1123_label(ns))
		return -EINVAL;
	n = strchr(net, '/') ? snprintf(buf, len, "%s", net) : snprintf(buf, len, "%s/%s", ns, net);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool policy__is_for_network(const struct nf_policy *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->n_networks; i++)
		if (!strcmp(p->networks[i], key))
			return true;
	return false;
}
