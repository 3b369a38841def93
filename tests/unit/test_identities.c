// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The identity table (userspace/lib/identities.c) in memory: which label
 * sets get which index as pods come, change and go (SPEC §11), in full
 * (idtab__sync_pods) and by the changed pods alone (idtab__move_pods); and
 * the file, written and read back at a temporary path (never the node's).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* The pod count of (tenant, idx); -1: no such identity. */
static int count_of(const struct nf_ident_table *tb, uint32_t idx)
{
	const struct nf_ident_entry *e = idtab__entry(tb, "t", idx);

	return e ? (int)e->n_pods : -1;
}

static void test_move_pods(void **state)
{
	struct nf_ident_table tb = {}, full = {};
	struct nf_pod_obj a = pod("a", l_web, 1), b = pod("b", l_web, 1), c = pod("c", l_db, 1);
	struct nf_pod_obj a2 = pod("a", l_db, 1), b2 = pod("b", l_web_fe, 2);
	struct nf_pod_obj d = pod("d", l_web_fe, 2);
	struct nf_pod_obj *pods[] = { &a, &b, &c }, *fin[] = { &a2, &b2, &c, &d };
	struct nf_pod_obj *from[] = { &a }, *to[] = { &a2 }, *fb[] = { &b }, *tb2[] = { &b2, &d };
	uint32_t web, db, fe;

	(void)state;
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 3), 1);
	web = idtab__index(&tb, &a);
	db = idtab__index(&tb, &c);
	assert_int_equal(count_of(&tb, web), 2);
	assert_int_equal(count_of(&tb, db), 1);
	/* a moves from web to db: both stay, only the counts move */
	tb.dirty = false;
	assert_int_equal(idtab__move_pods(&tb, "t", from, 1, to, 1), 0);
	assert_true(tb.dirty);
	assert_int_equal(count_of(&tb, web), 1);
	assert_int_equal(count_of(&tb, db), 2);
	/* b leaves web (its last pod) for a new set that new pod d joins: web
	 * goes, and the new set does not get web's index in the same change */
	assert_int_equal(idtab__move_pods(&tb, "t", fb, 1, tb2, 2), 1);
	fe = idtab__index(&tb, &d);
	assert_int_equal(count_of(&tb, web), -1);
	assert_true(fe != 0 && fe != web && fe != db);
	assert_int_equal(count_of(&tb, fe), 2);
	assert_int_equal(idtab__index(&tb, &b2), fe);

	/* the same pods in full from the same start: the same table */
	assert_int_equal(idtab__sync_pods(&full, "t", pods, 3), 1);
	assert_int_equal(idtab__sync_pods(&full, "t", fin, 4), 1);
	assert_int_equal(idtab__index(&full, &a2), db);
	assert_int_equal(idtab__index(&full, &d), fe);
	assert_int_equal(idtab__find(&full, "t")->n_ids, idtab__find(&tb, "t")->n_ids);
	assert_int_equal(count_of(&full, db), count_of(&tb, db));
	assert_int_equal(count_of(&full, fe), count_of(&tb, fe));
	idtab__free(&full);

	/* a stored pod whose identity the table lacks: it can't say, changes nothing */
	tb.dirty = false;
	assert_int_equal(idtab__move_pods(&tb, "t", fb, 1, to, 1), -EAGAIN);
	assert_false(tb.dirty);
	assert_int_equal(count_of(&tb, db), 2);
	/* nor for a table without counts (written before them) */
	((struct nf_ident_entry *)idtab__entry(&tb, "t", db))->n_pods = 0;
	assert_int_equal(idtab__move_pods(&tb, "t", to, 1, from, 1), -EAGAIN);
	assert_int_equal(count_of(&tb, fe), 2);
	idtab__free(&tb);
}

static void test_file(void **state)
{
	struct nf_ident_table tb = {}, back = {};
	/* every character the text form must escape */
	struct nf_label odd[] = { { "a b", "x=y;z" }, { "k%", "\n\t\xc3\xa9 " }, { "x/y.z", "" } };
	struct nf_label ns[] = { { "kubernetes.io/metadata.name", "t" }, { "team", "a b" } };
	struct nf_named_port ports[] = { { "ht tp", 6, 80 }, { "m/x", 17, 9100 } };
	struct nf_pod_obj a = pod("a", odd, 3), b = pod("b", l_db, 1), c = pod("c", NULL, 0);
	struct nf_pod_obj *pods[] = { &a, &b, &c, &b };
	struct nf_labels nsl = { ns, 2 };
	char path[] = "/tmp/nf-idtab-XXXXXX";
	const struct nf_ident_entry *e;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	c.ports = ports;
	c.n_ports = 2;
	assert_int_equal(idtab__sync_pods(&tb, "t", pods, 4), 1);
	assert_int_equal(idtab__set_ns(&tb, "t", &nsl), 1);
	assert_int_equal(idtab__save_file(&tb, path), 0);
	assert_false(tb.dirty);
	assert_int_equal(idtab__load_file(&back, path), 0);
	assert_false(back.dirty);
	assert_int_equal(idtab__find(&back, "t")->n_ids, 3);
	assert_string_equal(nf_labels_get(&idtab__find(&back, "t")->ns, "team"), "a b");
	assert_int_equal(idtab__index(&back, &a), idtab__index(&tb, &a));
	assert_int_equal(idtab__index(&back, &b), idtab__index(&tb, &b));
	assert_int_equal(idtab__index(&back, &c), idtab__index(&tb, &c));
	e = idtab__entry(&back, "t", idtab__index(&tb, &a));
	assert_non_null(e);
	assert_string_equal(nf_labels_get(&e->labels, "k%"), "\n\t\xc3\xa9 ");
	assert_string_equal(nf_labels_get(&e->labels, "x/y.z"), "");
	e = idtab__entry(&back, "t", idtab__index(&tb, &c));
	assert_int_equal(e->n_ports, 2);
	assert_string_equal(e->ports[1].name, "m/x");
	assert_int_equal(e->ports[1].port, 9100);
	assert_int_equal(count_of(&back, idtab__index(&tb, &b)), 2);
	idtab__free(&back);

	/* the JSON of earlier versions: read, without counts, to be written again */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"t\": {\"ids\": [{\"idx\": 4, \"labels\": {\"app\": \"db\"}, \"ports\": []}]}}", f);
	fclose(f);
	assert_int_equal(idtab__load_file(&back, path), 0);
	assert_true(back.dirty);
	assert_int_equal(idtab__index(&back, &b), 4);
	assert_int_equal(count_of(&back, 4), 0);
	idtab__free(&back);

	/* damaged: said, nothing loaded */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("netfence-identities 1\nt t\ni 0 1 app=db ;\n", f);
	fclose(f);
	assert_int_equal(idtab__load_file(&back, path), -EUCLEAN);
	assert_int_equal(back.n, 0);
	unlink(path);
	idtab__free(&tb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indexes),
		cmocka_unit_test(test_named_ports),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_move_pods),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
