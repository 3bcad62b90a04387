/* gradscope: entry point; dispatches to one function per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: gradscope <command> [options]\n\n"
               "See, explain and fix vanishing and exploding gradients.\n\n"
               "Commands:\n"
               "  run       train one setup, record per-layer gradients, write a report\n"
               "  plot      render a report from a trace CSV (ours or another framework's)\n"
               "  diagnose  findings for a trace CSV, as text or JSON\n"
               "  predict   theory: predicted per-layer gradient gain at initialization\n"
               "  sweep     a grid of setups, one figure on a shared colour scale\n"
               "  demo      the teaching gallery: each pathology caused and cured\n\n"
               "`gradscope <command> --help` lists a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return GS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("gradscope %s\n", GS_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cli_run},         {"plot", cli_plot},   {"diagnose", cli_diagnose},
                {"predict", cli_predict}, {"sweep", cli_sweep}, {"demo", cli_demo}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gradscope: unknown command '%s'\n", cmd);
    usage(stderr);
    return GS_EXIT_USAGE;
}
