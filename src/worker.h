/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The launcher and the per-database workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_WORKER_H
#define WTC_WORKER_H

#include "postgres.h"

extern int	wtc_launcher_naptime_s;

extern void wtc_worker_init(void);
extern PGDLLEXPORT void wtc_launcher_main(Datum arg);
extern PGDLLEXPORT void wtc_worker_main(Datum arg);

#endif							/* WTC_WORKER_H */
