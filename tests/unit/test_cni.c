// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence-cni's datapath-free half: CNI_ARGS, config, tenant, prevResult in
 * the 0.4.0 and 1.x shapes, result conversion, error and VERSION JSON, GC
 * attachment lists.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cni_conf.h"

/* A result as the bridge plugin prints it in 0.4.0: host bridge, host veth, pod side. */
static const char *bridge_040 =
	"{\"cniVersion\":\"0.4.0\","
	"\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"aa:bb:cc:00:00:01\"},"
	"{\"name\":\"veth1234\",\"mac\":\"aa:bb:cc:00:00:02\"},"
	"{\"name\":\"eth0\",\"mac\":\"aa:bb:cc:00:00:03\",\"sandbox\":\"/var/run/netns/p1\"}],"
	"\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.22.0.5/16\","
	"\"gateway\":\"10.22.0.1\"},"
	"{\"version\":\"6\",\"interface\":2,\"address\":\"fd00:22::5/64\"},"
	"{\"version\":\"4\",\"interface\":0,\"address\":\"10.22.0.1/16\"}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{\"nameservers\":[\"10.96.0.10\"]},"
	"\"x-extra\":{\"kept\":true}}";

/* 1.0.0 macvlan: one interface, in the sandbox, and no ips[].version. */
static const char *macvlan_100 =
	"{\"cniVersion\":\"1.0.0\","
	"\"interfaces\":[{\"name\":\"net1\",\"mac\":\"aa:bb:cc:00:00:09\","
	"\"sandbox\":\"/var/run/netns/p2\"}],"
	"\"ips\":[{\"interface\":0,\"address\":\"192.168.50.7/24\",\"gateway\":\"192.168.50.1\"}],"
	"\"dns\":{}}";

static json_t *load(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	assert_non_null(j);
	return j;
}

static void assert_v4(const struct nf_cidr *c, uint8_t a, uint8_t b, uint8_t cc, uint8_t d)
{
	const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, cc, d };

	assert_true(c->is_v4);
	assert_int_equal(c->plen, 128);
	assert_memory_equal(c->addr, want, 16);
}

static void test_args(void **state)
{
	char buf[64];

	assert_int_equal(cni_args__get("IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p",
				       "K8S_POD_NAMESPACE", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "team-a");
	/* malformed pairs are skipped, not fatal */
	assert_int_equal(cni_args__get(";;=x;noequals;K8S_POD_NAMESPACE=b;", "K8S_POD_NAMESPACE",
				       buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "b");
	/* first occurrence wins; a key that is a prefix of another does not match it */
	assert_int_equal(
		cni_args__get("K8S_POD_NAMESPACEX=no;K8S_POD_NAMESPACE=c;K8S_POD_NAMESPACE=d",
			      "K8S_POD_NAMESPACE", buf, sizeof(buf)),
		0);
	assert_string_equal(buf, "c");
	assert_int_equal(cni_args__get("K=v=w", "K", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v=w");
	assert_int_equal(cni_args__get("K8S_POD_NAME=x", "K8S_POD_NAMESPACE", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(cni_args__get(NULL, "K", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(cni_args__get("", "K", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(cni_args__get("K=0123456789", "K", buf, 8), -ENAMETOOLONG);
	assert_int_equal(cni_args__get("K=", "K", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void test_versions(void **state)
{
	assert_true(cni_version_supported("0.4.0"));
	assert_true(cni_version_supported("1.0.0"));
	assert_true(cni_version_supported("1.1.0"));
	assert_false(cni_version_supported("0.3.1"));
	assert_false(cni_version_supported("1.2.0"));
	assert_false(cni_version_supported(NULL));
	assert_true(cni_version_cmp("0.4.0", "1.0.0") < 0);
	assert_true(cni_version_cmp("1.1.0", "1.0.0") > 0);
	assert_true(cni_version_cmp("1.10.0", "1.9.0") > 0);
	assert_int_equal(cni_version_cmp("1.1.0", "1.1.0"), 0);
	assert_true(cni_version_cmp("junk", "0.1.0") < 0);
}

static void test_version_json(void **state)
{
	char *s = cni_version_json("1.0.0");
	json_t *j = load(s), *sv;

	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.0.0");
	sv = json_object_get(j, "supportedVersions");
	assert_int_equal(json_array_size(sv), 3);
	assert_string_equal(json_string_value(json_array_get(sv, 0)), "0.4.0");
	assert_string_equal(json_string_value(json_array_get(sv, 2)), "1.1.0");
	json_decref(j);
	free(s);
	s = cni_version_json(NULL);
	j = load(s);
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	json_decref(j);
	free(s);
}

static int parse(struct cni_conf *c, const char *text, struct cni_err *err)
{
	memset(err, 0, sizeof(*err));
	return cni_conf__parse(c, text, strlen(text), err);
}

static void test_conf(void **state)
{
	struct cni_conf c;
	struct cni_err err;

	assert_int_equal(
		parse(&c,
		      "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"netfence-cni\","
		      "\"capabilities\":{\"portMappings\":true},\"runtimeConfig\":{\"x\":1},"
		      "\"whatever\":[1,2],\"tenant\":\"team-a\",\"prevResult\":null}",
		      &err),
		0);
	assert_string_equal(c.version, "1.0.0");
	assert_string_equal(c.name, "n");
	assert_string_equal(c.tenant, "team-a");
	assert_null(c.prev_result);
	cni_conf__free(&c);

	assert_int_not_equal(parse(&c, "{\"cniVersion\":\"0.3.1\",\"name\":\"n\"}", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INCOMPATIBLE_VERSION);
	assert_string_equal(c.version, "0.3.1");
	cni_conf__free(&c);
	assert_int_not_equal(parse(&c, "{\"name\":\"n\"}", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INCOMPATIBLE_VERSION);
	cni_conf__free(&c);
	assert_int_not_equal(parse(&c, "{\"cniVersion\":1}", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	cni_conf__free(&c);

	assert_int_not_equal(parse(&c, "{\"cniVersion\":", &err), 0);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	cni_conf__free(&c);
	assert_int_not_equal(parse(&c, "", &err), 0);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	cni_conf__free(&c);
	assert_int_not_equal(parse(&c, "[1]", &err), 0);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	cni_conf__free(&c);

	assert_int_not_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"prevResult\":[]}", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	cni_conf__free(&c);
	assert_int_not_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"tenant\":7}", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	cni_conf__free(&c);
	assert_int_not_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"tenant\":\"Team_A\"}", &err),
			     0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	assert_non_null(strstr(err.details, "DNS-1123"));
	cni_conf__free(&c);
}

static void test_tenant(void **state)
{
	struct cni_conf c;
	struct cni_err err;
	char t[NF_TENANT_NAME_LEN];

	/* config alone (podman): its "tenant" */
	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"tenant\":\"cfg\"}", &err), 0);
	assert_int_equal(cni_tenant__resolve(&c, "K8S_POD_NAME=x", t, sizeof(t), &err), 0);
	assert_string_equal(t, "cfg");
	assert_int_equal(cni_tenant__resolve(&c, NULL, t, sizeof(t), &err), 0);
	assert_string_equal(t, "cfg");
	/* an empty K8S_POD_NAMESPACE is "not set" */
	assert_int_equal(cni_tenant__resolve(&c, "K8S_POD_NAMESPACE=", t, sizeof(t), &err), 0);
	assert_string_equal(t, "cfg");
	/* both, the same: fine */
	assert_int_equal(cni_tenant__resolve(&c, "K8S_POD_NAMESPACE=cfg", t, sizeof(t), &err), 0);
	assert_string_equal(t, "cfg");
	/* both, different: the config cannot move the pod; code 7 naming both */
	memset(t, 0, sizeof(t));
	assert_int_not_equal(cni_tenant__resolve(&c, "K8S_POD_NAMESPACE=ns", t, sizeof(t), &err),
			     0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	assert_string_equal(err.msg, "invalid network config");
	assert_non_null(strstr(err.details, "\"cfg\""));
	assert_non_null(strstr(err.details, "\"ns\""));
	assert_non_null(strstr(err.details, "K8S_POD_NAMESPACE"));
	assert_string_equal(t, "");
	/* an invalid namespace is an environment error even with a config tenant */
	assert_int_not_equal(
		cni_tenant__resolve(&c, "K8S_POD_NAMESPACE=Bad_NS", t, sizeof(t), &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_ENV);
	cni_conf__free(&c);

	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\"}", &err), 0);
	assert_int_equal(cni_tenant__resolve(&c, "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns", t,
					     sizeof(t), &err),
			 0);
	assert_string_equal(t, "ns"); /* env alone: the pod's namespace */
	assert_int_not_equal(cni_tenant__resolve(&c, "K8S_POD_NAME=x", t, sizeof(t), &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	assert_non_null(strstr(err.details, "\"tenant\""));
	assert_non_null(strstr(err.details, "K8S_POD_NAMESPACE"));
	assert_int_not_equal(cni_tenant__resolve(&c, NULL, t, sizeof(t), &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	assert_int_not_equal(
		cni_tenant__resolve(&c, "K8S_POD_NAMESPACE=Bad_NS", t, sizeof(t), &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_ENV);
	cni_conf__free(&c);
}

static void test_env_rules(void **state)
{
	struct cni_err err;
	char owner[CNI_OWNER_LEN], longid[200];

	assert_int_equal(cni_check_containerid("abc123_x.y-z", &err), 0);
	assert_int_not_equal(cni_check_containerid("", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_ENV);
	assert_int_not_equal(cni_check_containerid("a/b", &err), 0);
	assert_int_not_equal(cni_check_containerid("-ab", &err), 0);
	assert_int_equal(cni_check_ifname("eth0", &err), 0);
	assert_int_not_equal(cni_check_ifname("0123456789abcdef", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_ENV);
	assert_int_not_equal(cni_check_ifname("a/b", &err), 0);
	assert_int_not_equal(cni_check_ifname("..", &err), 0);
	assert_int_not_equal(cni_check_ifname(NULL, &err), 0);

	assert_int_equal(cni_owner(owner, sizeof(owner), "cid1", "eth0", &err), 0);
	assert_string_equal(owner, "cid1/eth0");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_not_equal(cni_owner(owner, sizeof(owner), longid, "eth0", &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_ENV);
}

static void test_addrs_040_bridge(void **state)
{
	json_t *prev = load(bridge_040);
	struct nf_cidr *a;
	struct cni_err err;
	size_t n;
	const uint8_t v6[16] = { 0xfd, 0, 0, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 };

	/* only the pod-side interface's addresses, not the bridge's */
	assert_int_equal(cni_result__addrs(prev, "eth0", &a, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_v4(&a[0], 10, 22, 0, 5);
	assert_false(a[1].is_v4);
	assert_int_equal(a[1].plen, 128);
	assert_memory_equal(a[1].addr, v6, 16);
	free(a);
	/* CNI_IFNAME not in the result: no addresses (the datapath then reads the interface's) */
	assert_int_equal(cni_result__addrs(prev, "eth9", &a, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(a);
	/* "cni0" is in the result but not in a sandbox */
	assert_int_equal(cni_result__addrs(prev, "cni0", &a, &n, &err), 0);
	assert_int_equal(n, 0);
	json_decref(prev);
}

static void test_addrs_100_macvlan(void **state)
{
	json_t *prev = load(macvlan_100);
	struct nf_cidr *a;
	struct cni_err err;
	size_t n;

	assert_int_equal(cni_result__addrs(prev, "net1", &a, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_v4(&a[0], 192, 168, 50, 7);
	free(a);
	json_decref(prev);
}

static void test_addrs_no_index(void **state)
{
	json_t *prev = load("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.2.3/32\"},"
			    "{\"address\":\"2001:db8::1/128\"}]}");
	struct nf_cidr *a;
	struct cni_err err;
	size_t n;

	assert_int_equal(cni_result__addrs(prev, "eth0", &a, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_v4(&a[0], 10, 1, 2, 3);
	assert_false(a[1].is_v4);
	free(a);
	json_decref(prev);

	/* two interfaces named eth0: the one in the sandbox counts */
	prev = load("{\"interfaces\":[{\"name\":\"eth0\"},{\"name\":\"eth0\",\"sandbox\":\"/x\"}],"
		    "\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":0},"
		    "{\"address\":\"10.0.0.2/24\",\"interface\":1}]}");
	assert_int_equal(cni_result__addrs(prev, "eth0", &a, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_v4(&a[0], 10, 0, 0, 2);
	free(a);
	json_decref(prev);

	/* no ips at all */
	prev = load("{\"cniVersion\":\"1.0.0\"}");
	assert_int_equal(cni_result__addrs(prev, "eth0", &a, &n, &err), 0);
	assert_int_equal(n, 0);
	json_decref(prev);
}

static void test_addrs_bad(void **state)
{
	static const char *bad[] = {
		"{\"ips\":{}}",
		"{\"ips\":[{\"address\":\"10.0.0.300/24\"}]}",
		"{\"ips\":[{\"address\":\"10.0.0.3/33\"}]}",
		"{\"ips\":[{\"address\":\"fd00::1/129\"}]}",
		"{\"ips\":[{\"address\":\"10.0.0.3/\"}]}",
		"{\"ips\":[{\"gateway\":\"10.0.0.1\"}]}",
		"{\"ips\":[{\"address\":\"10.0.0.3/24\",\"version\":\"6\"}]}",
		"{\"ips\":[{\"address\":\"10.0.0.3/24\",\"interface\":\"0\"}]}",
		"{\"ips\":[7]}",
		"{\"interfaces\":7}",
	};
	struct nf_cidr *a;
	struct cni_err err;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *prev = load(bad[i]);

		memset(&err, 0, sizeof(err));
		assert_int_not_equal(cni_result__addrs(prev, "eth0", &a, &n, &err), 0);
		assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
		json_decref(prev);
	}
}

static void test_convert(void **state)
{
	json_t *prev040 = load(bridge_040), *prev100 = load(macvlan_100), *out, *back, *ip;
	struct cni_err err;
	size_t i;

	/* 0.4.0 -> 1.0.0: ips[].version dropped, the rest kept */
	out = cni_result__convert(prev040, "1.0.0", &err);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "cniVersion")), "1.0.0");
	json_array_foreach(json_object_get(out, "ips"), i, ip)
		assert_null(json_object_get(ip, "version"));
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(out, "ips"), 0), "interface")),
			 2);
	assert_true(json_equal(json_object_get(out, "dns"), json_object_get(prev040, "dns")));
	assert_true(json_equal(json_object_get(out, "routes"), json_object_get(prev040, "routes")));
	assert_true(json_equal(json_object_get(out, "interfaces"),
			       json_object_get(prev040, "interfaces")));
	assert_non_null(json_object_get(out, "x-extra"));
	/* and back to 0.4.0: identical to the original */
	back = cni_result__convert(out, "0.4.0", &err);
	assert_non_null(back);
	assert_true(json_equal(back, prev040));
	json_decref(back);
	json_decref(out);

	/* 1.0.0 -> 0.4.0: version derived from the address */
	out = cni_result__convert(prev100, "0.4.0", &err);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(out, "cniVersion")), "0.4.0");
	ip = json_array_get(json_object_get(out, "ips"), 0);
	assert_string_equal(json_string_value(json_object_get(ip, "version")), "4");
	json_decref(out);

	/* same version: unchanged except cniVersion */
	out = cni_result__convert(prev100, "1.1.0", &err);
	assert_non_null(out);
	json_object_set_new(out, "cniVersion", json_string("1.0.0"));
	assert_true(json_equal(out, prev100));
	json_decref(out);

	/* v6 entries get "6" */
	json_decref(prev100);
	prev100 = load("{\"ips\":[{\"address\":\"fd00::1/64\"}]}");
	out = cni_result__convert(prev100, "0.4.0", &err);
	assert_non_null(out);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(out, "ips"), 0), "version")),
			    "6");
	json_decref(out);
	json_decref(prev100);

	prev100 = load("{\"ips\":[{\"address\":\"nope\"}]}");
	assert_null(cni_result__convert(prev100, "0.4.0", &err));
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	json_decref(prev100);
	json_decref(prev040);
}

static void test_error_json(void **state)
{
	struct cni_err err = {};
	char *s;
	json_t *j;

	assert_int_equal(cni_err__set(&err, CNI_ERR_INVALID_CONFIG, "no tenant", "set %s", "x"),
			 -EINVAL);
	s = cni_err__json("0.4.0", &err);
	j = load(s);
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "0.4.0");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 7);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "no tenant");
	assert_string_equal(json_string_value(json_object_get(j, "details")), "set x");
	json_decref(j);
	free(s);
	/* no version known (undecodable config): the newest */
	cni_err__set(&err, CNI_ERR_DECODE, "bad \"json\"\n", NULL);
	s = cni_err__json(NULL, &err);
	j = load(s);
	assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.1.0");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 6);
	assert_string_equal(json_string_value(json_object_get(j, "msg")), "bad \"json\"\n");
	json_decref(j);
	free(s);
}

static void test_gc_list(void **state)
{
	struct cni_conf c;
	struct cni_err err;
	char **o;
	size_t n;

	assert_int_equal(parse(&c,
			       "{\"cniVersion\":\"1.1.0\",\"cni.dev/valid-attachments\":"
			       "[{\"containerID\":\"c1\",\"ifname\":\"eth0\"},"
			       "{\"containerID\":\"c2\",\"ifname\":\"eth0\"}]}",
			       &err),
			 0);
	assert_int_equal(cni_conf__valid_attachments(&c, &o, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(o[0], "c1/eth0");
	assert_string_equal(o[1], "c2/eth0");
	assert_true(cni_gc__is_listed("c1/eth0", o, n));
	assert_false(cni_gc__is_listed("c3/eth0", o, n));
	assert_false(cni_gc__is_listed("c1/net1", o, n));
	assert_false(cni_gc__is_listed("c10/eth0", o, n));
	cni_owners__free(o, n);
	cni_conf__free(&c);

	assert_int_equal(parse(&c,
			       "{\"cniVersion\":\"1.1.0\",\"cni.dev/attachments\":"
			       "[{\"containerID\":\"c9\",\"ifname\":\"net1\"}]}",
			       &err),
			 0);
	assert_int_equal(cni_conf__valid_attachments(&c, &o, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(o[0], "c9/net1");
	cni_owners__free(o, n);
	cni_conf__free(&c);

	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"cni.dev/valid-attachments\":null}",
			       &err),
			 0);
	assert_int_equal(cni_conf__valid_attachments(&c, &o, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_false(cni_gc__is_listed("c1/eth0", o, n));
	cni_conf__free(&c);

	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\"}", &err), 0);
	assert_int_not_equal(cni_conf__valid_attachments(&c, &o, &n, &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	cni_conf__free(&c);

	assert_int_equal(parse(&c,
			       "{\"cniVersion\":\"1.1.0\",\"cni.dev/valid-attachments\":"
			       "[{\"containerID\":\"c1\"}]}",
			       &err),
			 0);
	assert_int_not_equal(cni_conf__valid_attachments(&c, &o, &n, &err), 0);
	assert_int_equal(err.code, CNI_ERR_INVALID_CONFIG);
	cni_conf__free(&c);
}

static void test_markers(void **state)
{
	char path[256], owner[CNI_OWNER_LEN];

	assert_true(cni_network_name_valid("netfence-bridge"));
	assert_true(cni_network_name_valid("k8s-pod-network.v1_x"));
	assert_false(cni_network_name_valid(""));
	assert_false(cni_network_name_valid(NULL));
	assert_false(cni_network_name_valid("../etc"));
	assert_false(cni_network_name_valid("a/b"));
	assert_false(cni_network_name_valid(".hidden"));

	assert_int_equal(cni_marker_path(path, sizeof(path), "/run/x", "net", "cid1/eth0"), 0);
	assert_string_equal(path, "/run/x/net/cid1@eth0");
	/* ifnames may hold '@' (container ids may not): the first '@' splits */
	assert_int_equal(cni_marker_path(path, sizeof(path), "/d", "net", "c/a@b"), 0);
	assert_string_equal(path, "/d/net/c@a@b");
	assert_int_equal(cni_marker_owner(owner, sizeof(owner), "c@a@b"), 0);
	assert_string_equal(owner, "c/a@b");
	assert_int_equal(cni_marker_owner(owner, sizeof(owner), "cid1@eth0"), 0);
	assert_string_equal(owner, "cid1/eth0");

	assert_int_equal(cni_marker_path(path, sizeof(path), "/d", "bad/net", "c/eth0"), -EINVAL);
	assert_int_equal(cni_marker_path(path, sizeof(path), "/d", "net", "noslash"), -EINVAL);
	assert_int_equal(cni_marker_path(path, sizeof(path), "/d", "net", "c@x/eth0"), -EINVAL);
	assert_int_equal(cni_marker_path(path, 8, "/d", "net", "c/eth0"), -ENAMETOOLONG);
	assert_int_equal(cni_marker_owner(owner, sizeof(owner), "."), -EINVAL);
	assert_int_equal(cni_marker_owner(owner, sizeof(owner), "noat"), -EINVAL);
	assert_int_equal(cni_marker_owner(owner, sizeof(owner), "@eth0"), -EINVAL);
	assert_int_equal(cni_marker_owner(owner, sizeof(owner), "c@"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_version_json),
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_tenant),
		cmocka_unit_test(test_env_rules),
		cmocka_unit_test(test_addrs_040_bridge),
		cmocka_unit_test(test_addrs_100_macvlan),
		cmocka_unit_test(test_addrs_no_index),
		cmocka_unit_test(test_addrs_bad),
		cmocka_unit_test(test_convert),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_gc_list),
		cmocka_unit_test(test_markers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
