/*-------------------------------------------------------------------------
 *
 * encode.h
 *	  Rows to cache keys and JSON values; RESP commands.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WTC_ENCODE_H
#define WTC_ENCODE_H

#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "pgtime.h"

#include "config.h"

/* Session settings that change how values print, saved while we render */
typedef struct WtcSavedSettings
{
	int			extra_float_digits;
	int			interval_style;
	int			date_style;
	int			date_order;
	int			bytea_output;
	pg_tz	   *timezone;
} WtcSavedSettings;

extern void wtc_fixed_settings_enter(WtcSavedSettings *saved);
extern void wtc_fixed_settings_exit(const WtcSavedSettings *saved);

extern bool wtc_render_key(const WtcTableConfig *cfg, TupleTableSlot *slot,
						   StringInfo out);
extern void wtc_render_json(const WtcTableConfig *cfg, TupleTableSlot *slot,
							StringInfo out);

extern void wtc_append_command(StringInfo buf, int argc, const char **argv,
							   const size_t *argvlen);

#endif							/* WTC_ENCODE_H */
