/* `gradscope sweep` and `gradscope demo`: placeholders until the sweep issue lands. */
#include "cli/cli.h"

int cli_sweep(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("sweep", "not available in this build yet");
}

int cli_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("demo", "not available in this build yet");
}
