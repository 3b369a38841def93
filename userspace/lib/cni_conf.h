/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The testable half of netfence-cni (SPEC §6): network config and CNI_ARGS
 * parsing, prevResult address extraction in the 0.4.0 and 1.x shapes, result
 * conversion between those shapes, and the CNI error JSON. Nothing here
 * touches the datapath; userspace/cni/netfence-cni.c does.
 *
 * Functions that can fail return 0 or -errno and fill a struct cni_err with
 * the CNI error code and message to print.
 */
#ifndef NETFENCE_CNI_CONF_H
#define NETFENCE_CNI_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <netfence/abi.h>
#include "policy.h"
#include "store.h"

/* Error codes of the CNI spec ("Error" section). */
#define CNI_ERR_INCOMPATIBLE_VERSION 1
#define CNI_ERR_UNSUPPORTED_FIELD    2
#define CNI_ERR_UNKNOWN_CONTAINER    3
#define CNI_ERR_INVALID_ENV	     4
#define CNI_ERR_IO		     5
#define CNI_ERR_DECODE		     6
#define CNI_ERR_INVALID_CONFIG	     7
#define CNI_ERR_TRY_AGAIN	     11
#define CNI_ERR_NOT_READY	     50
/* netfence's own codes (100+ is reserved for plugins). */
#define NF_CNI_ERR_DATAPATH	100 /* the datapath refused or failed */
#define NF_CNI_ERR_NOT_ENFORCED 101 /* CHECK: endpoint or programs missing */

#define CNI_VERSION_DEFAULT	"1.1.0"
#define CNI_OWNER_LEN		128 /* struct nf_iface_ep.owner */
#define CNI_IFNAME_LEN		16 /* IFNAMSIZ */

struct cni_err {
	int code; /* 0: no error */
	char msg[256];
	char details[512];
};

/* Set code, msg and (printf) details; returns -EINVAL for "return cni_err__set(...)". */
int cni_err__set(struct cni_err *e, int code, const char *msg, const char *details_fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The error JSON: {"cniVersion","code","msg","details"}; malloc'd, NULL on ENOMEM. */
char *cni_err__json(const char *version, const struct cni_err *e);

/* Spec versions this plugin speaks: "0.4.0", "1.0.0", "1.1.0". */
extern const char *const cni_supported_versions[];
extern const size_t cni_n_supported_versions;
bool cni_version_supported(const char *v);
/* Compare "a.b.c" versions numerically: <0, 0, >0. Unparsable sorts lowest. */
int cni_version_cmp(const char *a, const char *b);
/* VERSION output for a config version (NULL or empty: CNI_VERSION_DEFAULT). */
char *cni_version_json(const char *conf_version);

struct cni_conf {
	json_t *root; /* the whole config (owned) */
	char version[16]; /* cniVersion */
	char name[256]; /* network name, "" if absent */
	char tenant[NF_TENANT_NAME_LEN]; /* "tenant" key, "" if absent */
	const json_t *prev_result; /* borrowed from root, NULL if absent or null */
	int log_level; /* enum nf_log_level; "logLevel" key, default error */
};

/*
 * Parse the config from stdin. Codes: 6 (not JSON / not an object), 1
 * (cniVersion unsupported; c->version is still filled so the error can be
 * reported in it), 7 (a known key with a wrong type or an invalid tenant).
 * Unknown keys, capabilities and runtimeConfig are ignored.
 */
int cni_conf__parse(struct cni_conf *c, const char *text, size_t len, struct cni_err *err);
void cni_conf__free(struct cni_conf *c);

/*
 * CNI_ARGS "K=V;K=V": value of key into buf. Tolerant: empty and malformed
 * pairs (no '=', empty key) are skipped; the first occurrence wins.
 * 0, -ENOENT (absent or args NULL), -ENAMETOOLONG (value does not fit).
 */
int cni_args__get(const char *args, const char *key, char *buf, size_t len);

/*
 * The tenant (SPEC §6): K8S_POD_NAMESPACE from CNI_ARGS when the runtime
 * sets it, else the config's "tenant". Code 7 when neither is set, or when
 * both are and differ (a network config naming another tenant than the
 * pod's namespace); code 4 when the CNI_ARGS one is not a DNS-1123 label.
 * (An invalid config "tenant" is already code 7 from cni_conf__parse.)
 */
int cni_tenant__resolve(const struct cni_conf *c, const char *cni_args, char *buf, size_t len,
			struct cni_err *err);

/* CNI_CONTAINERID / CNI_IFNAME rules of the spec; code 4 on violation. */
int cni_check_containerid(const char *cid, struct cni_err *err);
int cni_check_ifname(const char *ifname, struct cni_err *err);
/* "<containerid>/<ifname>", the endpoint's owner; code 4 if it does not fit. */
int cni_owner(char *buf, size_t len, const char *cid, const char *ifname, struct cni_err *err);

/*
 * The host addresses of `ifname` in a prevResult (0.4.0 or 1.x shape): the
 * ips whose "interface" index points at the interface of that name having a
 * "sandbox"; when no ip carries an index, all ips. Each is returned as a
 * host address (plen 128 in the v4-mapped space). *out is malloc'd (NULL when
 * *n == 0). Code 7 for a malformed prevResult.
 */
int cni_result__addrs(const json_t *prev, const char *ifname, struct nf_cidr **out, size_t *n,
		      struct cni_err *err);

/*
 * The host-side links of a prevResult: the indexes, in the calling thread's
 * netns, of its "interfaces" that have no "sandbox" (a bridge, the host end
 * of a veth), at most max. Names that are not links here are left out.
 * Returns how many; -1 when prevResult lists no host-side interface at all.
 */
int cni_result__host_links(const json_t *prev, int *ifindex, int max);

/*
 * prevResult converted to `version`: 1.x drops ips[].version, 0.4.0 gets it
 * (from the address family); "cniVersion" set to version; everything else
 * kept. New reference, NULL with code 7 on a malformed prevResult.
 */
json_t *cni_result__convert(const json_t *prev, const char *version, struct cni_err *err);

/*
 * GC: the owners ("cid/ifname") listed in "cni.dev/valid-attachments" (or
 * "cni.dev/attachments"). A null list is empty; an absent one is code 7 (a
 * GC without the list must not remove everything). *owners is an array of
 * malloc'd strings, free with cni_owners__free.
 */
int cni_conf__valid_attachments(const struct cni_conf *c, char ***owners, size_t *n,
				struct cni_err *err);
void cni_owners__free(char **owners, size_t n);
/* Whether an owner ("cid/ifname") is among the valid attachments. */
bool cni_gc__is_listed(const char *owner, char *const *owners, size_t n);

/*
 * Which network an endpoint was added by. A node has several networks (a
 * primary conflist, Multus secondary ones, podman networks), and the runtime
 * calls GC once per network with only that network's attachments: GC must
 * not touch the others' endpoints, since removing an endpoint lifts its
 * fence. ADD leaves a marker file DIR/<network>/<cid>@<ifname> (a container
 * id never holds '@'); DEL and GC remove it; GC walks its network's markers.
 */
#define NF_CNI_STATE_DIR NF_STORE_CNI
/* CNI network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$, at most 128 characters. */
bool cni_network_name_valid(const char *name);
/* DIR/<network>/<cid>@<ifname>; -EINVAL (bad network or owner), -ENAMETOOLONG. */
int cni_marker_path(char *buf, size_t len, const char *dir, const char *network, const char *owner);
/* Marker file name "<cid>@<ifname>" -> owner "cid/ifname"; -EINVAL if not one. */
int cni_marker_owner(char *buf, size_t len, const char *fname);

#endif /* NETFENCE_CNI_CONF_H */
