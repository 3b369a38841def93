// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence-cni: chained CNI plugin (SPEC §6). Makes the interface the
 * previous plugin created an endpoint of the pod's tenant, so it is fenced
 * (default deny) before ADD returns. Needs no daemon: it opens (or loads) the
 * pinned datapath itself.
 *
 * stdout carries only the result or the error JSON; stderr only errors.
 * Config, CNI_ARGS and prevResult handling live in userspace/lib/cni_conf.c
 * so the unit tests can reach them.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "apply.h"
#include "cni_conf.h"
#include "datapath.h"
#include "log.h"
#include "store.h"

#define STDIN_MAX (16u << 20) /* a config larger than this is not a config */

struct cni_env {
	const char *command;
	const char *cid;
	const char *netns;
	const char *ifname;
	const char *args;
};

static const char *getenv_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int read_stdin(char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= STDIN_MAX) {
				free(buf);
				return -EFBIG;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(STDIN_FILENO, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			free(buf);
			return (int)r;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Turn a datapath -errno into a CNI error. */
static int dp_err(struct cni_err *e, int ret, const char *what)
{
	int code = NF_CNI_ERR_DATAPATH;

	if (ret == -EAGAIN || ret == -EBUSY || ret == -EINTR)
		code = CNI_ERR_TRY_AGAIN;
	return cni_err__set(e, code, "netfence datapath error", "%s: %s%s", what, strerror(-ret),
			    ret == -EPERM || ret == -EACCES ? " (netfence-cni needs root)" : "");
}

static int print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);

	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return fflush(stdout) ? -errno : 0;
}

static int need_env(const struct cni_env *env, struct cni_err *err, bool netns)
{
	if (cni_check_containerid(env->cid, err) || cni_check_ifname(env->ifname, err))
		return -EINVAL;
	if (netns && !env->netns)
		return cni_err__set(err, CNI_ERR_INVALID_ENV, "missing CNI_NETNS", NULL);
	return 0;
}

/* Endpoint record of an owner; -ENOENT if none. */
static int find_owner(struct nf_dp *dp, const char *owner, struct nf_ep_record *out)
{
	struct nf_ep_record *recs = NULL;
	size_t n = 0, i;
	int ret;

	ret = dp__list_endpoints(dp, &recs, &n);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (i = 0; i < n; i++) {
		if (!recs[i].is_cgroup && !strcmp(recs[i].owner, owner)) {
			*out = recs[i];
			ret = 0;
			break;
		}
	}
	free(recs);
	return ret;
}

/* Record that `owner` was added by this network (see cni_conf.h). Best effort:
 * without the marker the endpoint is only never garbage-collected. */
static void marker_write(const char *network, const char *owner)
{
	char path[PATH_MAX];
	int ret;

	if (cni_marker_path(path, sizeof(path), NF_CNI_STATE_DIR, network, owner))
		return; /* no usable network name: nothing GC could scope by */
	ret = store__touch(path);
	if (ret)
		pr_warn("cni: cannot record %s for GC: %s: %s", owner, path, strerror(-ret));
}

/* Remove the marker; with the node lock held (tidy), also the directories it
 * leaves empty, so that a node without CNI endpoints keeps no CNI state. */
static void marker_remove(const char *network, const char *owner, bool tidy)
{
	char path[PATH_MAX];

	if (cni_marker_path(path, sizeof(path), NF_CNI_STATE_DIR, network, owner))
		return;
	if (tidy)
		store__remove(path, NF_RUN_DIR);	/* and cni/<network>, cni when empty */
	else
		unlink(path);
}

/* Remove every endpoint record of one owner. */
static int detach_owner(struct nf_dp *dp, const struct nf_ep_record *recs, size_t n,
			const char *owner, struct cni_err *err)
{
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		if (recs[i].is_cgroup || strcmp(recs[i].owner, owner))
			continue;
		ret = dp__detach_endpoint(dp, recs[i].ep_id);
		if (ret)
			return dp_err(err, ret, "removing the endpoint");
	}
	return 0;
}

/*
 * DEL: the owner's endpoint found by the owner index, not by reading every
 * record (with 1,000 endpoints on the node a DEL took 5x as long as on an
 * empty one, holding the node lock that ADDs wait for). Every record has an
 * entry once the index is complete (dp/endpoints.c), so a miss means none,
 * unless this network's marker says the owner was added: then (a record the
 * index cannot name, or one that lost its entry) every record is read.
 */
static int del_owner(struct nf_dp *dp, const char *network, const char *owner,
		     struct cni_err *err)
{
	struct nf_ep_record rec, *recs = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	int ret = dp__find_owner_record(dp, owner, &rec);

	if (!ret) {
		ret = dp__detach_endpoint(dp, rec.ep_id);
		return ret ? dp_err(err, ret, "removing the endpoint") : 0;
	}
	if (ret == -ENOENT && (cni_marker_path(path, sizeof(path), NF_CNI_STATE_DIR, network,
					       owner) || access(path, F_OK)))
		return 0;	/* never added here, or removed already */
	ret = dp__list_endpoints(dp, &recs, &n);
	if (ret)
		dp_err(err, ret, "listing endpoints");
	else
		ret = detach_owner(dp, recs, n, owner, err);
	free(recs);
	return ret;
}

/*
 * SPEC §3.8: the node's addresses are refreshed by every change. An ADD's
 * plugins may just have put one on the host side for this pod (the bridge
 * plugin's gateway on the first pod of a network, ptp's host address): the
 * host-side links of prevResult are read, and only those, so that an ADD
 * costs the same on a node with a thousand pods as on an empty one. What a
 * link lost is found by the next full sync (serve at once, any command).
 * Without host-side interfaces in prevResult: a full sync.
 */
static void sync_host_links(struct nf_dp *dp, const json_t *prev)
{
	int idx[16], n = cni_result__host_links(prev, idx, 16);

	if (n < 0)
		dp__sync_host_addrs(dp);
	else
		dp__sync_host_addrs_of(dp, idx, (size_t)n);
}

static int cni_add(const struct cni_conf *conf, const struct cni_env *env, struct cni_err *err)
{
	char tenant[NF_TENANT_NAME_LEN];
	struct nf_iface_ep ep = {};
	struct nf_cidr *addrs = NULL;
	struct nf_dp *dp = NULL;
	json_t *result = NULL;
	size_t n_addrs = 0;
	int ret, lock = -1, fd;

	if (!conf->prev_result)
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "missing prevResult",
				    "netfence-cni is a chained plugin: place it after the plugin "
				    "that creates the interface");
	ret = cni_tenant__resolve(conf, env->args, tenant, sizeof(tenant), err);
	if (ret)
		return ret;
	ret = need_env(env, err, true);
	if (ret)
		return ret;
	ret = cni_owner(ep.owner, sizeof(ep.owner), env->cid, env->ifname, err);
	if (ret)
		return ret;
	if (strlen(env->netns) >= sizeof(ep.netns))
		return cni_err__set(err, CNI_ERR_INVALID_ENV, "invalid CNI_NETNS", "path too long");
	ret = cni_result__addrs(conf->prev_result, env->ifname, &addrs, &n_addrs, err);
	if (ret)
		return ret;
	result = cni_result__convert(conf->prev_result, conf->version, err);
	if (!result) {
		ret = -EINVAL;
		goto out;
	}
	fd = open(env->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = cni_err__set(err, CNI_ERR_UNKNOWN_CONTAINER, "unknown container",
				   "netns %s: %s", env->netns, strerror(errno));
		goto out;
	}
	close(fd);

	if (dp__check_env()) {
		ret = cni_err__set(err, CNI_ERR_INVALID_ENV, "invalid netfence setting",
				   "a NETFENCE_* environment variable (the plugin's stderr names it)");
		goto out;
	}
	ret = dp__open(&dp, true);
	if (ret) {
		dp_err(err, ret, "opening the datapath");
		goto out;
	}
	lock = dp__lock();
	if (lock < 0) {
		ret = dp_err(err, lock, "taking the node lock");
		goto out;
	}
	ret = apply__tenant_id(dp, tenant, &ep.tenant_id);
	if (ret == -EUSERS) {
		ret = cni_err__set(err, NF_CNI_ERR_DATAPATH, "netfence datapath error",
				   "cannot create tenant %s (at most %d tenants)", tenant,
				   NF_MAX_TENANTS - 1);
		goto out;
	}
	if (ret) {
		dp_err(err, ret, "creating the tenant (recompiling the policies that name it)");
		goto out;
	}
	snprintf(ep.netns, sizeof(ep.netns), "%s", env->netns);
	snprintf(ep.ifname, sizeof(ep.ifname), "%s", env->ifname);
	/* its network (SPEC §12): the config's name, which Multus sets to the
	 * NetworkAttachmentDefinition's */
	snprintf(ep.network, sizeof(ep.network), "%.*s", NF_NETWORK_NAME_MAX,
		 nf_is_network_name(conf->name) ? conf->name : NF_NETWORK_DEFAULT);
	/* its Pod (SPEC §11): K8S_POD_NAME, which kubelet and Multus pass */
	if (cni_args__get(env->args, "K8S_POD_NAME", ep.pod, sizeof(ep.pod)) ||
	    !nf_is_dns1123_subdomain(ep.pod))
		ep.pod[0] = '\0';
	ret = apply__endpoint_context(dp, tenant, ep.network, ep.pod, addrs, n_addrs,
				      &ep.policy_id, &ep.ident);
	if (ret) {
		dp_err(err, ret, "finding the rules of the pod's labels");
		goto out;
	}
	ep.addrs = addrs;
	ep.n_addrs = n_addrs;
	ret = dp__attach_iface(dp, &ep);
	if (ret) {
		dp_err(err, ret,
		       ret == -ENODEV ? "interface not found in CNI_NETNS" :
					"attaching to the interface");
		goto out;
	}
	marker_write(conf->name, ep.owner);
	sync_host_links(dp, conf->prev_result);
	dp__unlock(lock);
	lock = -1;
	ret = print_json(result);
	if (ret)
		cni_err__set(err, CNI_ERR_IO, "writing the result", "%s", strerror(-ret));
out:
	if (lock >= 0)
		dp__unlock(lock);
	dp__close(dp);
	json_decref(result);
	free(addrs);
	return ret;
}

static int cni_del(const struct cni_conf *conf, const struct cni_env *env, struct cni_err *err)
{
	char owner[CNI_OWNER_LEN];
	struct nf_dp *dp = NULL;
	int ret, lock;

	ret = need_env(env, err, false);
	if (ret)
		return ret;
	ret = cni_owner(owner, sizeof(owner), env->cid, env->ifname, err);
	if (ret)
		return ret;
	ret = dp__open(&dp, false);
	if (ret == -ENOENT) {
		marker_remove(conf->name, owner, false);
		return 0; /* nothing loaded: nothing to remove */
	}
	if (ret)
		return dp_err(err, ret, "opening the datapath");
	lock = dp__lock();
	if (lock < 0) {
		ret = dp_err(err, lock, "taking the node lock");
		goto out;
	}
	ret = del_owner(dp, conf->name, owner, err);
	if (!ret) {
		marker_remove(conf->name, owner, true);
		apply__reclaim(dp);	/* its tenant may be left with nothing */
	}
	dp__sync_host_addrs(dp);
	dp__unlock(lock);
out:
	dp__close(dp);
	return ret;
}

static int cni_check(const struct cni_conf *conf, const struct cni_env *env, struct cni_err *err)
{
	char tenant[NF_TENANT_NAME_LEN], owner[CNI_OWNER_LEN];
	struct nf_ep_record rec;
	struct nf_dp *dp = NULL;
	uint32_t tid;
	int ret;

	if (!conf->prev_result)
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "missing prevResult",
				    "CHECK needs the prevResult of the ADD");
	ret = cni_tenant__resolve(conf, env->args, tenant, sizeof(tenant), err);
	if (ret)
		return ret;
	ret = need_env(env, err, true);
	if (ret)
		return ret;
	ret = cni_owner(owner, sizeof(owner), env->cid, env->ifname, err);
	if (ret)
		return ret;
	ret = dp__open(&dp, false);
	if (ret == -ENOENT)
		return cni_err__set(err, NF_CNI_ERR_NOT_ENFORCED, "endpoint not enforced",
				    "the netfence datapath is not loaded");
	if (ret)
		return dp_err(err, ret, "opening the datapath");
	ret = find_owner(dp, owner, &rec);
	if (ret == -ENOENT) {
		cni_err__set(err, NF_CNI_ERR_NOT_ENFORCED, "endpoint not enforced",
			     "no netfence endpoint for %s", owner);
		goto out;
	}
	if (ret) {
		dp_err(err, ret, "listing endpoints");
		goto out;
	}
	tid = dp__tenant_id(dp, tenant, false);
	if (rec.tenant_id != tid) {
		ret = cni_err__set(err, NF_CNI_ERR_NOT_ENFORCED, "endpoint not enforced",
				   "endpoint %s is not in tenant %s", owner, tenant);
		goto out;
	}
	ret = dp__check_iface(dp, env->netns, env->ifname);
	if (ret == -ENOENT)
		cni_err__set(err, NF_CNI_ERR_NOT_ENFORCED, "endpoint not enforced",
			     "netfence tc programs are not attached to %s in %s", env->ifname,
			     env->netns);
	else if (ret)
		dp_err(err, ret, "checking the attachment");
out:
	dp__close(dp);
	return ret;
}

/*
 * GC: remove the endpoints this network added (its markers) whose attachment
 * is not in the valid list. Other networks' endpoints are not ours to judge.
 */
static int cni_gc(const struct cni_conf *conf, struct cni_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 256], owner[CNI_OWNER_LEN];
	struct nf_ep_record *recs = NULL;
	struct nf_dp *dp = NULL;
	char **owners = NULL;
	size_t n_owners = 0, n = 0;
	struct dirent *de;
	DIR *d = NULL;
	int ret, lock = -1;

	if (cni_version_cmp(conf->version, "1.1.0") < 0)
		return cni_err__set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				    "config version does not allow GC",
				    "GC needs cniVersion 1.1.0");
	if (!cni_network_name_valid(conf->name))
		return cni_err__set(err, CNI_ERR_INVALID_CONFIG, "invalid network config",
				    "GC needs a valid network name");
	ret = cni_conf__valid_attachments(conf, &owners, &n_owners, err);
	if (ret)
		return ret;
	snprintf(dir, sizeof(dir), "%s/%s", NF_CNI_STATE_DIR, conf->name);
	ret = dp__open(&dp, false);
	if (ret == -ENOENT) {
		dp = NULL;
	} else if (ret) {
		dp_err(err, ret, "opening the datapath");
		goto out;
	} else {
		lock = dp__lock();
		if (lock < 0) {
			ret = dp_err(err, lock, "taking the node lock");
			goto out;
		}
		ret = dp__list_endpoints(dp, &recs, &n);
		if (ret) {
			dp_err(err, ret, "listing endpoints");
			goto out;
		}
	}
	ret = 0;
	d = opendir(dir);
	if (!d)
		goto out; /* this network never added an endpoint here */
	while ((de = readdir(d))) {
		if (cni_marker_owner(owner, sizeof(owner), de->d_name) ||
		    cni_gc__is_listed(owner, owners, n_owners))
			continue;
		if (dp) {
			ret = detach_owner(dp, recs, n, owner, err);
			if (ret)
				break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (!ret && lock >= 0 && !rmdir(dir))
		rmdir(NF_CNI_STATE_DIR);
out:
	if (d)
		closedir(d);
	if (lock >= 0)
		dp__unlock(lock);
	free(recs);
	dp__close(dp);
	cni_owners__free(owners, n_owners);
	return ret;
}

static int cni_status(const struct cni_conf *conf, struct cni_err *err)
{
	struct nf_dp *dp = NULL;
	int ret;

	if (cni_version_cmp(conf->version, "1.1.0") < 0)
		return cni_err__set(err, CNI_ERR_INCOMPATIBLE_VERSION,
				    "config version does not allow STATUS",
				    "STATUS needs cniVersion 1.1.0");
	ret = dp__open(&dp, true);
	if (ret)
		return cni_err__set(err, CNI_ERR_NOT_READY, "netfence datapath not ready",
				    "cannot load the datapath: %s", strerror(-ret));
	dp__close(dp);
	return 0;
}

static int cni_version(const char *text, size_t len)
{
	json_t *root = json_loadb(text, len, 0, NULL);
	const json_t *v = json_object_get(root, "cniVersion");
	char *s = cni_version_json(json_is_string(v) ? json_string_value(v) : NULL);

	json_decref(root);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

static int report(const char *version, const struct cni_err *err)
{
	char *s = cni_err__json(version, err);

	nf_log(NF_LOG_ERR, "cni: %s%s%s", err->msg, err->details[0] ? ": " : "", err->details);
	if (s) {
		printf("%s\n", s);
		free(s);
	}
	fflush(stdout);
	return 1;
}

int main(int argc, char **argv)
{
	struct cni_conf conf = {};
	struct cni_err err = {};
	struct cni_env env;
	size_t len = 0;
	char *text = NULL;
	int ret;

	nf_log_set_level(NF_LOG_ERR);
	nf_log_setup_libbpf();
	env.command = getenv_nonempty("CNI_COMMAND");
	env.cid = getenv_nonempty("CNI_CONTAINERID");
	env.netns = getenv_nonempty("CNI_NETNS");
	env.ifname = getenv_nonempty("CNI_IFNAME");
	env.args = getenv("CNI_ARGS");

	if (!env.command) {
		if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))) {
			printf("netfence-cni %s\nCNI protocol versions supported: 0.4.0, 1.0.0, "
			       "1.1.0\n",
			       NF_VERSION);
			return 0;
		}
		cni_err__set(&err, CNI_ERR_INVALID_ENV, "missing CNI_COMMAND",
			     "netfence-cni is a CNI plugin: run it from a container runtime");
		return report(NULL, &err);
	}
	ret = read_stdin(&text, &len);
	if (ret) {
		cni_err__set(&err, CNI_ERR_IO, "reading the network config from stdin", "%s",
			     strerror(-ret));
		return report(NULL, &err);
	}
	if (!strcmp(env.command, "VERSION")) {
		ret = cni_version(text, len);
		free(text);
		return ret ? 1 : 0;
	}

	ret = cni_conf__parse(&conf, text, len, &err);
	free(text);
	if (ret)
		goto fail;
	nf_log_set_level(conf.log_level);

	if (!strcmp(env.command, "ADD"))
		ret = cni_add(&conf, &env, &err);
	else if (!strcmp(env.command, "DEL"))
		ret = cni_del(&conf, &env, &err);
	else if (!strcmp(env.command, "CHECK"))
		ret = cni_check(&conf, &env, &err);
	else if (!strcmp(env.command, "GC"))
		ret = cni_gc(&conf, &err);
	else if (!strcmp(env.command, "STATUS"))
		ret = cni_status(&conf, &err);
	else
		ret = cni_err__set(&err, CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND", "\"%.40s\"",
				   env.command);
	if (ret)
		goto fail;
	cni_conf__free(&conf);
	return 0;
fail:
	if (!err.code)
		cni_err__set(&err, NF_CNI_ERR_DATAPATH, "netfence-cni failed", "%s",
			     strerror(ret < 0 ? -ret : EINVAL));
	ret = report(conf.root ? conf.version : NULL, &err);
	cni_conf__free(&conf);
	return ret;
}
