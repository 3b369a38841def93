// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What every kind has: apiVersion (checked against the kind's one version),
 * metadata.name and, for a namespaced kind, metadata.namespace (the tenant),
 * validated as ObjectMeta is; and the object as the state store keeps it
 * (compact JSON, complete even for an item of a list).
 */
#include <string.h>
#include "policy_internal.h"

void nfp_check_api_version(struct pctx *c, json_t *obj, const char *want, const char *kind,
			   bool required)
{
	const char *api = nfp_string_field(c, obj, "apiVersion", required);
	char q[QBUF_LEN];
	size_t old;

	if (!api || !strcmp(api, want))
		return;
	old = nfp_path_key(c, "apiVersion");
	nfp_problem(c, "%s is not supported for kind %s (expected \"%s\")",
		    nfp_quote(api, q, sizeof(q)), kind, want);
	nfp_path_pop(c, old);
}

static void invalid_name(struct pctx *c, const char *s, bool subdomain)
{
	char q[QBUF_LEN];

	if (subdomain)
		nfp_problem(c, "%s is not a valid DNS-1123 subdomain (at most 253 lowercase "
			    "letters, digits, '-' and '.', starting and ending with a letter or "
			    "digit)",
			    nfp_quote(s, q, sizeof(q)));
	else
		nfp_problem(c, "%s is not a valid DNS-1123 label (at most 63 lowercase letters, "
			    "digits and '-', starting and ending with a letter or digit)",
			    nfp_quote(s, q, sizeof(q)));
}

/*
 * metadata.name (+ metadata.namespace for a namespaced kind); other keys are
 * ignored. The name is a DNS-1123 subdomain when subdomain is set, else a label.
 */
static void parse_metadata(struct pctx *c, json_t *obj, bool namespaced, bool subdomain,
			   const char **name, const char **ns)
{
	json_t *md = nfp_field(obj, "metadata");
	size_t old = nfp_path_key(c, "metadata");
	const char *s;

	*name = NULL;
	*ns = NULL;
	if (!md) {
		nfp_problem(c, "is required");
		goto out;
	}
	if (!nfp_expect_type(c, md, JSON_OBJECT))
		goto out;
	s = nfp_string_field(c, md, "name", true);
	if (s) {
		size_t o2 = nfp_path_key(c, "name");

		if (subdomain ? nf_is_dns1123_subdomain(s) : nf_is_dns1123_label(s))
			*name = s;
		else
			invalid_name(c, s, subdomain);
		nfp_path_pop(c, o2);
	}
	if (!namespaced)
		goto out;
	s = nfp_string_field(c, md, "namespace", false);
	if (s) {
		size_t o2 = nfp_path_key(c, "namespace");

		if (nf_is_dns1123_label(s))
			*ns = s;
		else
			invalid_name(c, s, false);
		nfp_path_pop(c, o2);
	} else if (!nfp_field(md, "namespace")) {
		size_t o2 = nfp_path_key(c, "namespace");

		nfp_problem(c, "is required (it names the tenant)");
		nfp_path_pop(c, o2);
	}
out:
	nfp_path_pop(c, old);
}

void nfp_parse_metadata(struct pctx *c, json_t *obj, bool namespaced, const char **name,
			const char **ns)
{
	parse_metadata(c, obj, namespaced, namespaced, name, ns);
}

void nfp_parse_cluster_metadata(struct pctx *c, json_t *obj, const char **name)
{
	const char *ns;

	parse_metadata(c, obj, false, true, name, &ns);
}

/* The stored JSON is a complete document even for an item of a NetworkPolicyList. */
char *nfp_dump_object(struct pctx *c, json_t *obj, const char *api, const char *kind)
{
	char *s;

	if (!json_object_get(obj, "apiVersion"))
		json_object_set_new(obj, "apiVersion", json_string(api));
	if (!json_object_get(obj, "kind"))
		json_object_set_new(obj, "kind", json_string(kind));
	s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		c->oom = true;
	return s;
}
