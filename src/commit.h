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

#endif							/* WTC_COMMIT_H */
