#include <stdio.h>
#include "ussdgw/log.h"
int main(void)
{
	LOGP(DMAIN, LOG_INFO, "ussdgw %s", GW_VERSION);
	return 0;
}
