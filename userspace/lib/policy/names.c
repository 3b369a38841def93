// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS-1123 names as Kubernetes validates them (k8s.io/apimachinery
 * pkg/util/validation IsDNS1123Label, IsDNS1123Subdomain): object names,
 * namespaces (tenants) and label values that name a tenant; label keys and
 * values (IsQualifiedName, IsValidLabelValue) and port names
 * (IsValidPortName, SPEC §11); and network names (SPEC §12).
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

static bool is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] of n bytes, at most 63 (a label name or value). */
static bool is_qualified_part_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* IsQualifiedName: [DNS-1123 subdomain "/"] name; at most one '/'. */
bool nf_is_label_key(const char *s)
{
	const char *slash;
	char prefix[254];
	size_t n;

	if (!s)
		return false;
	slash = strchr(s, '/');
	if (!slash)
		return is_qualified_part_n(s, strlen(s));
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(prefix) || strchr(slash + 1, '/'))
		return false;
	memcpy(prefix, s, n);
	prefix[n] = '\0';
	return nf_is_dns1123_subdomain(prefix) && is_qualified_part_n(slash + 1, strlen(slash + 1));
}

/* IsValidLabelValue: empty, or a name part. */
bool nf_is_label_value(const char *s)
{
	return s && (!*s || is_qualified_part_n(s, strlen(s)));
}

/*
 * IsValidPortName (an IANA_SVC_NAME): 1-15 of [-a-z0-9], at least one
 * letter, no '-' at either end, no "--".
 */
bool nf_is_port_name(const char *s)
{
	bool letter = false;
	size_t i, n;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n >= NF_PORT_NAME_LEN || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
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
