// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The identity table (userspace/lib/identities.c) in memory: which label
 * sets get which index as pods come, change and go (SPEC §11). No file is
 * read or written (idtab__load/save are not called).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "identities.h"

static struct nf_label l_web[] = { { "app", "web" } };
static struct nf_label l_db[] = { { "app", "db" } };
static struct nf_label l_web_fe[] = { { "app", "web" }, { "tier", "fe" } };

static struct nf_pod_obj pod(const char *name, struct nf_label *l, size_t n)
{
	return (struct nf_pod_obj){ .tenant = "t", .name = (char *)name,
				    .labels = { .v = l, .n = n } };
}

static void test_indexes(void **state)
{
	struct nf_ident_table tb = {};
	struct nf_pod_obj a = pod("a", l_web, 1), b = pod("b", l_web, 1), c = pod("c", l_db, 1);
	struct nf_pod_obj none = pod("n", NULL, 0);
	struct nf_pod_obj *pods[] = { &a, &b, &c, &none };
	uint32_t web, db;

	(void)state;
	/* two label sets: two identities; a pod without labels is index 0 */
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 4), 1);
	web = idtab__index(&tb, &a);
	db = idtab__index(&tb, &c);
	assert_true(web >= 1 && db >= 1 && web != db);
	assert_int_equal(idtab__index(&tb, &b), web);
	assert_int_equal(idtab__index(&tb, &none), 0);
	assert_int_equal(idtab__find(&tb, "t")->n_ids, 2);
	/* the same pods again: nothing changes */
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 4), 0);

	/* c relabelled to a new set: db goes, web keeps its index, and the new
	 * set does not get db's index in the same change */
	c.labels = (struct nf_labels){ l_web_fe, 2 };
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 4), 1);
	assert_int_equal(idtab__index(&tb, &a), web);
	assert_int_not_equal(idtab__index(&tb, &c), db);
	assert_int_not_equal(idtab__index(&tb, &c), 0);
	assert_null(idtab__entry(&tb, "t", db));

	/* every pod gone: the tenant's entry goes too */
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 0), 1);
	assert_null(idtab__find(&tb, "t"));
	idtab__free(&tb);
}

static void test_named_ports(void **state)
{
	struct nf_ident_table tb = {};
	struct nf_named_port p80 = { "http", 6, 80 }, p81 = { "http", 6, 81 };
	struct nf_pod_obj a = pod("a", l_web, 1), b = pod("b", l_web, 1);
	struct nf_pod_obj *pods[] = { &a, &b };

	(void)state;
	/* the same labels with another number for a named port: another identity */
	a.ports = &p80;
	a.n_ports = 1;
	b.ports = &p81;
	b.n_ports = 1;
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 2), 1);
	assert_int_not_equal(idtab__index(&tb, &a), idtab__index(&tb, &b));
	assert_int_equal(idtab__entry(&tb, "t", idtab__index(&tb, &b))->ports[0].port, 81);
	idtab__free(&tb);
}

static void test_namespaces(void **state)
{
	struct nf_ident_table tb = {};
	struct nf_label l1[] = { { "kubernetes.io/metadata.name", "t" }, { "team", "a" } };
	struct nf_label l2[] = { { "kubernetes.io/metadata.name", "t" }, { "team", "b" } };
	struct nf_labels a = { l1, 2 }, b = { l2, 2 };

	(void)state;
	assert_int_equal(idtab__set_ns(&tb, "t", &a), 1);
	assert_int_equal(idtab__set_ns(&tb, "t", &a), 0);
	assert_string_equal(nf_labels_get(&idtab__find(&tb, "t")->ns, "team"), "a");
	assert_int_equal(idtab__set_ns(&tb, "t", &b), 1);
	assert_string_equal(nf_labels_get(&idtab__find(&tb, "t")->ns, "team"), "b");
	assert_int_equal(idtab__set_ns(&tb, "t", NULL), 1);
	assert_null(idtab__find(&tb, "t"));
	assert_int_equal(idtab__set_ns(&tb, "t", NULL), 0);
	idtab__free(&tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indexes),
		cmocka_unit_test(test_named_ports),
		cmocka_unit_test(test_namespaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
