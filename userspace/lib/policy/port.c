// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Ports (a NetworkPolicyPort: ports[i]): protocol, port and endPort,
 * validated as the API server does (ValidateNetworkPolicyPort) and turned
 * into an nf_port_range. A string port is a named port (IsValidPortName:
 * "80" in quotes is not a number but an invalid name, as for the API
 * server), resolved per destination pod by the compiler (SPEC §11).
 */
#include <netinet/in.h>
#include <string.h>
#include "policy_internal.h"

static const char *const port_fields[] = { "protocol", "port", "endPort", NULL };

static void range_problem(struct pctx *c, json_int_t v)
{
	nfp_problem(c, "%" JSON_INTEGER_FORMAT " must be between 1 and 65535, inclusive", v);
}

void nfp_parse_port(struct pctx *c, json_t *obj, struct nf_port_range *pr)
{
	const char *proto;
	json_t *port, *end;
	bool numeric = false, named = false;
	char q[QBUF_LEN];
	json_int_t pv = 0;
	size_t old;

	if (!nfp_expect_type(c, obj, JSON_OBJECT))
		return;
	nfp_check_fields(c, obj, port_fields);
	pr->proto = IPPROTO_TCP;
	proto = nfp_string_field(c, obj, "protocol", false);
	if (proto) {
		if (!strcmp(proto, "TCP")) {
			pr->proto = IPPROTO_TCP;
		} else if (!strcmp(proto, "UDP")) {
			pr->proto = IPPROTO_UDP;
		} else if (!strcmp(proto, "SCTP")) {
			pr->proto = IPPROTO_SCTP;
		} else {
			old = nfp_path_key(c, "protocol");
			nfp_problem(c, "%s is not supported (must be TCP, UDP or SCTP)",
				    nfp_quote(proto, q, sizeof(q)));
			nfp_path_pop(c, old);
		}
	}
	pr->lo = 0;
	pr->hi = 65535;
	port = nfp_field(obj, "port");
	if (port) {
		old = nfp_path_key(c, "port");
		if (json_is_integer(port)) {
			pv = json_integer_value(port);
			if (pv < 1 || pv > 65535)
				range_problem(c, pv);
			else
				numeric = true;
		} else if (json_is_string(port)) {
			const char *s = json_string_value(port);
			size_t k = strspn(s, "0123456789");

			named = true;
			if (nf_is_port_name(s))
				strcpy(pr->name, s);
			else if (*s && !s[k])
				nfp_problem(c, "%s " NFP_PORT_NAME_MSG "; for a port number "
					    "write it without quotes", nfp_quote(s, q, sizeof(q)));
			else
				nfp_problem(c, "%s " NFP_PORT_NAME_MSG, nfp_quote(s, q, sizeof(q)));
		} else {
			nfp_problem(c, "must be an integer or a string, got %s",
				    nfp_type_name(port));
		}
		nfp_path_pop(c, old);
	}
	if (numeric) {
		pr->lo = (uint16_t)pv;
		pr->hi = (uint16_t)pv;
	} else if (named) {
		pr->lo = 0;
		pr->hi = 0;
	}
	end = nfp_field(obj, "endPort");
	if (!end)
		return;
	old = nfp_path_key(c, "endPort");
	if (!nfp_expect_type(c, end, JSON_INTEGER)) {
		/* reported */
	} else if (!port) {
		nfp_problem(c, "may not be specified when port is not specified");
	} else if (named) {
		nfp_problem(c, "may not be specified when port is a named port");
	} else if (json_integer_value(end) < 1 || json_integer_value(end) > 65535) {
		range_problem(c, json_integer_value(end));
	} else if (numeric && json_integer_value(end) < pv) {
		nfp_problem(c, "%" JSON_INTEGER_FORMAT " must be greater than or equal to port %"
			    JSON_INTEGER_FORMAT, json_integer_value(end), pv);
	} else if (numeric) {
		pr->hi = (uint16_t)json_integer_value(end);
	}
	nfp_path_pop(c, old);
}
