/*-------------------------------------------------------------------------
 *
 * attach.h
 *	  What attach.c shares with the other SQL-callable functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_ATTACH_H
#define WTC_ATTACH_H

#include "fmgr.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

extern Relation wtc_open_owned_table(FunctionCallInfo fcinfo,
									 LOCKMODE lockmode);

#endif							/* WTC_ATTACH_H */
