/* The lesson scenario files of plots/scenarios/, embedded at build time (see
 * embed_scenarios.py) so `gradscope demo` needs no source tree. */
#ifndef GS_CLI_SCENARIOS_H
#define GS_CLI_SCENARIOS_H

#include <stddef.h>

/* Number of embedded scenarios, their names ("02-vanishing") and INI texts, in file order. */
extern const size_t cli_n_scenarios;
extern const char *const cli_scenario_names[];
extern const char *const cli_scenario_texts[];

#endif
