// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * DNS-1123 names as Kubernetes validates them (k8s.io/apimachinery
 * pkg/util/validation IsDNS1123Label, IsDNS1123Subdomain): object names,
 * namespaces (tenants) and label values that name a tenant.
 */
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
