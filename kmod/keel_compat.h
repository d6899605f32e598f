/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keel_compat.h - the one place where kernel API differences are handled.
 *
 * keel_compat_probes.h is generated at build time by compiling the small
 * programs in compat/probes/ against the target kernel's headers (see
 * kmod/Makefile): each probe that compiles defines KEEL_HAVE_<NAME>.  The
 * rest of the module uses only the helpers below, never version checks.
 */
#ifndef KEEL_COMPAT_H
#define KEEL_COMPAT_H

#include "keel_compat_probes.h"
#include <linux/keel.h>

#endif /* KEEL_COMPAT_H */
