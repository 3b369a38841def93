// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence-cni: config, CNI_ARGS, prevResult and error JSON (see cni_conf.h).
 * References: the CNI spec (SPEC.md "Result", "Error", "Version
 * considerations" sections of containernetworking/cni) and libcni's
 * ValidateContainerID/ValidateInterfaceName, whose rules are copied here.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include "cni_conf.h"
#include "log.h"

const char *const cni_supported_versions[] = { "0.4.0", "1.0.0", "1.1.0" };
const size_t cni_n_supported_versions =
	sizeof(cni_supported_versions) / sizeof(cni_supported_versions[0]);

int cni_err__set(struct cni_err *e, int code, const char *msg, const char *details_fmt, ...)
{
	va_list ap;

	e->code = code;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	e->details[0] = '\0';
	if (details_fmt) {
		va_start(ap, details_fmt);
		vsnprintf(e->details, sizeof(e->details), details_fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

char *cni_err__json(const char *version, const struct cni_err *e)
{
	json_t *o;
	char *s;

	o = json_pack("{s:s, s:i, s:s, s:s}", "cniVersion",
		      version && *version ? version : CNI_VERSION_DEFAULT, "code", e->code, "msg",
		      e->msg, "details", e->details);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(o);
	return s;
}

static int parse_version(const char *v, unsigned int out[3])
{
	char tail;

	if (!v || sscanf(v, "%u.%u.%u%c", &out[0], &out[1], &out[2], &tail) != 3)
		return -EINVAL;
	return 0;
}

int cni_version_cmp(const char *a, const char *b)
{
	unsigned int va[3], vb[3];
	bool oka = parse_version(a, va) == 0, okb = parse_version(b, vb) == 0;
	int i;

	if (!oka || !okb)
		return (int)oka - (int)okb;
	for (i = 0; i < 3; i++) {
		if (va[i] != vb[i])
			return va[i] < vb[i] ? -1 : 1;
	}
	return 0;
}

bool cni_version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < cni_n_supported_versions; i++) {
		if (v && !strcmp(v, cni_supported_versions[i]))
			return true;
	}
	return false;
}

char *cni_version_json(const char *conf_version)
{
	json_t *o, *arr;
	char *s = NULL;
	size_t i;

	arr = json_array();
	o = json_object();
	if (!o || !arr)
		goto out;
	for (i = 0; i < cni_n_supported_versions; i++)
		json_array_append_new(arr, json_string(cni_supported_versions[i]));
	json_object_set_new(o, "cniVersion",
			    json_string(conf_version && *conf_version ? conf_version :
									CNI_VERSION_DEFAULT));
	json_object_set(o, "supportedVersions", arr);
	s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
out:
	json_decref(arr);
	json_decref(o);
	return s;
}

/* DNS-1123 label: 1..63 of [a-z0-9-], starting and ending alphanumeric. */
static bool is_dns1123_label(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return s[0] != '-' && s[n - 1] != '-';
}

static const char *const log_levels[] = { "error", "warning", "info", "debug" };

int cni_conf__parse(struct cni_conf *c, const char *text, size_t len, struct cni_err *err)
{
	json_error_t jerr;
	const json_t *v;
	size_t i;

	memset(c, 0, sizeof(*c));
	snprintf(c->version, sizeof(c->version), "%s", CNI_VERSION_DEFAULT);
	c->root = json_loadb(text ? text : "", text ? len : 0, 0, &jerr);
	if (!c->root)
		return cni_err__set(err, CNI_ERR_DECODE, "failed to decode network config",
				    "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
	if (!json_is_object(c->root))
		return cni_err__set(err, CNI_ERR_DECODE, "failed to decode network config",
				    "the config is not a JSON object");

	v = json_object_get(c->root, "cniVersion");
	if (v && !json_is_string(v))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
				    "cniVersion: must be a string");
	/* libcni reads an absent cniVersion as 0.1.0. */
	snprintf(c->version, sizeof(c->version), "%s", v ? json_string_value(v) : "0.1.0");
	if (!cni_version_supported(v ? json_string_value(v) : NULL))
		return cni_err__set(
			err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
			"config is \"%s\", plugin supports [\"0.4.0\" \"1.0.0\" \"1.1.0\"]",
			v ? json_string_value(v) : "0.1.0");

	v = json_object_get(c->root, "name");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
					    "name: must be a string");
		snprintf(c->name, sizeof(c->name), "%s", json_string_value(v));
	}

	v = json_object_get(c->root, "tenant");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
					    "tenant: must be a string");
		if (*json_string_value(v) && !is_dns1123_label(json_string_value(v)))
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
					    "tenant: \"%.100s\" is not a DNS-1123 label",
					    json_string_value(v));
		snprintf(c->tenant, sizeof(c->tenant), "%s", json_string_value(v));
	}

	v = json_object_get(c->root, "prevResult");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
					    "prevResult: must be an object");
		c->prev_result = v;
	}

	c->log_level = NF_LOG_ERR;
	v = json_object_get(c->root, "logLevel");
	if (v && json_is_string(v)) {
		for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
			if (!strcmp(json_string_value(v), log_levels[i]))
				c->log_level = (int)i;
		}
	}
	return 0;
}

void cni_conf__free(struct cni_conf *c)
{
	json_decref(c->root);
	c->root = NULL;
	c->prev_result = NULL;
}

int cni_args__get(const char *args, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = args;

	while (p && *p) {
		const char *end = strchr(p, ';');
		const char *eq;
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', plen);
		if (eq && eq > p && (size_t)(eq - p) == klen && !memcmp(p, key, klen)) {
			size_t vlen = plen - klen - 1;

			if (vlen >= len)
				return -ENAMETOOLONG;
			memcpy(buf, eq + 1, vlen);
			buf[vlen] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

int cni_tenant__resolve(const struct cni_conf *c, const char *cni_args, char *buf, size_t len,
			struct cni_err *err)
{
	char ns[256];
	int ret;

	/*
	 * The runtime's K8S_POD_NAMESPACE wins: whoever can write a network
	 * config (a NetworkAttachmentDefinition) must not be able to put a pod
	 * into another namespace's tenant. The config's "tenant" is for
	 * runtimes that pass no namespace (podman, plain CNI).
	 */
	ret = cni_args__get(cni_args, "K8S_POD_NAMESPACE", ns, sizeof(ns));
	if (ret == -ENAMETOOLONG || (ret == 0 && ns[0] && !is_dns1123_label(ns)))
		return cni_err__set(
			err, CNI_ERR_INVALID_ENV, "invalid tenant",
			"K8S_POD_NAMESPACE in CNI_ARGS (\"%.100s\") is not a DNS-1123 label",
			ret == 0 ? ns : "...");
	if (ret == 0 && ns[0]) {
		if (c->tenant[0] && strcmp(c->tenant, ns))
			return cni_err__set(
				err, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"the config's \"tenant\" \"%s\" is not the pod's namespace \"%s\" "
				"(K8S_POD_NAMESPACE): a network config cannot move a pod into "
				"another tenant",
				c->tenant, ns);
		snprintf(buf, len, "%s", ns);
		return 0;
	}
	if (c->tenant[0]) {
		snprintf(buf, len, "%s", c->tenant);
		return 0;
	}
	return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "no tenant",
			    "set \"tenant\" in the network config or pass K8S_POD_NAMESPACE "
			    "in CNI_ARGS");
}

int cni_check_containerid(const char *cid, struct cni_err *err)
{
	const char *p;

	if (!cid || !*cid)
		return cni_err__set(err, CNI_ERR_INVALID_ENV, "missing CNI_CONTAINERID", NULL);
	if (!isalnum((unsigned char)cid[0]))
		goto bad;
	for (p = cid; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			goto bad;
	}
	return 0;
bad:
	return cni_err__set(err, CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID",
			    "\"%.100s\": must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$", cid);
}

int cni_check_ifname(const char *ifname, struct cni_err *err)
{
	const char *p;

	if (!ifname || !*ifname)
		return cni_err__set(err, CNI_ERR_INVALID_ENV, "missing CNI_IFNAME", NULL);
	if (strlen(ifname) >= CNI_IFNAME_LEN || !strcmp(ifname, ".") || !strcmp(ifname, ".."))
		goto bad;
	for (p = ifname; *p; p++) {
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			goto bad;
	}
	return 0;
bad:
	return cni_err__set(err, CNI_ERR_INVALID_ENV, "invalid CNI_IFNAME",
			    "\"%.40s\": at most 15 characters, no '/', ':' or spaces, not . or ..",
			    ifname);
}

int cni_owner(char *buf, size_t len, const char *cid, const char *ifname, struct cni_err *err)
{
	int n = snprintf(buf, len, "%s/%s", cid, ifname);

	if (n < 0 || (size_t)n >= len)
		return cni_err__set(err, CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID",
				    "container id too long: at most %zu characters",
				    len - 1 - strlen(ifname) - 1);
	return 0;
}

/* "addr[/plen]" -> host address; family 4 or 6 in *family. */
static int parse_ip_cidr(const char *s, struct nf_cidr *out, int *family)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned char a6[16];
	unsigned long plen = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]))
			return -EINVAL;
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (errno || *end)
			return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->plen = 128;
	if (inet_pton(AF_INET, buf, a6) == 1) {
		if (slash && plen > 32)
			return -EINVAL;
		out->addr[10] = 0xff;
		out->addr[11] = 0xff;
		memcpy(&out->addr[12], a6, 4);
		out->is_v4 = true;
		*family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a6) == 1) {
		if (slash && plen > 128)
			return -EINVAL;
		memcpy(out->addr, a6, 16);
		*family = 6;
		return 0;
	}
	return -EINVAL;
}

/* One ips[] entry: validated address and family. */
static int ip_entry(const json_t *ip, size_t i, struct nf_cidr *c, int *family, struct cni_err *err)
{
	const json_t *a, *v;

	if (!json_is_object(ip))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				    "prevResult.ips[%zu]: must be an object", i);
	a = json_object_get(ip, "address");
	if (!json_is_string(a) || parse_ip_cidr(json_string_value(a), c, family))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				    "prevResult.ips[%zu].address: not a valid IP address/prefix",
				    i);
	v = json_object_get(ip, "version");
	if (v && !json_is_null(v)) {
		const char *want = *family == 4 ? "4" : "6";

		if (!json_is_string(v) || strcmp(json_string_value(v), want))
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
					    "prevResult.ips[%zu].version: must be \"%s\" for %s", i,
					    want, json_string_value(a));
	}
	v = json_object_get(ip, "interface");
	if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				    "prevResult.ips[%zu].interface: must be an index >= 0", i);
	return 0;
}

int cni_result__addrs(const json_t *prev, const char *ifname, struct nf_cidr **out, size_t *n,
		      struct cni_err *err)
{
	const json_t *ips, *ifs, *ip, *iface;
	json_int_t target = -1;
	bool any_index = false;
	struct nf_cidr *addrs;
	size_t i, cnt = 0;
	int family, ret;

	*out = NULL;
	*n = 0;
	if (!json_is_object(prev))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				    "prevResult: must be an object");
	ifs = json_object_get(prev, "interfaces");
	if (ifs && !json_is_null(ifs)) {
		if (!json_is_array(ifs))
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
					    "prevResult.interfaces: must be an array");
		json_array_foreach(ifs, i, iface) {
			const json_t *name = json_object_get(iface, "name");
			const json_t *sb = json_object_get(iface, "sandbox");

			if (!json_is_object(iface))
				return cni_err__set(err, CNI_ERR_INVALID_CONFIG,
						    "invalid prevResult",
						    "prevResult.interfaces[%zu]: must be an object",
						    i);
			if (target < 0 && json_is_string(name) &&
			    !strcmp(json_string_value(name), ifname) && json_is_string(sb) &&
			    *json_string_value(sb))
				target = (json_int_t)i;
		}
	}
	ips = json_object_get(prev, "ips");
	if (!ips || json_is_null(ips))
		return 0;
	if (!json_is_array(ips))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
				    "prevResult.ips: must be an array");
	json_array_foreach(ips, i, ip) {
		struct nf_cidr c;
		const json_t *idx;

		ret = ip_entry(ip, i, &c, &family, err);
		if (ret)
			return ret;
		idx = json_object_get(ip, "interface");
		if (json_is_integer(idx))
			any_index = true;
	}
	addrs = calloc(json_array_size(ips) ? json_array_size(ips) : 1, sizeof(*addrs));
	if (!addrs)
		return cni_err__set(err, CNI_ERR_IO, "out of memory", NULL);
	json_array_foreach(ips, i, ip) {
		const json_t *idx = json_object_get(ip, "interface");

		if (any_index && !(json_is_integer(idx) && json_integer_value(idx) == target))
			continue;
		ip_entry(ip, i, &addrs[cnt], &family, err);
		cnt++;
	}
	if (!cnt) {
		free(addrs);
		addrs = NULL;
	}
	*out = addrs;
	*n = cnt;
	return 0;
}

int cni_result__host_links(const json_t *prev, int *ifindex, int max)
{
	const json_t *ifs = json_object_get(prev, "interfaces"), *iface;
	int n = 0, listed = 0;
	size_t i;

	if (!json_is_array(ifs))
		return -1;
	json_array_foreach(ifs, i, iface) {
		const json_t *name = json_object_get(iface, "name");
		const json_t *sb = json_object_get(iface, "sandbox");
		unsigned int idx;

		if (!json_is_string(name) || (json_is_string(sb) && *json_string_value(sb)))
			continue;
		listed++;
		idx = if_nametoindex(json_string_value(name));
		if (idx && n < max)
			ifindex[n++] = (int)idx;
	}
	return listed ? n : -1;
}

json_t *cni_result__convert(const json_t *prev, const char *version, struct cni_err *err)
{
	bool want_version = cni_version_cmp(version, "1.0.0") < 0;
	json_t *res, *ips, *ip;
	size_t i;

	if (!json_is_object(prev)) {
		cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
			     "prevResult: must be an object");
		return NULL;
	}
	res = json_deep_copy(prev);
	if (!res) {
		cni_err__set(err, CNI_ERR_IO, "out of memory", NULL);
		return NULL;
	}
	json_object_set_new(res, "cniVersion", json_string(version));
	ips = json_object_get(res, "ips");
	if (ips && !json_is_null(ips) && !json_is_array(ips)) {
		cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid prevResult",
			     "prevResult.ips: must be an array");
		goto fail;
	}
	json_array_foreach(ips, i, ip) {
		struct nf_cidr c;
		int family;

		if (ip_entry(ip, i, &c, &family, err))
			goto fail;
		if (want_version)
			json_object_set_new(ip, "version", json_string(family == 4 ? "4" : "6"));
		else
			json_object_del(ip, "version");
	}
	return res;
fail:
	json_decref(res);
	return NULL;
}

int cni_conf__valid_attachments(const struct cni_conf *c, char ***owners, size_t *n,
				struct cni_err *err)
{
	const char *key = "cni.dev/valid-attachments";
	const json_t *list, *a;
	char **arr;
	size_t i;

	*owners = NULL;
	*n = 0;
	list = json_object_get(c->root, key);
	if (!list) {
		key = "cni.dev/attachments";
		list = json_object_get(c->root, key);
	}
	if (!list)
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
				    "GC needs cni.dev/valid-attachments");
	if (json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
				    "%s: must be an array", key);
	arr = calloc(json_array_size(list) + 1, sizeof(*arr));
	if (!arr)
		return cni_err__set(err, CNI_ERR_IO, "out of memory", NULL);
	json_array_foreach(list, i, a) {
		const json_t *cid = json_object_get(a, "containerID");
		const json_t *ifn = json_object_get(a, "ifname");

		if (!json_is_string(cid) || !json_is_string(ifn)) {
			cni_owners__free(arr, i);
			return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
					    "%s[%zu]: needs string containerID and ifname", key, i);
		}
		if (asprintf(&arr[i], "%s/%s", json_string_value(cid), json_string_value(ifn)) <
		    0) {
			cni_owners__free(arr, i);
			return cni_err__set(err, CNI_ERR_IO, "out of memory", NULL);
		}
	}
	*owners = arr;
	*n = json_array_size(list);
	return 0;
}

void cni_owners__free(char **owners, size_t n)
{
	size_t i;

	if (!owners)
		return;
	for (i = 0; i < n; i++)
		free(owners[i]);
	free(owners);
}

bool cni_gc__is_listed(const char *owner, char *const *owners, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(owners[i], owner))
			return true;
	}
	return false;
}

bool cni_network_name_valid(const char *name)
{
	const char *p;

	if (!name || !isalnum((unsigned char)name[0]) || strlen(name) > 128)
		return false;
	for (p = name; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	}
	return true;
}

int cni_marker_path(char *buf, size_t len, const char *dir, const char *network, const char *owner)
{
	const char *slash = strchr(owner, '/');
	int n;

	if (!cni_network_name_valid(network) || !slash || slash == owner || !slash[1] ||
	    memchr(owner, '@', (size_t)(slash - owner)))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s/%.*s@%s", dir, network, (int)(slash - owner), owner,
		     slash + 1);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cni_marker_owner(char *buf, size_t len, const char *fname)
{
	const char *at = strchr(fname, '@');
	int n;

	if (!at || at == fname || !at[1] || fname[0] == '.')
		return -EINVAL;
	n = snprintf(buf, len, "%.*s/%s", (int)(at - fname), fname, at + 1);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}
