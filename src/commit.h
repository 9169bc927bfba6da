/*-------------------------------------------------------------------------
 *
 * commit.h
 *	  Pushing a transaction's changes to Valkey after its commit record.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_COMMIT_H
#define WTC_COMMIT_H

extern void wtc_commit_init(void);
extern bool wtc_async_push;
extern bool wtc_register_at_commit;
extern int	wtc_log_interval_ms;
extern int	wtc_test_push_delay_ms;

#endif							/* WTC_COMMIT_H */
