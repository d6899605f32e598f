// SPDX-License-Identifier: GPL-2.0
/*
 * keel_netlink.c - the generic-netlink family "keel".
 *
 * Every operation requires CAP_SYS_ADMIN (GENL_ADMIN_PERM) and is validated
 * strictly against keel_nl_policy: unknown attributes, wrong types and
 * trailing garbage are rejected by the netlink core before a handler runs.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/utsname.h>
#include <net/genetlink.h>

#include "keel.h"

static const struct nla_policy keel_nl_policy[KEEL_ATTR_MAX + 1] = {
	[KEEL_ATTR_VERSION]		= { .type = NLA_REJECT },
	[KEEL_ATTR_API_VERSION]		= { .type = NLA_REJECT },
	[KEEL_ATTR_FEATURES]		= { .type = NLA_REJECT },
	[KEEL_ATTR_KERNEL_RELEASE]	= { .type = NLA_REJECT },
};

static struct genl_family keel_genl_family;

static int keel_nl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *reply;
	void *hdr;

	reply = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!reply)
		return -ENOMEM;

	hdr = genlmsg_put_reply(reply, info, &keel_genl_family, 0,
				KEEL_CMD_GET_INFO);
	if (!hdr)
		goto err_free_reply;

	if (nla_put_string(reply, KEEL_ATTR_VERSION, KEEL_VERSION) ||
	    nla_put_u32(reply, KEEL_ATTR_API_VERSION, KEEL_GENL_VERSION) ||
	    nla_put_u64_64bit(reply, KEEL_ATTR_FEATURES,
			      KEEL_FEATURES_SUPPORTED, KEEL_ATTR_PAD) ||
	    nla_put_string(reply, KEEL_ATTR_KERNEL_RELEASE,
			   init_utsname()->release))
		goto err_free_reply;

	genlmsg_end(reply, hdr);
	return genlmsg_reply(reply, info);

err_free_reply:
	nlmsg_free(reply);
	return -EMSGSIZE;
}

static const struct genl_small_ops keel_nl_ops[] = {
	{
		.cmd	= KEEL_CMD_GET_INFO,
		.doit	= keel_nl_get_info,
		.flags	= GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group keel_nl_mcgrps[] = {
	{ .name = KEEL_MCGRP_EVENTS },
};

static struct genl_family keel_genl_family __ro_after_init = {
	.name		= KEEL_GENL_NAME,
	.version	= KEEL_GENL_VERSION,
	.maxattr	= KEEL_ATTR_MAX,
	.policy		= keel_nl_policy,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.small_ops	= keel_nl_ops,
	.n_small_ops	= ARRAY_SIZE(keel_nl_ops),
	.resv_start_op	= KEEL_CMD_MAX + 1,
	.mcgrps		= keel_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(keel_nl_mcgrps),
};

int __init keel_netlink_init(void)
{
	return genl_register_family(&keel_genl_family);
}

void keel_netlink_exit(void)
{
	genl_unregister_family(&keel_genl_family);
}
