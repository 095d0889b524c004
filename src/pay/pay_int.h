/* pay/ internals shared by the files of the area (not a public API). */
#ifndef USSDGW_PAY_INT_H
#define USSDGW_PAY_INT_H

#include "ussdgw/pay.h"

/** Every provider client starts with this. */
struct pay_provider {
	const struct pay_provider_ops *ops;
	char name[40];
};

#endif
