/* gradscope: entry point; dispatches to one function per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/text.h"

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
               "`gradscope <command> --help` (or `gradscope help <command>`) lists a command's "
               "options.\n");
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} cmds[] = {{"run", cli_run},         {"plot", cli_plot},   {"diagnose", cli_diagnose},
            {"predict", cli_predict}, {"sweep", cli_sweep}, {"demo", cli_demo}};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

static int find_cmd(const char *name)
{
    for (size_t i = 0; i < N_CMDS; i++)
        if (!strcmp(name, cmds[i].name))
            return (int)i;
    return -1;
}

static int unknown_cmd(const char *cmd)
{
    const char *names[N_CMDS + 1];
    for (size_t i = 0; i < N_CMDS; i++)
        names[i] = cmds[i].name;
    names[N_CMDS] = "help";
    char quoted[512];
    gs_text_escape(cmd, quoted, sizeof quoted, 0);
    const char *near = gs_text_suggest(cmd, names, N_CMDS + 1);
    if (near)
        fprintf(stderr, "gradscope: unknown command '%s'; did you mean '%s'?\n", quoted, near);
    else
        fprintf(stderr,
                "gradscope: unknown command '%s' (commands: run, plot, diagnose, predict, "
                "sweep, demo; see gradscope --help)\n",
                quoted);
    return GS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    cli_signals_init();
    if (argc < 2) {
        usage(stderr);
        return GS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") && argc >= 3) {
        /* `gradscope help CMD` is `gradscope CMD --help` */
        int i = find_cmd(argv[2]);
        if (i < 0)
            return unknown_cmd(argv[2]);
        if (argc > 3) {
            fprintf(stderr, "gradscope help: takes one command name\n");
            return GS_EXIT_USAGE;
        }
        char *args[] = {argv[2], "--help", NULL};
        return cmds[i].fn(2, args);
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("gradscope %s\n", GS_VERSION);
        return 0;
    }
    int i = find_cmd(cmd);
    if (i >= 0)
        return cmds[i].fn(argc - 1, argv + 1);
    return unknown_cmd(cmd);
}
